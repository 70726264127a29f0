/**
 * One design set of emoji, read from its npm package `emoji-datasource-<vendor>` (16.0.0): the
 * index `emoji.json` and the 64 × 64 PNGs under `img/<vendor>/64/`. The PNGs are composited on a
 * grey background, resized to `size` and decoded by the shared sharp worker pool
 * (core/images/decode_pool.ts) once, then kept as an {@link ImageSet} in the dataset
 * cache (core/images/image_cache.ts), one file per vendor, version, size and background.
 *
 * The packages are not in the project's deno.json (every `deno task` installs what is there, and
 * the test suite must not download them): `deno task emoji:install` installs them from
 * plugins/emoji/packages/deno.json, pinned by its lockfile, into plugins/emoji/packages/node_modules.
 * Training only reads them, so it keeps its permissions (no network).
 *
 * ```ts
 * const google = await loadVendor({ dir: defaultPackagesDir(), vendor: "google", size: 32, background: 128, workers: 0 });
 * google.rows.get("1F436"); // the dog face's row in google.set
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { readTextBounded } from "../../core/bounded_read.ts";
import { nativeWorkersCanLoad } from "../../core/sandbox.ts";
import { cacheDir, digest, type ImageSet, readImageCache, writeImageCache } from "../../core/images/image_cache.ts";
import { decodePool } from "../../core/images/decode_pool.ts";
import type { DecodeJob, PixelSpec } from "../../core/images/decode_protocol.ts";
import type { TransformSpec } from "../../core/images/transform.ts";
import { type EmojiEntry, readEmojiIndex } from "./emoji_index.ts";

/** The design sets emoji-datasource publishes, and the licence of each set's images. */
export const VENDORS: Record<string, string> = {
  google: "Noto Emoji, Apache-2.0",
  twitter: "Twemoji, CC-BY-4.0",
  facebook: "Facebook's, owned by Meta: not openly licensed",
  apple: "Apple Color Emoji, owned by Apple: not openly licensed",
};

/** Bumped when the decoding changes, so older cache files are rebuilt. */
const EMOJI_CACHE_VERSION = 1;

/** Where `deno task emoji:install` puts the packages. */
export function defaultPackagesDir(): string {
  return new URL("./packages/node_modules", import.meta.url).pathname;
}

/** One vendor's index and decoded images. */
export interface VendorImages {
  vendor: string;
  version: string;
  /** The package's own index (its has_img_<vendor> flags say which images it has). */
  entries: EmojiEntry[];
  /** Row in `set` of each emoji the vendor draws, by code sequence. */
  rows: Map<string, number>;
  /** size × size × 3 RGB; `labels` are unused (0): `rows` says which emoji a row is. */
  set: ImageSet;
  /** Whether the images came from the cache or were decoded now. */
  from: "cache" | "package";
}

export interface VendorOptions {
  /** Folder holding emoji-datasource-<vendor>/ (a node_modules folder). */
  dir: string;
  vendor: string;
  size: number;
  /** Grey level 0..255 of the background. */
  background: number;
  /** Decoding workers (0 = auto). */
  workers: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const damaged = (pkg: string) => `the package ${pkg} looks damaged; reinstall it: deno task emoji:install`;

async function locate(o: VendorOptions): Promise<{ root: string; version: string }> {
  const pkg = `emoji-datasource-${o.vendor}`;
  const root = `${o.dir}/${pkg}`;
  if (!(await exists(`${root}/package.json`))) {
    const how = o.vendor === "google" || o.vendor === "twitter"
      ? "run: deno task emoji:install"
      : `add "${pkg}": "npm:${pkg}@16.0.0" to plugins/emoji/packages/deno.json's imports and run: deno task emoji:install`;
    throw new DmlError(`data.vendors: ${o.vendor}: the npm package ${pkg} is not installed in ${o.dir} (${how})`);
  }
  let version: unknown;
  try {
    version = JSON.parse(await readTextBounded(`${root}/package.json`, "package description")).version;
  } catch {
    version = undefined;
  }
  if (typeof version !== "string") throw new DmlError(`data: ${root}/package.json has no version (${damaged(pkg)})`);
  return { root, version };
}

/** Decodes `paths` (in order) into one size × size × 3 set with the worker pool. */
async function decodeAll(paths: string[], o: VendorOptions, pkg: string): Promise<ImageSet> {
  if (!nativeWorkersCanLoad()) {
    throw new DmlError(
      "data: emoji: decoding images needs --allow-ffi and --unstable-worker-options (sharp's native libvips, in " +
        "worker threads); deno task train/eval/embed grant them",
    );
  }
  const transform: TransformSpec = {
    size: o.size,
    resize: o.size,
    augment: "none",
    scale: [1, 1],
    ratio: [1, 1],
    flip: false,
    squash: true,
  };
  const g = o.background;
  const pixels: PixelSpec = { mean: [0, 0, 0], std: [1, 1, 1], range: 1, bgr: false, background: [g, g, g] };
  const jobs: DecodeJob[] = paths.map((path, slot) => ({ path, box: null, seed: null, slot }));
  const out = new SharedArrayBuffer(paths.length * o.size * o.size * 3);
  const pending = decodePool(o.workers).decode(jobs, transform, pixels, "uint8", out);
  await pending.wait();
  const failure = pending.failure();
  if (failure) throw new DmlError(`data: emoji: ${failure} (${damaged(pkg)})`);
  return {
    count: paths.length,
    height: o.size,
    width: o.size,
    channels: 3,
    labels: new Uint8Array(paths.length),
    pixels: new Uint8Array(out).slice(),
    dropped: 0,
  };
}

let cacheWarningShown = false;

/** The vendor's images at `size` on the background, from the cache or decoded (and cached) now. */
export async function loadVendor(o: VendorOptions): Promise<VendorImages> {
  const pkg = `emoji-datasource-${o.vendor}`;
  const { root, version } = await locate(o);
  const entries = await readEmojiIndex(`${root}/emoji.json`);
  const drawn = entries.filter((e) => e.hasImage[o.vendor]);
  if (drawn.length === 0) {
    throw new DmlError(`data: ${root}/emoji.json lists no image with has_img_${o.vendor} (${damaged(pkg)})`);
  }
  const rel = drawn.map((e) => `img/${o.vendor}/64/${e.image}`);
  const rows = new Map(drawn.map((e, i) => [e.unified, i]));
  // The list of images is part of the name: another index never reads this one's rows.
  const key = await digest(rel.join("\n"));
  const path =
    `${cacheDir()}/emoji-v${EMOJI_CACHE_VERSION}-${o.vendor}-${version}-${o.size}px-bg${o.background}-${key}.bin`;
  const cached = await readImageCache(path);
  if (cached && cached.count === drawn.length && cached.channels === 3 && cached.height === o.size) {
    return { vendor: o.vendor, version, entries, rows, set: cached, from: "cache" };
  }
  const missing: string[] = [];
  for (const r of rel) if (!(await exists(`${root}/${r}`))) missing.push(r);
  if (missing.length > 0) {
    throw new DmlError(
      `data: ${missing.length} image${missing.length > 1 ? "s" : ""} listed in ${root}/emoji.json ${
        missing.length > 1 ? "are" : "is"
      } missing, first ${root}/${missing[0]} (${damaged(pkg)})`,
    );
  }
  const set = await decodeAll(rel.map((r) => `${root}/${r}`), o, pkg);
  try {
    await writeImageCache(path, set);
  } catch (e) {
    if (!cacheWarningShown) {
      console.warn(`dml: could not cache ${pkg} at ${path} (${(e as Error).message.split("\n")[0]})`);
    }
    cacheWarningShown = true;
  }
  return { vendor: o.vendor, version, entries, rows, set, from: "package" };
}
