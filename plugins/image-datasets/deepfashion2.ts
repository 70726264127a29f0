/**
 * DeepFashion2 (Ge et al. 2019) consumer-to-shop retrieval in its official layout:
 * `train/image/000001.jpg` with `train/annos/000001.json`, and the same under `validation/`. Each
 * JSON holds `source` ("user" or "shop"), `pair_id`, and `item1`, `item2`, ... with `category_id`,
 * `style` and `bounding_box` [x1, y1, x2, y2]. A user item and a shop item match when they share
 * pair_id and style > 0; as in the XBN paper the label is the (pair_id, category_id, style) triple,
 * items with style 0 are left out, and images are cropped to the items' ground-truth boxes.
 * Training: the labelled items of `train/` (labels with at least `minPerClass` items). Test (the
 * test annotations are not public, so the validation split), DeepFashion2's consumer-to-shop
 * protocol: the gallery is every labelled shop item, labels without a user item included as
 * distractors; the queries are the labelled user items whose label has a shop item (the XBN paper
 * counts 36,961 gallery and 12,377 query items).
 *
 * Reading ~400k JSON files takes minutes, so the parsed index is kept in the cache folder and
 * rebuilt only when an annos folder changes.
 *
 * ```ts
 * const layout = await readDeepFashion2("/data/deepfashion2", { minPerClass: 2 });
 * layout.gallery.length; // ≈ 36,961
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { type Layout, type LayoutEntry, locate } from "./layout.ts";
import { mapLimited } from "./verify.ts";
import { cacheDir, digest } from "../../core/images/image_cache.ts";

const INDEX_VERSION = 1;

/** One labelled item: image file name, label key, box, and whether a user took the photo. */
type Item = [image: string, key: string, x1: number, y1: number, x2: number, y2: number, user: boolean];

interface Index {
  version: number;
  stamps: Record<string, string>;
  items: Record<string, Item[]>;
}

async function folderStamp(dir: string): Promise<string> {
  const s = await Deno.stat(dir);
  let n = 0;
  for await (const _ of Deno.readDir(dir)) n++;
  return `${s.mtime?.getTime() ?? 0}:${n}`;
}

async function parseAnnos(dir: string): Promise<Item[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
  names.sort();
  const perFile = await mapLimited(names, 32, async (name) => {
    const file = `${dir}/${name}`;
    let a: Record<string, unknown>;
    try {
      a = JSON.parse(await Deno.readTextFile(file));
    } catch (e) {
      throw new DmlError(`${file}: not a readable annotation (${(e as Error).message.split("\n")[0]})`);
    }
    const source = a.source, pair = a.pair_id;
    if ((source !== "user" && source !== "shop") || typeof pair !== "number") {
      throw new DmlError(`${file}: expected "source": "user"|"shop" and a numeric "pair_id"`);
    }
    const items: Item[] = [];
    for (const [k, v] of Object.entries(a)) {
      if (!/^item\d+$/.test(k)) continue;
      const it = v as { style?: number; category_id?: number; bounding_box?: number[] };
      if (typeof it.style !== "number" || it.style <= 0) continue;
      const box = it.bounding_box;
      if (!Array.isArray(box) || box.length !== 4 || box.some((x) => typeof x !== "number")) {
        throw new DmlError(`${file}: ${k} has no bounding_box [x1, y1, x2, y2]`);
      }
      items.push(
        [name.replace(/\.json$/, ".jpg"), `${pair}-${it.category_id}-${it.style}`, ...box, source === "user"] as Item,
      );
    }
    return items;
  });
  return perFile.flat();
}

let indexWarned = false;

async function loadIndex(base: string, splits: string[]): Promise<Record<string, Item[]>> {
  const path = `${cacheDir()}/deepfashion2-index-${await digest(base)}.json`;
  const stamps: Record<string, string> = {};
  for (const s of splits) stamps[s] = await folderStamp(`${base}/${s}/annos`);
  try {
    const cached = JSON.parse(await Deno.readTextFile(path)) as Index;
    if (cached.version === INDEX_VERSION && splits.every((s) => cached.stamps[s] === stamps[s] && cached.items[s])) {
      return cached.items;
    }
  } catch {
    // No usable index yet.
  }
  const items: Record<string, Item[]> = {};
  for (const s of splits) items[s] = await parseAnnos(`${base}/${s}/annos`);
  try {
    await Deno.mkdir(cacheDir(), { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify({ version: INDEX_VERSION, stamps, items } satisfies Index));
  } catch (e) {
    if (!indexWarned) console.warn(`dml: could not keep the DeepFashion2 index in ${path}: ${(e as Error).message}`);
    indexWarned = true;
  }
  return items;
}

function entry(base: string, split: string, it: Item): LayoutEntry {
  return { path: `${base}/${split}/image/${it[0]}`, key: it[1], box: [it[2], it[3], it[4], it[5]] };
}

export async function readDeepFashion2(root: string, o: { minPerClass: number }): Promise<Layout> {
  const base = await locate("DeepFashion2", root, ["", "deepfashion2", "DeepFashion2"], [
    "train/image",
    "train/annos",
    "validation/image",
    "validation/annos",
  ]);
  const index = await loadIndex(base, ["train", "validation"]);
  const count = new Map<string, number>();
  for (const it of index.train) count.set(it[1], (count.get(it[1]) ?? 0) + 1);
  const train = index.train.filter((it) => count.get(it[1])! >= o.minPerClass).map((it) => entry(base, "train", it));
  // Every shop item is in the gallery; a user item whose label no shop item has cannot be answered.
  const shops = new Set(index.validation.filter((it) => !it[6]).map((it) => it[1]));
  const query = index.validation.filter((it) => it[6] && shops.has(it[1])).map((it) => entry(base, "validation", it));
  const gallery = index.validation.filter((it) => !it[6]).map((it) => entry(base, "validation", it));
  return {
    train,
    query,
    gallery,
    source: `${base} (train/annos; validation/annos: user items query all shop items)`,
  };
}
