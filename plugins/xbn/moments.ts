/**
 * XBN's moment matching (Ajanthan et al. 2023, Eq. 6): per dimension j, every stored
 * embedding is mapped affinely so that the memory's mean and standard deviation become the
 * target's (the current batch's, or the Kalman estimate of AXBN):
 *
 * ```
 * ẑ_j = (z_j − E[R]_j) / σ[R]_j · σ_target_j + μ_target_j
 * ```
 *
 * Both sides use the population standard deviation, so the adapted memory's moments equal the
 * target exactly (up to `eps`).
 *
 * ```ts
 * const { mean, std } = columnMoments(batch);              // [D] each
 * const adapted = matchMoments(memory, mean, std, 1e-6);   // [M, D]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";

/** Per-column mean and population standard deviation of `x` [N, D]. */
export function columnMoments(x: Tensor2D): { mean: Tensor1D; std: Tensor1D } {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, 0);
    return { mean: mean as Tensor1D, std: tf.sqrt(variance) as Tensor1D };
  });
}

/** `memory` [M, D] re-standardised per column to `mean`, `std` [D]; `eps` guards a constant column. */
export function matchMoments(memory: Tensor2D, mean: Tensor1D, std: Tensor1D, eps: number): Tensor2D {
  return tf.tidy(() => {
    const m = columnMoments(memory);
    const scale = tf.div(std, tf.add(m.std, eps));
    return tf.add(tf.mul(tf.sub(memory, m.mean), scale), mean) as Tensor2D;
  });
}
