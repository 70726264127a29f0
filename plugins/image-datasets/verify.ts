/**
 * Checks that a dataset's listed image files are there (`exists`, one stat each) or also decode
 * (`decode`, each file fully decoded once in the worker pool; files that passed are remembered in
 * the cache folder by size and modification time, so later runs only check new or changed files).
 *
 * ```ts
 * const bad = await findBadImages(paths, "exists", { workers: 0, cacheName: "cub200" });
 * bad.get("/data/cub/images/001/x.jpg"); // "no such file"
 * ```
 */
import { decodePool } from "../../core/images/decode_pool.ts";
import { DmlError } from "../../core/errors.ts";
import { cacheDir, digest } from "../../core/images/image_cache.ts";

export type VerifyMode = "none" | "exists" | "decode";

/** Runs `fn` over `items` with `limit` promises in flight. */
export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

/** Size and modification time of each file, or null where it is not a readable file. */
async function signatures(paths: string[]): Promise<(string | null)[]> {
  return await mapLimited(paths, 64, async (p) => {
    try {
      const s = await Deno.stat(p);
      return s.isFile ? `${s.size}:${s.mtime?.getTime() ?? 0}` : null;
    } catch {
      return null;
    }
  });
}

let cacheWarned = false;

/**
 * The listed files that are missing (or, with `decode`, unreadable), with the reason. `cacheName`
 * names the decode cache (one per dataset root).
 */
export async function findBadImages(
  paths: string[],
  mode: VerifyMode,
  o: { workers: number; cacheName: string },
): Promise<Map<string, string>> {
  const bad = new Map<string, string>();
  if (mode === "none") return bad;
  const unique = [...new Set(paths)];
  const sigs = await signatures(unique);
  unique.forEach((p, i) => {
    if (sigs[i] === null) bad.set(p, "no such file");
  });
  if (mode === "exists") return bad;

  const cachePath = `${cacheDir()}/verified-${o.cacheName}-${await digest(unique[0] ?? "")}.json`;
  let known: Record<string, string> = {};
  try {
    known = JSON.parse(await Deno.readTextFile(cachePath));
  } catch {
    known = {};
  }
  const todo = unique.filter((p, i) => sigs[i] !== null && known[p] !== sigs[i]);
  if (todo.length > 0) {
    const status = new Int32Array(new SharedArrayBuffer(4 * todo.length));
    const pending = decodePool(o.workers).verify(todo, status.buffer as SharedArrayBuffer);
    await pending.wait();
    const failure = pending.failure();
    if (failure) throw new DmlError(`data: ${failure}`);
    const sigOf = new Map(unique.map((p, i) => [p, sigs[i]]));
    todo.forEach((p, i) => {
      if (status[i] === 1) known[p] = sigOf.get(p)!;
      else bad.set(p, "not a readable image");
    });
    try {
      await Deno.mkdir(cacheDir(), { recursive: true });
      await Deno.writeTextFile(cachePath, JSON.stringify(known));
    } catch (e) {
      if (!cacheWarned) {
        console.warn(`dml: could not remember verified images in ${cachePath}: ${(e as Error).message}`);
      }
      cacheWarned = true;
    }
  }
  return bad;
}
