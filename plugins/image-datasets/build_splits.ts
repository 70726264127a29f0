/**
 * The options every image dataset shares (input size, augmentation, normalisation, checking of
 * the files) and the step from a {@link Layout} to the {@link DatasetSplits} a run uses: check the
 * listed files, drop the bad ones if asked, optionally keep only the first classes, number the
 * labels of each split 0..classes-1 (query and gallery share one numbering), and wrap each split
 * in an {@link ImageFileDataset}.
 *
 * ```ts
 * const schema = { ...imageOptions({ boxes: false }) };
 * const data = await buildImageSplits("cub200", await readCub200(root), options, "data");
 * data.train.classes; // 100
 * ```
 */
import type { DatasetSplits, Options } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { bool, int, nums, type Schema, str } from "../../core/options.ts";
import type { Layout, LayoutEntry } from "./layout.ts";
import { sortKeys } from "./layout.ts";
import type { PixelSpec } from "../../core/images/decode_protocol.ts";
import type { AugmentMode, TransformSpec } from "../../core/images/transform.ts";
import { ImageFileDataset } from "./image_file_dataset.ts";
import { findBadImages, type VerifyMode } from "./verify.ts";
import { digest } from "../../core/images/image_cache.ts";
import { nativeWorkersCanLoad } from "../../core/sandbox.ts";

/** The shared options; `boxes` only for datasets that ship boxes (its default given). */
export function imageOptions(o: { boxes?: boolean } = {}): Schema {
  return {
    root: str(undefined, undefined, "folder of your copy of the dataset (see docs/datasets.md for each layout)"),
    size: int(224, { min: 8, doc: "side of the square network input in pixels (227 in MPN, 224 elsewhere)" }),
    resize: int(256, {
      min: 8,
      doc: "test time (and random-crop): the shorter side is resized to this, then the centre (random) size crop",
    }),
    augment: str(
      "random-resized-crop",
      ["random-resized-crop", "random-crop", "none"],
      "training augmentation: random-resized-crop (torchvision), random-crop (after the resize), none",
    ),
    scale: nums([0.08, 1], { min: 0, doc: "random-resized-crop: area fraction range [min, max] (XBM: [0.2, 1])" }),
    ratio: nums([0.75, 4 / 3], { min: 0, doc: "random-resized-crop: aspect ratio range [min, max]" }),
    flip: bool(true, "mirror left-right with probability 1/2 when training"),
    squash: bool(
      false,
      "resize to resize × resize ignoring the aspect ratio (Caffe-style) instead of the shorter side",
    ),
    mean: nums([0.485, 0.456, 0.406], { doc: "per-channel mean subtracted (in the units of `range`), RGB order" }),
    std: nums([0.229, 0.224, 0.225], { min: 0, doc: "per-channel std divided by (ImageNet's by default)" }),
    range: int(1, { min: 1, max: 255, doc: "1: pixels in [0, 1] (torchvision); 255: [0, 255] (Caffe BN-Inception)" }),
    bgr: bool(false, "feed channels in BGR order (Caffe-converted weights); mean/std stay in RGB order"),
    ...(o.boxes === undefined ? {} : {
      boxes: bool(o.boxes, "crop each image to its annotated bounding box before the transform"),
    }),
    verify: str(
      "exists",
      ["none", "exists", "decode"],
      "check the listed files before training: exists (one stat each; a file that exists but does not decode stops " +
        "the run when it is met, with a failed line in its folder), decode (decode each once; remembered in the cache)",
    ),
    skipBad: bool(
      false,
      "drop listed images that are missing (or, with verify: decode, unreadable) and report the count",
    ),
    limitClasses: int(0, { min: 0, doc: "keep only the first N classes of each split (0 = all); for smoke runs" }),
    workers: int(0, { min: 0, doc: "decoding worker threads (0 = a quarter of the cores, 1 to 4)" }),
  };
}

/** Validated transform and pixel specs from the options. */
export function specsOf(o: Options, path: string): { transform: TransformSpec; pixels: PixelSpec } {
  const pair = (key: string, v: number[], lo: number, hi: number) => {
    if (v.length !== 2 || !(v[0] > lo && v[0] <= v[1] && v[1] <= hi)) {
      throw new DmlError(
        `${path}.${key}: expected [min, max] with ${lo} < min <= max <= ${hi}, got ${JSON.stringify(v)}`,
      );
    }
    return [v[0], v[1]] as [number, number];
  };
  const triple = (key: string, v: number[]) => {
    if (v.length === 1) return [v[0], v[0], v[0]] as [number, number, number];
    if (v.length !== 3) throw new DmlError(`${path}.${key}: expected 3 values (R, G, B), got ${JSON.stringify(v)}`);
    return [v[0], v[1], v[2]] as [number, number, number];
  };
  if (o.range !== 1 && o.range !== 255) throw new DmlError(`${path}.range: expected 1 or 255, got ${o.range}`);
  const std = triple("std", o.std);
  if (std.some((s) => s <= 0)) throw new DmlError(`${path}.std: every value must be > 0, got ${JSON.stringify(o.std)}`);
  return {
    transform: {
      size: o.size,
      resize: o.resize,
      augment: o.augment as AugmentMode,
      scale: pair("scale", o.scale, 0, 1),
      ratio: pair("ratio", o.ratio, 0, Infinity),
      flip: o.flip,
      squash: o.squash,
    },
    pixels: { mean: triple("mean", o.mean), std, range: o.range, bgr: o.bgr },
  };
}

/** The first `n` classes (sorted keys) of `entries`; all when n is 0. */
function firstClasses(entries: LayoutEntry[], n: number): LayoutEntry[] {
  if (n <= 0) return entries;
  const keep = new Set(sortKeys(entries.map((e) => e.key)).slice(0, n));
  return entries.filter((e) => keep.has(e.key));
}

function itemsOf(entries: LayoutEntry[], keys: string[], names: Map<string, string> | undefined) {
  const label = new Map(keys.map((k, i) => [k, i]));
  const withBoxes = entries.some((e) => e.box);
  return {
    paths: entries.map((e) => e.path),
    labels: Int32Array.from(entries, (e) => label.get(e.key)!),
    boxes: withBoxes ? entries.map((e) => e.box ?? null) : null,
    classNames: keys.map((k) => names?.get(k) ?? k),
  };
}

const skipNoticeShown = new Set<string>();

/** The splits of `layout` as datasets, after checking the files. */
export async function buildImageSplits(name: string, layout: Layout, o: Options, path: string): Promise<DatasetSplits> {
  const { transform, pixels } = specsOf(o, path);
  if (!nativeWorkersCanLoad()) {
    throw new DmlError(
      `data: ${name}: decoding images needs --allow-ffi and --unstable-worker-options (sharp's native libvips, in ` +
        `worker threads); deno task train/eval/embed grant them`,
    );
  }
  const named = (["train", "test", "query", "gallery"] as const).filter((s) => layout[s] !== undefined);
  const all = named.flatMap((s) => layout[s]!);
  const bad = await findBadImages(all.map((e) => e.path), o.verify as VerifyMode, {
    workers: o.workers,
    cacheName: `${name}-${await digest(layout.source)}`,
  });
  let note = "";
  if (bad.size > 0) {
    const [first, why] = bad.entries().next().value!;
    if (!o.skipBad) {
      throw new DmlError(
        `data: ${name}: ${bad.size} listed image${
          bad.size > 1 ? "s are" : " is"
        } missing or unreadable, first ${first} (${why}); ` +
          `set ${path}.skipBad: true to train without ${bad.size > 1 ? "them" : "it"}`,
      );
    }
    note = `${bad.size} missing or unreadable image${bad.size > 1 ? "s" : ""} skipped, first ${first}`;
    if (!skipNoticeShown.has(first)) console.warn(`dml: ${name}: ${note}`);
    skipNoticeShown.add(first);
  }
  const keep = (entries: LayoutEntry[]) => firstClasses(entries.filter((e) => !bad.has(e.path)), o.limitClasses);
  const make = (entries: LayoutEntry[], keys: string[]) =>
    new ImageFileDataset(name, itemsOf(entries, keys, layout.classNames), transform, pixels, { workers: o.workers });
  const check = (split: string, entries: LayoutEntry[], minClasses: number) => {
    const n = new Set(entries.map((e) => e.key)).size;
    if (n < minClasses) {
      throw new DmlError(
        `data: ${name}: the ${split} split has ${n} class${n === 1 ? "" : "es"} with images; needs ${minClasses}`,
      );
    }
  };
  // Classes with images in the split (a query shares the gallery's numbering but may lack some of its classes).
  const describe = (split: string, d: ImageFileDataset) =>
    `${split} ${new Set(d.labels).size} classes (${d.size} images)`;

  const trainEntries = keep(layout.train);
  check("train", trainEntries, 2);
  const train = make(trainEntries, sortKeys(trainEntries.map((e) => e.key)));
  const out: DatasetSplits = { train };
  const parts = [describe("train", train)];
  if (layout.test) {
    const entries = keep(layout.test);
    check("test", entries, 1);
    out.test = make(entries, sortKeys(entries.map((e) => e.key)));
    parts.push(describe("test", out.test as ImageFileDataset));
  }
  if (layout.query && layout.gallery) {
    // One numbering for both, so a query's label matches its gallery images'.
    const q = layout.query.filter((e) => !bad.has(e.path)), g = layout.gallery.filter((e) => !bad.has(e.path));
    const keys = sortKeys([...q, ...g].map((e) => e.key));
    const kept = new Set(o.limitClasses > 0 ? keys.slice(0, o.limitClasses) : keys);
    const qe = q.filter((e) => kept.has(e.key)), ge = g.filter((e) => kept.has(e.key));
    check("query", qe, 1);
    check("gallery", ge, 1);
    const shared = keys.filter((k) => kept.has(k));
    out.query = make(qe, shared);
    out.gallery = make(ge, shared);
    parts.push(describe("query", out.query as ImageFileDataset), describe("gallery", out.gallery as ImageFileDataset));
  }
  out.description = `${name} from ${layout.source}: ${parts.join("; ")}${note ? `; ${note}` : ""}`;
  return out;
}
