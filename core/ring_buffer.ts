/**
 * A FIFO ring buffer of (embedding, label) pairs kept in non-trainable tf.Variables: the
 * storage that cross-batch memories (XBM, XBN) share. Rows are written at slots
 * `(ptr + i) mod size`, so the oldest entries are always the ones overwritten, for any size,
 * batch size and embedding dim. While not full, the filled rows are exactly `[0, count)`; so a
 * row of {@link RingBuffer.view} is its slot, which is how a memory tells a loss where each
 * anchor's own copy sits (`Reference.selfIndex`).
 *
 * Writes go through `Variable.assign`, which tfjs's gradient tape does not follow: no gradient
 * ever reaches a stored entry, even when the batch is enqueued inside `tf.variableGrads`.
 *
 * ```ts
 * const ring = new RingBuffer(8192, 128);
 * const slots = ring.enqueue(e, y);       // Int32Array: where each row of e went
 * const ref = ring.reference(slots);      // { e: [count, 128], y: [count], selfIndex: slots }
 * const saved = await ring.state();             // plain data for a checkpoint
 * ```
 */
import { tf } from "./tf.ts";
import type { Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { check, DmlError } from "./errors.ts";
import type { Reference, State } from "./types.ts";

/** What {@link RingBuffer.state} returns: only the filled rows are kept. */
export interface RingState {
  size: number;
  dim: number;
  ptr: number;
  count: number;
  /** Rows of slots `[0, count)`, row-major `[count, dim]`. */
  feats: Float32Array;
  labels: Int32Array;
}

export class RingBuffer {
  /** Next slot to write. */
  ptr = 0;
  /** Filled slots (at most `size`). */
  count = 0;
  /** Refuses batches with NaN or Infinity. */
  readonly guard: FiniteGuard;
  /** The train-split row each slot came from, -1 where unknown (host side; reports only, not checkpointed). */
  readonly items: Int32Array;
  private feats: Variable;
  private labels: Variable;

  /**
   * @param size capacity in entries
   * @param dim embedding dim
   * @param what how error messages name this buffer's owner (a recipe path, e.g. "memory")
   */
  constructor(readonly size: number, readonly dim: number, readonly what = "memory") {
    check(Number.isInteger(size) && size >= 1, `${what}.size: expected an integer >= 1, got ${size}`);
    check(Number.isInteger(dim) && dim >= 1, `${what}: embedding dim must be an integer >= 1, got ${dim}`);
    this.guard = new FiniteGuard(what);
    this.feats = tf.variable(tf.zeros([size, dim], "float32"), false);
    this.labels = tf.variable(tf.zeros([size], "int32"), false);
    this.items = new Int32Array(size).fill(-1);
  }

  /**
   * Writes the batch `e` [B, dim], `y` [B] over the oldest entries and returns the slot of each
   * row. A batch holding NaN or Infinity is refused and nothing is written (see {@link FiniteGuard}).
   * `ok` is the caller's verdict on the same batch from `guard.check(e)`, when it already asked;
   * `items`, the batch's rows in the train split, for {@link RingBuffer.items}.
   */
  enqueue(e: Tensor2D, y: Tensor1D, ok?: Tensor | null, items?: Int32Array): Int32Array {
    const b = e.shape[0];
    this.checkBatch(e, y);
    const verdict = ok === undefined ? this.guard.check(e) : ok;
    const slots = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      slots[i] = (this.ptr + i) % this.size;
      this.items[slots[i]] = items?.[i] ?? -1;
    }
    tf.tidy(() => {
      let rows: Tensor = e, ys: Tensor = tf.cast(y, "int32");
      if (verdict) {
        // Not known finite yet (no synchronous read here): a refused batch rewrites the old rows.
        const at = tf.tensor1d(slots, "int32");
        rows = tf.where(verdict, rows, tf.gather(this.feats, at));
        ys = tf.where(verdict, ys, tf.gather(this.labels, at));
      }
      this.feats.assign(writeRows(this.feats, rows, this.ptr));
      this.labels.assign(writeRows(this.labels, ys, this.ptr));
    });
    if (verdict && ok === undefined) verdict.dispose();
    this.ptr = (this.ptr + b) % this.size;
    this.count = Math.min(this.size, this.count + b);
    return slots;
  }

  /** The filled entries as new tensors the caller owns (row = slot), or null while empty. */
  view(): { e: Tensor2D; y: Tensor1D } | null {
    if (this.count === 0) return null;
    return tf.tidy(() => ({
      e: tf.slice(this.feats, [0, 0], [this.count, this.dim]) as Tensor2D,
      y: tf.slice(this.labels, [0], [this.count]) as Tensor1D,
    }));
  }

  /** The filled embeddings (the caller owns them) and the train row of each, or null while empty. */
  stored(): { e: Tensor2D; items: Int32Array } | null {
    if (this.count === 0) return null;
    const e = tf.slice(this.feats, [0, 0], [this.count, this.dim]) as Tensor2D;
    return { e, items: this.items.slice(0, this.count) };
  }

  /**
   * The filled entries as a loss's reference set; `selfSlots[i]` is the slot of anchor i's own
   * copy (what {@link enqueue} returned this step), omitted when the anchors are not stored.
   */
  reference(selfSlots?: Int32Array | null): Reference | null {
    const v = this.view();
    if (!v) return null;
    return selfSlots ? { ...v, selfIndex: selfSlots } : v;
  }

  /**
   * Replaces the filled entries' embeddings by `filled` [count, dim] (e.g. XBN's re-standardised
   * copy); with an `ok` verdict from {@link FiniteGuard.check}, only where it holds.
   */
  replaceFilled(filled: Tensor2D, ok?: Tensor | null): void {
    const [n, d] = filled.shape;
    if (n !== this.count || d !== this.dim) {
      throw new Error(`replaceFilled: expected [${this.count}, ${this.dim}], got [${n}, ${d}]`);
    }
    tf.tidy(() => {
      const old = tf.slice(this.feats, [0, 0], [n, d]) as Tensor2D;
      const next = ok ? tf.where(ok, filled, old) : filled;
      const rest = this.size - n;
      this.feats.assign(rest === 0 ? tf.clone(next) : tf.concat([next, tf.slice(this.feats, [n, 0], [rest, d])], 0));
    });
  }

  /** Plain data for a checkpoint (the filled rows, the write pointer and the count). */
  async state(): Promise<RingState> {
    const v = this.view();
    const out: RingState = {
      size: this.size,
      dim: this.dim,
      ptr: this.ptr,
      count: this.count,
      // Copies: a backend may hand out views of its own buffers.
      feats: v ? new Float32Array(await v.e.data()) : new Float32Array(0),
      labels: v ? new Int32Array(await v.y.data()) : new Int32Array(0),
    };
    if (v) tf.dispose([v.e, v.y]);
    return out;
  }

  /** Restores {@link state}; a state of another size or dim, or an inconsistent one, is a DmlError. */
  load(s: State): void {
    const r = readRingState(s, this.what);
    if (r.size !== this.size) {
      throw new DmlError(
        `${this.what}: the checkpoint's memory holds ${r.size} entries but ${this.what}.size is ${this.size}`,
      );
    }
    if (r.dim !== this.dim) {
      throw new DmlError(
        `${this.what}: the checkpoint's memory holds ${r.dim}-d embeddings but the model's embedding dim is ${this.dim}`,
      );
    }
    tf.tidy(() => {
      // Slots past `count` were never written: zeros, as in a fresh buffer.
      const feats = new Float32Array(this.size * this.dim);
      feats.set(r.feats);
      const labels = new Int32Array(this.size);
      labels.set(r.labels);
      this.feats.assign(tf.tensor2d(feats, [this.size, this.dim], "float32"));
      this.labels.assign(tf.tensor1d(labels, "int32"));
    });
    this.ptr = r.ptr;
    this.count = r.count;
    this.items.fill(-1);
  }

  /** Frees the two variables. */
  dispose(): void {
    this.feats.dispose();
    this.labels.dispose();
  }

  /** Refuses (DmlError) a batch this buffer cannot take: another dim, or more rows than `size`. */
  checkBatch(e: Tensor2D, y: Tensor1D): void {
    if (e.rank !== 2) throw new DmlError(`${this.what}: expected embeddings [B, D], got shape [${e.shape}]`);
    const [b, d] = e.shape;
    if (d !== this.dim) {
      throw new DmlError(
        `${this.what}: the memory holds ${this.dim}-d embeddings but the model gives ${d}-d ones`,
      );
    }
    if (b > this.size) {
      throw new DmlError(
        `${this.what}.size: ${this.size} is smaller than the batch (${b}); the memory must hold at least one batch`,
      );
    }
    if (y.rank !== 1 || y.shape[0] !== b) {
      throw new Error(`${this.what}: ${b} embeddings but labels of shape [${y.shape}]`);
    }
  }
}

/** Refuses (DmlError) a memory `size` smaller than the batch: it could not hold the anchors' own copies. */
export function checkHoldsBatch(size: number, batchSize: number | undefined, path = "memory"): void {
  check(
    batchSize === undefined || size >= batchSize,
    () => `${path}.size: ${size} is smaller than the batch (${batchSize}); the memory must hold at least one batch`,
  );
}

/**
 * Refuses batches holding NaN or Infinity, so that they never reach a memory, with a one-line
 * DmlError. Where the backend reads synchronously (cpu, wasm) the error comes at once, before
 * anything is written. WebGPU under Deno cannot read synchronously (and a per-step read would
 * stall the GPU): there the verdict stays on the device, the write is masked with it, and the
 * error comes at the next `check` once the verdict has been read back.
 *
 * ```ts
 * const ok = ring.guard.check(e);   // null: known finite; else a bool scalar to mask writes with
 * ring.enqueue(e, y, ok);
 * ok?.dispose();
 * ```
 */
export class FiniteGuard {
  private refused: string | null = null;

  constructor(readonly what = "memory") {}

  /** Throws a refusal seen since the last call; then judges `e` (see the class doc). The caller owns the result. */
  check(e: Tensor): Tensor | null {
    this.raise();
    if (tf.getBackend() !== "webgpu") {
      const ok = tf.tidy(() => tf.all(tf.isFinite(e)).dataSync()[0]);
      if (!ok) throw new DmlError(this.message());
      return null;
    }
    const ok = tf.keep(tf.tidy(() => tf.all(tf.isFinite(e))));
    const probe = tf.keep(tf.clone(ok));
    probe.data().then((v) => {
      if (!v[0]) this.refused = this.message();
    }).finally(() => probe.dispose());
    return ok;
  }

  /** Throws the refusal noticed on the device, if any. */
  raise(): void {
    if (this.refused === null) return;
    const m = this.refused;
    this.refused = null;
    throw new DmlError(m);
  }

  private message(): string {
    return `${this.what}: the batch's embeddings hold NaN or Infinity; refusing to write them into the memory (training diverged? try a lower learning rate)`;
  }
}

/** `buf` with rows `[at, at + rows)` (wrapping around the end) replaced by `rows`. */
function writeRows(buf: Tensor, rows: Tensor, at: number): Tensor {
  const size = buf.shape[0], b = rows.shape[0];
  const part = (t: Tensor, from: number, to: number) => {
    const begin = t.shape.map((_, k) => (k === 0 ? from : 0));
    const len = t.shape.map((n, k) => (k === 0 ? to - from : n));
    return tf.slice(t, begin, len);
  };
  const parts: Tensor[] = [];
  if (at + b <= size) {
    if (at > 0) parts.push(part(buf, 0, at));
    parts.push(rows);
    if (at + b < size) parts.push(part(buf, at + b, size));
  } else {
    // Wrap-around: the batch's tail goes to the front slots, its head to the end.
    const head = size - at, tail = b - head;
    parts.push(part(rows, head, b));
    if (at > tail) parts.push(part(buf, tail, at));
    parts.push(part(rows, 0, head));
  }
  return parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts, 0);
}

function readRingState(s: State, what: string): RingState {
  const bad = (why: string) => new DmlError(`${what}: the checkpoint's memory state is unusable (${why})`);
  if (s === null || typeof s !== "object" || Array.isArray(s) || ArrayBuffer.isView(s)) throw bad("not a mapping");
  const o = s as Record<string, State>;
  for (const k of ["size", "dim", "ptr", "count"]) {
    if (typeof o[k] !== "number" || !Number.isInteger(o[k])) throw bad(`${k} is not an integer`);
  }
  const r = o as unknown as RingState;
  if (!(r.feats instanceof Float32Array) || !(r.labels instanceof Int32Array)) throw bad("feats/labels arrays missing");
  if (r.count < 0 || r.count > r.size) throw bad(`count ${r.count} outside [0, ${r.size}]`);
  if (r.ptr < 0 || r.ptr >= r.size || (r.count < r.size && r.ptr !== r.count)) {
    throw bad(`write pointer ${r.ptr} does not fit count ${r.count}`);
  }
  if (r.feats.length !== r.count * r.dim || r.labels.length !== r.count) throw bad("array lengths do not match count");
  return r;
}
