/**
 * The activation diversity loss (ICCV BIER) and the unit-norm weight penalty that makes it
 * meaningful (without it the loss is minimised by shrinking the weights).
 *
 * ```
 * L_act = Σ_{i<j} mean_{n,k,l} (r_i[n,k] · r_j[n,l])²
 *       = Σ_{i<j} 1/(B d_i d_j) Σ_n ‖r_i[n]‖² ‖r_j[n]‖²          (squared per sample, then averaged)
 * P(W)  = mean( (Σ_axis W² − 1)² )
 * ```
 *
 * ```ts
 * const act = activationLoss([r1, r2, r3]);             // r_m = h W_m, [B, d_m]
 * const pen = unitNormPenalty(W1, "outputs");           // W1 [F, d_1]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor2D } from "@tensorflow/tfjs-core";

/** `inputs`: Σ over a row of W [F, d] (axis 1, one per input); `outputs`: over a column (axis 0, one per neuron). */
export type NormAxis = "inputs" | "outputs";

/** L_act of the learners' activations `r` (no bias, not normalised), by its closed form. */
export function activationLoss(r: Tensor2D[]): Scalar {
  return tf.tidy(() => {
    const sq = r.map((x) => tf.sum(tf.square(x), 1)); // ‖r_m[n]‖², [B]
    const terms: Scalar[] = [];
    for (let i = 0; i < r.length; i++) {
      for (let j = i + 1; j < r.length; j++) {
        terms.push(tf.div(tf.mean(tf.mul(sq[i], sq[j])), r[i].shape[1] * r[j].shape[1]) as Scalar);
      }
    }
    if (terms.length === 0) return tf.scalar(0);
    return terms.length === 1 ? terms[0] : tf.addN(terms) as Scalar;
  });
}

/** mean((Σ_axis W² − 1)²) of a dense kernel W [F, d]. */
export function unitNormPenalty(w: Tensor2D, axis: NormAxis): Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(tf.sum(tf.square(w), axis === "inputs" ? 1 : 0), 1))) as Scalar);
}
