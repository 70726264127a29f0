/**
 * The index every `emoji-datasource-<vendor>` package ships as `emoji.json` (iamcal/emoji-data):
 * one record per base emoji — `unified` (its code sequence, e.g. "1F436"), `image` (the file under
 * `img/<vendor>/64/`), `short_name`, `category`, `has_img_<vendor>` — and, for emoji that take a
 * skin tone, `skin_variations` keyed by tone ("1F3FB", or "1F3FB-1F3FC" for two people), each with
 * its own `unified`, `image` and `has_img_<vendor>`.
 *
 * {@link readEmojiIndex} flattens it into {@link EmojiEntry} rows, base emoji first in the index's
 * order, each variant after its base; a malformed file is one {@link DmlError} line.
 *
 * ```ts
 * const entries = await readEmojiIndex("node_modules/emoji-datasource-google/emoji.json");
 * entries[0]; // { unified: "0023-FE0F-20E3", base: "0023-FE0F-20E3", image: "0023-fe0f-20e3.png", ... }
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { MANIFEST_BYTES, readTextBounded } from "../../core/bounded_read.ts";

/** One drawable emoji: a base emoji or one of its skin-tone variants. */
export interface EmojiEntry {
  /** Its code sequence, the class key. */
  unified: string;
  /** The base emoji's code sequence (itself for a base emoji): variants of one emoji share it. */
  base: string;
  /** The file name under img/<vendor>/64/. */
  image: string;
  /** The base emoji's short name, with the tone for a variant ("santa:1F3FB"). */
  name: string;
  category: string;
  /** The tone key ("1F3FB", "1F3FB-1F3FC") of a variant; "" for a base emoji. */
  tone: string;
  /** `has_img_<vendor>` of the record, for every vendor it names. */
  hasImage: Record<string, boolean>;
}

function fail(file: string, what: string): never {
  throw new DmlError(`data: ${file}: ${what} (the emoji package looks damaged; reinstall it: deno task emoji:install)`);
}

function text(file: string, where: string, record: Record<string, unknown>, key: string): string {
  const v = record[key];
  if (typeof v !== "string" || v.length === 0) fail(file, `${where} has no '${key}'`);
  return v;
}

function imageFlags(record: Record<string, unknown>): Record<string, boolean> {
  const flags: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(record)) if (k.startsWith("has_img_")) flags[k.slice(8)] = v === true;
  return flags;
}

/** Parses the text of an emoji.json (`file` names it in errors). */
export function parseEmojiIndex(json: string, file: string): EmojiEntry[] {
  let records: unknown;
  try {
    records = JSON.parse(json);
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (!Array.isArray(records) || records.length === 0) fail(file, "expected a non-empty array of emoji records");
  const entries: EmojiEntry[] = [];
  const seen = new Set<string>();
  const add = (e: EmojiEntry, where: string) => {
    if (seen.has(e.unified)) fail(file, `${where}: emoji ${e.unified} is listed twice`);
    seen.add(e.unified);
    entries.push(e);
  };
  records.forEach((r, i) => {
    const where = `record ${i}`;
    if (typeof r !== "object" || r === null) fail(file, `${where} is not an object`);
    const record = r as Record<string, unknown>;
    const unified = text(file, where, record, "unified");
    const name = text(file, where, record, "short_name");
    const category = typeof record.category === "string" ? record.category : "";
    add({
      unified,
      base: unified,
      image: text(file, where, record, "image"),
      name,
      category,
      tone: "",
      hasImage: imageFlags(record),
    }, where);
    const variations = record.skin_variations;
    if (variations === undefined || variations === null) return;
    if (typeof variations !== "object") fail(file, `${where}: skin_variations is not an object`);
    for (const [tone, v] of Object.entries(variations as Record<string, unknown>)) {
      const vWhere = `${where} (${unified}) skin tone ${tone}`;
      if (typeof v !== "object" || v === null) fail(file, `${vWhere} is not an object`);
      const variant = v as Record<string, unknown>;
      add({
        unified: text(file, vWhere, variant, "unified"),
        base: unified,
        image: text(file, vWhere, variant, "image"),
        name: `${name}:${tone}`,
        category,
        tone,
        hasImage: imageFlags(variant),
      }, vWhere);
    }
  });
  return entries;
}

/** Reads and parses an emoji.json. */
export async function readEmojiIndex(file: string): Promise<EmojiEntry[]> {
  // A regular file of bounded size (one line, not a hang, for a FIFO or /dev/zero); emoji.json is about 1.3 MB.
  return parseEmojiIndex(await readTextBounded(file, "emoji index", MANIFEST_BYTES), file);
}
