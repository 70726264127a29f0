/**
 * Anchors vs references with masks: the one place pair-based losses get their similarity
 * matrix and their positive / negative masks, so that each loss defines only its per-pair term
 * (the pytorch-metric-learning pattern).
 *
 * The reference set is the batch itself unless a {@link Reference} is given (a memory); each
 * anchor's own copy (`selfIndex`, by index — never by distance) is neither positive nor negative.
 *
 * ```ts
 * const { sim, pos, neg } = pairMatrix(e, y, undefined, "cosine"); // [B, B] each
 * ```
 */
import { tf } from "./tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import type { Reference } from "./types.ts";

export type Metric = "cosine" | "dot" | "euclidean" | "squared-euclidean";
export const METRICS: readonly Metric[] = ["cosine", "dot", "euclidean", "squared-euclidean"];

export interface PairMatrix {
  /** Similarity (cosine, dot) or distance (euclidean) of anchor i to reference j, [B, N]. */
  sim: Tensor2D;
  /** 1 where j is a positive of i (same label, not i's own copy), else 0; float32 [B, N]. */
  pos: Tensor2D;
  /** 1 where j is a negative of i, else 0; float32 [B, N]. */
  neg: Tensor2D;
  /** Whether larger `sim` means closer (cosine, dot) or farther (distances). */
  isSimilarity: boolean;
}

/** L2-normalises rows; a zero row stays zero. */
export function l2normalize(x: Tensor2D, eps = 1e-12): Tensor2D {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), eps * eps));
    return tf.div(x, norm) as Tensor2D;
  });
}

/** Similarity or distance of every row of `a` [B, D] to every row of `b` [N, D]. */
export function pairwise(a: Tensor2D, b: Tensor2D, metric: Metric): Tensor2D {
  return tf.tidy(() => {
    switch (metric) {
      case "cosine":
        return tf.matMul(l2normalize(a), l2normalize(b), false, true);
      case "dot":
        return tf.matMul(a, b, false, true);
      case "squared-euclidean":
      case "euclidean": {
        const aa = tf.sum(tf.square(a), 1, true); // [B, 1]
        const bb = tf.reshape(tf.sum(tf.square(b), 1), [1, -1]); // [1, N]
        const d2 = tf.relu(tf.sub(tf.add(aa, bb), tf.mul(2, tf.matMul(a, b, false, true)))) as Tensor2D;
        // sqrt has an infinite gradient at 0 (self pairs): keep it finite.
        return metric === "euclidean" ? tf.sqrt(tf.add(d2, 1e-12)) as Tensor2D : d2;
      }
    }
  });
}

/** The batch as its own reference set: anchor i's own copy is slot i. */
export function batchReference(e: Tensor2D, y: Tensor1D): Reference {
  const selfIndex = new Int32Array(e.shape[0]);
  for (let i = 0; i < selfIndex.length; i++) selfIndex[i] = i;
  return { e, y, selfIndex };
}

/** Similarity matrix and masks of anchors `e`, `y` against `ref` (default: the batch). */
export function pairMatrix(e: Tensor2D, y: Tensor1D, ref: Reference | undefined, metric: Metric): PairMatrix {
  const r = ref ?? batchReference(e, y);
  return tf.tidy(() => {
    const sim = pairwise(e, r.e, metric);
    const same = tf.cast(tf.equal(tf.reshape(y, [-1, 1]), tf.reshape(r.y, [1, -1])), "float32") as Tensor2D;
    const valid = selfMask(e.shape[0], r.e.shape[0], r.selfIndex);
    const pos = valid ? tf.mul(same, valid) as Tensor2D : same;
    const diff = tf.sub(1, same) as Tensor2D;
    const neg = valid ? tf.mul(diff, valid) as Tensor2D : diff;
    return { sim, pos, neg, isSimilarity: metric === "cosine" || metric === "dot" };
  });
}

/** 0 at (i, selfIndex[i]), 1 elsewhere; null when no anchor has a copy in the references. */
export function selfMask(b: number, n: number, selfIndex?: Int32Array): Tensor2D | null {
  if (!selfIndex || selfIndex.every((s) => s < 0)) return null;
  if (selfIndex.length !== b) throw new Error(`selfIndex has ${selfIndex.length} entries for ${b} anchors`);
  // oneHot of -1 is an all-zero row: anchors without a copy keep every pair.
  return tf.tidy(() => tf.sub(1, tf.oneHot(tf.tensor1d(selfIndex, "int32"), n)) as Tensor2D);
}
