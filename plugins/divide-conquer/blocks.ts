/**
 * The embedding as K learners: learner k owns the dims [k·D/K, (k+1)·D/K). The official model
 * L2-normalises every block in its forward pass, so the full vector is K unit blocks (norm √K);
 * the loss then re-normalises whatever it is given (a block, or the full vector).
 *
 * ```ts
 * const e = tf.tensor2d([[3, 4, 0, 0, 1, 1, 1, 1]]);
 * learnerBlock(e, 0, 2, true);  // [[0.6, 0.8, 0, 0]]
 * unitBlocks(e, 2);             // [[0.6, 0.8, 0, 0, 0.5, 0.5, 0.5, 0.5]]
 * fullEmbedding(e, 2, true);    // the line above / √2
 * ```
 */
import { tf } from "../../core/tf.ts";
import { l2normalize } from "../../core/pairs.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";

/** Learner k's slice of `e` [B, D] (D divisible by K), L2-normalised when `normalize`. */
export function learnerBlock(e: Tensor2D, k: number, clusters: number, normalize: boolean): Tensor2D {
  const width = e.shape[1] / clusters;
  return tf.tidy(() => {
    const block = tf.slice(e, [0, k * width], [-1, width]) as Tensor2D;
    return normalize ? l2normalize(block) : block;
  });
}

/** Every learner's block L2-normalised on its own, concatenated: [B, D], norm √K per row. */
export function unitBlocks(e: Tensor2D, clusters: number): Tensor2D {
  if (clusters === 1) return l2normalize(e);
  return tf.tidy(() => {
    const [b, d] = e.shape;
    // [B, K, D/K]: normalising the last axis normalises each block.
    const blocks = tf.reshape(e, [b, clusters, d / clusters]);
    const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(blocks), 2, true), 1e-24));
    return tf.reshape(tf.div(blocks, norm), [b, d]) as Tensor2D;
  });
}

/** The full embedding as the loss sees it: unit blocks re-normalised to one unit vector, or raw. */
export function fullEmbedding(e: Tensor2D, clusters: number, normalize: boolean): Tensor2D {
  if (!normalize) return e;
  return tf.tidy(() => l2normalize(unitBlocks(e, clusters)));
}
