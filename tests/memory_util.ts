/**
 * Helpers for the cross-batch memory tests (xbm, xbn, ring buffer): a float64 FIFO model, a
 * small contrastive loss (official XBM form or hinge) in tfjs and in float64, and a tiny
 * training loop that drives a memory exactly as the trainer does.
 */
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { pairMatrix } from "../core/pairs.ts";
import type { Memory, Reference } from "../core/types.ts";
import { Rng } from "../core/rng.ts";
import { CrossBatchNorm } from "../plugins/xbn/mod.ts";

/** A plain FIFO of rows written at `(written + i) mod size`: the reference for the ring buffer. */
export class FifoModel {
  slots: (number[] | null)[];
  labels: number[];
  written = 0;
  constructor(readonly size: number) {
    this.slots = Array(size).fill(null);
    this.labels = Array(size).fill(0);
  }
  enqueue(rows: number[][], y: number[]): number[] {
    const slots = rows.map((r, i) => {
      const slot = (this.written + i) % this.size;
      this.slots[slot] = r.slice();
      this.labels[slot] = y[i];
      return slot;
    });
    this.written += rows.length;
    return slots;
  }
  get count(): number {
    return Math.min(this.size, this.written);
  }
  rows(): number[][] {
    return this.slots.slice(0, this.count) as number[][];
  }
}

/**
 * Contrastive loss on the dot similarity, sum over pairs and mean over anchors. `official`:
 * the XBM code's negative term `s` (for s > margin); else the hinge `s - margin`.
 */
export function contrastive(e: Tensor2D, y: Tensor1D, ref?: Reference, margin = 0.5, official = false): Scalar {
  return tf.tidy(() => {
    const { sim, pos, neg } = pairMatrix(e, y, ref, "dot");
    const posTerm = tf.mul(pos, tf.sub(1, sim));
    const active = tf.mul(neg, tf.step(tf.sub(sim, margin)));
    const negTerm = official ? tf.mul(active, sim) : tf.mul(neg, tf.relu(tf.sub(sim, margin)));
    return tf.div(tf.sum(tf.add(posTerm, negTerm)), e.shape[0]) as Scalar;
  });
}

/** Float64 twin of {@link contrastive}. */
export function contrastive64(
  a: number[][],
  ya: number[],
  r: number[][],
  yr: number[],
  selfIndex: ArrayLike<number> | null,
  margin = 0.5,
  official = false,
): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < r.length; j++) {
      if (selfIndex && selfIndex[i] === j) continue;
      const s = a[i].reduce((acc, v, k) => acc + v * r[j][k], 0);
      if (ya[i] === yr[j]) total += 1 - s;
      else if (s > margin) total += official ? s : s - margin;
    }
  }
  return total / a.length;
}

/** Rows of a 2-D tensor as float64 arrays. */
export function rows(t: tf.Tensor): number[][] {
  return t.arraySync() as number[][];
}

export interface StepRecord {
  step: number;
  total: number;
  batch: number;
  memory: number | null;
}

/**
 * A toy run: a trainable table of `n` embeddings (`classes` classes), batches of `batch` rows,
 * Adam, and the trainer's memory protocol (update before the loss unless `after-step`).
 */
export function toyRun(memory: Memory | null, opts: { steps: number; n?: number; dim?: number; batch?: number }) {
  const { steps, n = 48, dim = 8, batch = 8 } = opts;
  const rng = new Rng(7);
  const table: Variable = tf.variable(tf.tensor2d(Array.from({ length: n * dim }, () => rng.normal()), [n, dim]));
  const labels = Array.from({ length: n }, (_, i) => i % 4);
  const optimizer = tf.train.adam(0.05);
  const records: StepRecord[] = [];
  const counts: number[] = [];
  for (let step = 0; step < steps; step++) {
    const idx = Array.from({ length: batch }, () => rng.int(n));
    let batchLoss = 0, memLoss: number | null = null;
    let kept = null as { e: Tensor2D; y: Tensor1D } | null;
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const e = tf.gather(table, tf.tensor1d(idx, "int32")) as Tensor2D;
        const y = tf.tensor1d(idx.map((i) => labels[i]), "int32");
        if (memory && memory.order !== "after-step") memory.update(e, y, step);
        else if (memory) kept = { e: tf.keep(e), y: tf.keep(y) };
        const ref = memory?.reference() ?? null;
        const lb = contrastive(e, y);
        batchLoss = lb.dataSync()[0];
        let L: Scalar = ref && !memory!.batchLoss ? tf.scalar(0) : lb;
        if (ref) {
          const lm = contrastive(e, y, ref);
          memLoss = lm.dataSync()[0];
          L = tf.add(L, tf.mul(memory!.weight, lm));
        }
        return L;
      }, [table]);
      optimizer.applyGradients(grads as unknown as Record<string, Variable>);
      records.push({ step, total: value.dataSync()[0], batch: batchLoss, memory: memLoss });
    });
    if (kept) {
      const { e, y } = kept;
      memory!.update(e, y, step);
      tf.dispose([e, y]);
    }
    counts.push((memory as unknown as { count?: number })?.count ?? 0);
  }
  const final = table.arraySync() as number[][];
  table.dispose();
  optimizer.dispose();
  return { records, counts, final };
}

/** A CrossBatchNorm with the tests' defaults (16 slots from step 0, weight 1, before the loss, normalised). */
export const xbn = (o: Partial<ConstructorParameters<typeof CrossBatchNorm>[0]> = {}): CrossBatchNorm =>
  new CrossBatchNorm({
    size: 16,
    start: 0,
    weight: 1,
    batchLoss: false,
    order: "before-loss",
    normalize: true,
    eps: 1e-6,
    ...o,
  });
