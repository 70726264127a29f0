/**
 * The `emoji` dataset: cross-design emoji retrieval with about a thousand held-out classes. A
 * class is one emoji; its images are the same emoji drawn by different design teams (Google's
 * Noto, Twitter's Twemoji, optionally Facebook's and Apple's), from the npm packages
 * `emoji-datasource-<vendor>` 16.0.0, installed by `deno task emoji:install`.
 *
 * ```ts
 * const data = await registry.create<DatasetSplits>("dataset", "emoji", { size: 32 }, ctx);
 * data.train.classes; // 956 base emoji; data.test: the other 955, two drawings each
 * ```
 */
import type { ComponentDef, DatasetSplits, Options, Plugin } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { bool, int, num, nums, type OptionSpec, str } from "../../core/options.ts";
import type { EmojiEntry } from "./emoji_index.ts";
import { type EmojiPlan, planEmoji, type PlannedSplit, type PlanOptions } from "./plan.ts";
import { defaultPackagesDir, loadVendor, type VendorImages, VENDORS } from "./vendor_images.ts";
import { channelMeans, EmojiDataset, type EmojiDatasetOptions } from "./emoji_dataset.ts";

const strings = (d: string[], doc: string): OptionSpec => ({ type: "strings", default: d, doc });

const options = {
  vendors: strings(
    ["google", "twitter"],
    `design sets, each from emoji-datasource-<vendor>: ${
      Object.entries(VENDORS).map(([v, l]) => `${v} (${l})`).join("; ")
    }. The default takes the two openly licensed sets, which deno task emoji:install installs`,
  ),
  skinTones: str(
    "exclude",
    ["exclude", "classes"],
    "skin-tone variants: exclude (base emoji only), or classes (each variant its own fine-grained class, on the " +
      "same side of the split as its base emoji)",
  ),
  protocol: str(
    "one-set",
    ["one-set", "query-gallery"],
    "one-set: every held-out drawing against all others (SOP); query-gallery: queryVendor's drawings against the " +
      "other vendors' (In-Shop)",
  ),
  queryVendor: str("twitter", undefined, "query-gallery: the vendor whose drawings are the queries"),
  evaluate: str(
    "test",
    ["test", "validation"],
    "test: the held-out half of the emoji; validation: a quarter of the training emoji held out, the test half " +
      "unused (for choosing a recipe)",
  ),
  splitSeed: int(0, { min: 0, doc: "seed of the class-disjoint split (fixed apart from the run's seed)" }),
  size: int(32, {
    min: 8,
    max: 64,
    doc: "side in pixels: the 64-px drawings are resized once (and cached). 32 keeps them recognisable and a small " +
      "convnet near the quickstart's speed on a CPU",
  }),
  background: int(128, {
    min: 0,
    max: 255,
    doc: "grey level the transparent drawings are composited on: mid-grey keeps both white parts (eyes, clouds, " +
      "⬜) and black ones (outlines, ⬛) visible, and is near the mean, so it is about 0 after centring",
  }),
  augment: bool(true, "random scale, rotation and shift when training; never a mirror or a colour change"),
  shift: num(0.1, { min: 0, max: 0.5, doc: "augmentation: largest shift, as a fraction of the side" }),
  scale: nums([0.8, 1.1], { min: 0.1, max: 4, doc: "augmentation: scale range [min, max]" }),
  rotate: num(10, { min: 0, max: 45, doc: "augmentation: largest rotation in degrees (➡️ and ↗️ are 45° apart)" }),
  normalize: bool(true, "centre pixels (scaled to [0, 1]) by the training split's mean of each channel"),
  packages: str("", undefined, "folder holding emoji-datasource-<vendor>/ ('' = plugins/emoji/packages/node_modules)"),
  workers: int(0, { min: 0, doc: "decoding worker threads for the first load (0 = auto)" }),
};

function checkOptions(o: Options, path: string): void {
  const vendors = o.vendors as string[];
  for (const v of vendors) {
    if (!(v in VENDORS)) {
      throw new DmlError(`${path}.vendors: unknown vendor '${v}'; the vendors are ${Object.keys(VENDORS).join(", ")}`);
    }
  }
  const dup = vendors.find((v, i) => vendors.indexOf(v) !== i);
  if (dup) throw new DmlError(`${path}.vendors: '${dup}' is listed twice`);
  if (vendors.length < 2) {
    throw new DmlError(`${path}.vendors: cross-design retrieval needs at least 2 vendors, got ${vendors.length}`);
  }
  if (o.protocol === "query-gallery" && !vendors.includes(o.queryVendor)) {
    throw new DmlError(`${path}.queryVendor: '${o.queryVendor}' is not one of ${path}.vendors (${vendors.join(", ")})`);
  }
  const [lo, hi] = o.scale as number[];
  if ((o.scale as number[]).length !== 2 || !(lo <= hi)) {
    throw new DmlError(`${path}.scale: expected [min, max] with min <= max, got ${JSON.stringify(o.scale)}`);
  }
}

/** The merged index: every vendor's entries, the first vendor's record where they overlap. */
function mergeIndexes(loaded: VendorImages[]): EmojiEntry[] {
  const merged = new Map<string, EmojiEntry>();
  for (const l of loaded) for (const e of l.entries) if (!merged.has(e.unified)) merged.set(e.unified, e);
  return [...merged.values()];
}

function describeSplit(name: string, s: PlannedSplit, vendors: string[]): string {
  const per = vendors.map((v, k) => `${v} ${s.items.filter((it) => it.vendor === k).length}`).join(", ");
  return `${name} ${new Set(s.items.map((it) => it.cls)).size} classes (${s.items.length} images: ${per})`;
}

/** The datasets of a plan: labels numbered per split in class order, query and gallery sharing one numbering. */
function buildDatasets(plan: EmojiPlan, loaded: VendorImages[], o: Options): DatasetSplits {
  const sets = loaded.map((l) => l.set);
  const base: EmojiDatasetOptions = {
    mean: [0, 0, 0],
    augment: o.augment,
    ranges: { shift: o.shift, scale: [o.scale[0], o.scale[1]], rotate: o.rotate },
    background: o.background,
  };
  const make = (s: PlannedSplit, opts: EmojiDatasetOptions) => {
    const label = new Map(s.classes.map((c, k) => [c, k]));
    const rows = {
      set: Int32Array.from(s.items, (it) => it.vendor),
      row: Int32Array.from(s.items, (it) => loaded[it.vendor].rows.get(plan.classes[it.cls].unified)!),
    };
    const labels = Int32Array.from(s.items, (it) => label.get(it.cls)!);
    return new EmojiDataset(sets, rows, labels, s.classes.map((c) => plan.classes[c].name), opts);
  };
  const mean = o.normalize ? channelMeans(make(plan.train, base)) : base.mean;
  const withMean = { ...base, mean };
  const out: DatasetSplits = { train: make(plan.train, withMean) };
  const vendors = o.vendors as string[];
  const parts = [describeSplit("train", plan.train, vendors)];
  for (const key of ["test", "query", "gallery"] as const) {
    const s = plan[key];
    if (!s) continue;
    out[key] = make(s, withMean);
    parts.push(describeSplit(key, s, vendors));
  }
  const notes = [
    plan.dropped > 0 ? `${plan.dropped} emoji drawn by fewer than 2 of the vendors left out` : "",
    plan.queriesWithoutGallery > 0 ? `${plan.queriesWithoutGallery} queries without a gallery drawing left out` : "",
  ].filter(Boolean);
  const versions = loaded.map((l) => `${l.vendor} ${l.version}`).join(", ");
  const protocol = o.protocol === "one-set" ? "one-set" : `query-gallery (queries: ${o.queryVendor})`;
  out.description = `emoji (${versions}; ${o.size}px, skin tones ${o.skinTones}), class-disjoint ${protocol}, ` +
    `evaluated on ${o.evaluate}: ${parts.join("; ")}${notes.length ? `; ${notes.join("; ")}` : ""}`;
  return out;
}

/** Loads the vendors' images and builds the splits from validated options. */
export async function buildEmojiSplits(o: Options, path: string): Promise<DatasetSplits> {
  checkOptions(o, path);
  const vendors = o.vendors as string[];
  const dir = o.packages || defaultPackagesDir();
  const loaded: VendorImages[] = [];
  // One vendor at a time: the decoding pool is shared, and errors then name the first bad package.
  for (const vendor of vendors) {
    loaded.push(await loadVendor({ dir, vendor, size: o.size, background: o.background, workers: o.workers }));
  }
  const plan = planEmoji(
    mergeIndexes(loaded),
    loaded.map((l) => new Set(l.rows.keys())),
    {
      vendors,
      skinTones: o.skinTones,
      protocol: o.protocol,
      evaluate: o.evaluate,
      queryVendor: o.queryVendor,
      splitSeed: o.splitSeed,
    } as PlanOptions,
  );
  for (const [key, s] of Object.entries({ train: plan.train, test: plan.test, query: plan.query })) {
    if (s && s.classes.length < 2) {
      throw new DmlError(`data: emoji: the ${key} split has ${s.classes.length} classes drawn by 2 vendors; needs 2`);
    }
  }
  return buildDatasets(plan, loaded, o);
}

const emoji: ComponentDef = {
  kind: "dataset",
  name: "emoji",
  doc: "Cross-design emoji retrieval: a class is one emoji, its images the drawings of different design teams " +
    "(npm emoji-datasource-<vendor> 16.0.0, 64×64 PNGs, composited on grey and resized to `size`). Default: " +
    "Google's Noto and Twitter's Twemoji (openly licensed), 1,911 base emoji with 2 drawings each, a seeded " +
    "category-balanced class-disjoint split (956 emoji train, 955 test: 1,910 queries). Install the data with " +
    "deno task emoji:install; docs/datasets.md has the statistics and licences.",
  options,
  create: (o, ctx) => buildEmojiSplits(o, ctx.path),
};

/** The emoji dataset plugin. */
export const plugin: Plugin = { name: "emoji", components: [emoji] };
export default plugin;
