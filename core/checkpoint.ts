/**
 * Checkpoints: a folder holding `state.json` (the structure) and `tensors.bin` (every typed array,
 * referenced from the JSON by offset). Written to a temporary folder and renamed into place, so a
 * crash never leaves a half-written checkpoint; a damaged one is refused with one clear line.
 *
 * ```ts
 * await saveCheckpoint("runs/x/ckpt/epoch-0001", { step: 10, w: new Float32Array(4) });
 * const s = await loadCheckpoint("runs/x/ckpt/epoch-0001");
 * ```
 */
import { DmlError } from "./errors.ts";
import type { State } from "./types.ts";

const FORMAT = "dml-checkpoint-1";
const TYPES = { f32: Float32Array, i32: Int32Array, u8: Uint8Array } as const;
type TypeTag = keyof typeof TYPES;

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
  const json = JSON.stringify({ format: FORMAT, bytes: 0, state: encode(state) });
  const blob = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) blob.set(c, at), at += c.byteLength;
  const body = JSON.stringify({ ...JSON.parse(json), bytes: offset });

  const tmp = `${dir}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.writeFile(`${tmp}/tensors.bin`, blob);
  await Deno.writeTextFile(`${tmp}/state.json`, body);
  const old = `${dir}.old-${crypto.randomUUID().slice(0, 8)}`;
  const exists = await Deno.stat(dir).then(() => true, () => false);
  if (exists) await Deno.rename(dir, old);
  await Deno.rename(tmp, dir);
  if (exists) await Deno.remove(old, { recursive: true });
}

/** Reads a checkpoint folder; anything missing or inconsistent is a DmlError naming it. */
export async function loadCheckpoint(dir: string): Promise<State> {
  let text: string, blob: Uint8Array;
  try {
    text = await Deno.readTextFile(`${dir}/state.json`);
    blob = await Deno.readFile(`${dir}/tensors.bin`);
  } catch (e) {
    throw new DmlError(`${dir}: unreadable checkpoint (${(e as Error).message.split(":")[0]})`);
  }
  let doc: { format?: string; bytes?: number; state?: unknown };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DmlError(`${dir}/state.json: not valid JSON (truncated or corrupt checkpoint)`);
  }
  if (doc.format !== FORMAT) throw new DmlError(`${dir}: not a dml checkpoint (format ${JSON.stringify(doc.format)})`);
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
        if (!T || o < 0 || o + n * T.BYTES_PER_ELEMENT > blob.byteLength) {
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
