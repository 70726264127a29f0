/**
 * Checkpoints: a folder holding `state.json` (the structure), `tensors.bin` (every typed array,
 * referenced from the JSON by offset) and `manifest.json` (each file's size and SHA-256). Written
 * to a temporary folder and renamed into place, so a crash never leaves a half-written checkpoint;
 * a damaged one (truncated, a flipped byte) is refused with one clear line.
 *
 * ```ts
 * await saveCheckpoint("runs/x/ckpt/epoch-0001", { step: 10, w: new Float32Array(4) });
 * const s = await loadCheckpoint("runs/x/ckpt/epoch-0001");
 * ```
 */
import { DmlError } from "./errors.ts";
import { readBounded, readTextBounded } from "./bounded_read.ts";
import type { State } from "./types.ts";

const FORMAT = "dml-checkpoint-2";
/** Written before checkpoints had a manifest: still loaded, their size checked but no checksum. */
const FORMAT_WITHOUT_MANIFEST = "dml-checkpoint-1";
const TYPES = { f32: Float32Array, i32: Int32Array, u8: Uint8Array } as const;
type TypeTag = keyof typeof TYPES;

/** What `manifest.json` holds: the checksum of every other file of the checkpoint. */
interface Manifest {
  format: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

/**
 * Marks a temporary folder or a replaced checkpoint beside `dir`; only the process holding the run
 * folder's lock writes them, so {@link removeStaleWrites} may clear any it finds.
 */
const TMP = ".tmp-", OLD = ".old-";

/** Writes `state` atomically as the folder `dir`, replacing an older one of that name. */
export async function saveCheckpoint(dir: string, state: State): Promise<void> {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const encode = (v: State): unknown => {
    if (v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array) {
      const tag: TypeTag = v instanceof Float32Array ? "f32" : v instanceof Int32Array ? "i32" : "u8";
      const pad = (4 - (offset % 4)) % 4;
      if (pad) chunks.push(new Uint8Array(pad)), offset += pad;
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
      chunks.push(bytes);
      const ref = { $t: tag, o: offset, n: v.length };
      offset += bytes.byteLength;
      return ref;
    }
    if (Array.isArray(v)) return v.map(encode);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
    }
    if (typeof v === "number" && !Number.isFinite(v)) return { $n: String(v) };
    return v;
  };
  const encoded = encode(state);
  const blob = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) blob.set(c, at), at += c.byteLength;
  const body = new TextEncoder().encode(JSON.stringify({ format: FORMAT, bytes: offset, state: encoded }));
  const manifest: Manifest = {
    format: FORMAT,
    files: { "state.json": await describe(body), "tensors.bin": await describe(blob) },
  };

  const tmp = `${dir}${TMP}${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await Deno.writeFile(`${tmp}/tensors.bin`, blob);
    await Deno.writeFile(`${tmp}/state.json`, body);
    // Last: a folder with a manifest has every file it names.
    await Deno.writeTextFile(`${tmp}/manifest.json`, JSON.stringify(manifest));
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  const old = `${dir}${OLD}${crypto.randomUUID().slice(0, 8)}`;
  const exists = await Deno.stat(dir).then(() => true, () => false);
  if (exists) await Deno.rename(dir, old);
  await Deno.rename(tmp, dir);
  if (exists) await Deno.remove(old, { recursive: true });
}

/** Reads a checkpoint folder; anything missing, inconsistent or damaged is a DmlError naming it. */
export async function loadCheckpoint(dir: string): Promise<State> {
  let body: Uint8Array, blob: Uint8Array;
  try {
    // Bounded: a state.json or tensors.bin that is a FIFO or a device is refused, not read forever.
    body = await readBounded(`${dir}/state.json`, "checkpoint file");
    blob = await readBounded(`${dir}/tensors.bin`, "checkpoint file");
  } catch (e) {
    const why = e instanceof DmlError ? e.message : (e as Error).message.split(":")[0];
    throw new DmlError(`${dir}: unreadable checkpoint (${why})`);
  }
  let doc: { format?: string; bytes?: number; state?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new DmlError(`${dir}/state.json: not valid JSON (truncated or corrupt checkpoint)`);
  }
  const manifest = await readManifest(dir);
  if (manifest) await verify(dir, manifest, { "state.json": body, "tensors.bin": blob });
  if (doc.format !== FORMAT && doc.format !== FORMAT_WITHOUT_MANIFEST) {
    throw new DmlError(`${dir}: not a dml checkpoint (format ${JSON.stringify(doc.format)})`);
  }
  if (!manifest && doc.format === FORMAT) throw new DmlError(`${dir}: damaged checkpoint (manifest.json is missing)`);
  if (doc.bytes !== blob.byteLength) {
    throw new DmlError(
      `${dir}/tensors.bin: ${blob.byteLength} bytes, the checkpoint expects ${doc.bytes} (truncated?)`,
    );
  }
  const decode = (v: unknown): State => {
    if (Array.isArray(v)) return v.map(decode);
    if (v !== null && typeof v === "object") {
      const r = v as Record<string, unknown>;
      if (typeof r.$t === "string") {
        const T = TYPES[r.$t as TypeTag];
        const o = r.o as number, n = r.n as number;
        if (
          !T || !Number.isSafeInteger(o) || !Number.isSafeInteger(n) || o < 0 || n < 0 || o % T.BYTES_PER_ELEMENT ||
          o + n * T.BYTES_PER_ELEMENT > blob.byteLength
        ) {
          throw new DmlError(`${dir}: corrupt tensor reference`);
        }
        return new T(blob.slice(o, o + n * T.BYTES_PER_ELEMENT).buffer) as State;
      }
      if (typeof r.$n === "string") return Number(r.$n);
      return Object.fromEntries(Object.entries(r).map(([k, x]) => [k, decode(x)]));
    }
    return v as State;
  };
  return decode(doc.state);
}

/**
 * Clears what interrupted writes left in a folder of checkpoints: temporary folders, and replaced
 * checkpoints (put back when the write that replaced them did not finish). Call it only while
 * holding the run folder's lock, so that no live writer owns them.
 */
export async function removeStaleWrites(root: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) names.push(e.name);
  } catch {
    return []; // no checkpoints yet
  }
  const removed: string[] = [];
  for (const name of names.sort()) {
    const tmp = name.indexOf(TMP), old = name.indexOf(OLD);
    if (tmp > 0) {
      await Deno.remove(`${root}/${name}`, { recursive: true });
      removed.push(name);
    } else if (old > 0) {
      const final = `${root}/${name.slice(0, old)}`;
      if (await Deno.stat(final).then(() => true, () => false)) {
        await Deno.remove(`${root}/${name}`, { recursive: true });
      } else await Deno.rename(`${root}/${name}`, final);
      removed.push(name);
    }
  }
  return removed;
}

/** Removes a checkpoint folder; renamed first, so that an interrupted removal leaves no half checkpoint. */
export async function removeCheckpoint(dir: string): Promise<void> {
  const doomed = `${dir}${TMP}${crypto.randomUUID().slice(0, 8)}`;
  await Deno.rename(dir, doomed);
  await Deno.remove(doomed, { recursive: true });
}

async function describe(bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
  return { bytes: bytes.byteLength, sha256: await sha256(bytes) };
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readManifest(dir: string): Promise<Manifest | null> {
  const path = `${dir}/manifest.json`;
  // Checkpoints written before manifests existed have none.
  if (await Deno.lstat(path).then(() => false, (e) => e instanceof Deno.errors.NotFound)) return null;
  let text: string;
  try {
    text = await readTextBounded(path, "checkpoint manifest");
  } catch (e) {
    if (e instanceof DmlError) throw e;
    throw new DmlError(`${path}: unreadable (${(e as Error).message.split(":")[0]})`);
  }
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.format === FORMAT && m.files && typeof m.files === "object") return m;
  } catch { /* refused below */ }
  throw new DmlError(`${dir}/manifest.json: damaged (not the manifest of a ${FORMAT} checkpoint)`);
}

/** Every file the checkpoint is made of has the size and checksum its manifest recorded. */
async function verify(dir: string, manifest: Manifest, files: Record<string, Uint8Array>): Promise<void> {
  for (const [name, bytes] of Object.entries(files)) {
    const want = manifest.files[name];
    if (!want) throw new DmlError(`${dir}/manifest.json: damaged (no entry for ${name})`);
    if (want.bytes !== bytes.byteLength) {
      throw new DmlError(`${dir}/${name}: ${bytes.byteLength} bytes, the manifest records ${want.bytes} (truncated?)`);
    }
    if (want.sha256 !== await sha256(bytes)) {
      throw new DmlError(`${dir}/${name}: damaged (its SHA-256 differs from the manifest's)`);
    }
  }
}
