/**
 * Reading a file the user named, with a bound: only a regular file (a FIFO would block forever and
 * /dev/zero never ends), checked before it is opened, and no larger than a cap, so that a wrong path is
 * one line naming the file instead of a hang or an out-of-memory crash.
 *
 * ```ts
 * const text = await readTextBounded("recipes/quickstart.yaml", "recipe", RECIPE_BYTES);
 * const bytes = await readBounded("E.npy", ".npy file"); // cap: what one read can hold
 * ```
 */
import { DmlError } from "./errors.ts";

/** Recipes and other hand-written text files: far more than any needs, little enough to parse at once. */
export const TEXT_BYTES = 1 << 20;
/** JSON that programs write (a model.json, a weights manifest): topology and names, not the weights. */
export const MANIFEST_BYTES = 64 << 20;
/** The most one binary read returns: a typed array's limit in one piece (2 GiB). */
export const BINARY_BYTES = 2 ** 31 - 1;

/**
 * The whole file, after checking it is a regular file of at most `max` bytes. Errors begin with `name`
 * (default the path) and call the file `what` (".npy file").
 */
export async function readBounded(path: string, what: string, max = BINARY_BYTES, name = path): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmlError(`${name}: no such file`);
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
    throw new DmlError(`${name}: cannot read ${what}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (info.isDirectory) throw new DmlError(`${name}: is a directory, not a ${what}`);
  if (!info.isFile) throw new DmlError(`${name}: not a regular file (a device, FIFO or socket), not a ${what}`);
  if (info.size > max) throw new DmlError(`${name}: ${what} of ${info.size} bytes, more than the ${max} allowed`);
  using file = await Deno.open(path);
  // One byte of room past the stat's size: a file that grew since is seen, and refused, not read on.
  const buf = new Uint8Array(info.size + 1);
  let n = 0;
  for (let got = await file.read(buf); got !== null; got = await file.read(buf.subarray(n))) {
    n += got;
    if (n === buf.length) throw new DmlError(`${name}: ${what} grew while it was read`);
  }
  return buf.subarray(0, n);
}

/**
 * {@link readTextBounded}, or null when nothing is at `path` (the caller says what its absence means, e.g.
 * "not an index folder").
 */
export async function readTextIfExists(path: string, what: string, max = TEXT_BYTES): Promise<string | null> {
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
  }
  return await readTextBounded(path, what, max);
}

/** {@link readBounded} as UTF-8 text, capped at {@link TEXT_BYTES} unless told. */
export async function readTextBounded(path: string, what: string, max = TEXT_BYTES, name = path): Promise<string> {
  return new TextDecoder().decode(await readBounded(path, what, max, name));
}
