/**
 * The reductions the losses share, written once so every loss states its reduction by name:
 * PML's AvgNonZeroReducer, a masked log(1 + Σ exp) (PML's `logsumexp(add_one=True)`), and a masked
 * log Σ exp. Masks are float 0/1 tensors; a row with nothing kept gives 0, never NaN.
 *
 * ```ts
 * const l = avgNonZero(tf.relu(tf.sub(sim, 0.5)), neg); // mean of the active negative terms
 * const ms = logOnePlusSumExp(tf.mul(50, tf.sub(sim, 0.5)), neg); // [B]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor, Tensor1D } from "@tensorflow/tfjs-core";
import { noGrad } from "./no_grad.ts";

/** Pushes masked-out entries below any kept logit (even unbounded dot products); finite, so 0 × it is 0. */
const FAR = 1e30;

/** Σ terms / #(terms > 0) over the masked entries; 0 when none is positive (PML AvgNonZeroReducer). */
export function avgNonZero(terms: Tensor, mask?: Tensor): Scalar {
  return tf.tidy(() => {
    const t = mask ? tf.mul(terms, mask) : terms;
    const active = noGrad([t], (x) => tf.sum(tf.step(x)));
    return tf.div(tf.sum(t), tf.maximum(active, 1)) as Scalar;
  });
}

/** Σ values / max(Σ weights, 1): a weighted mean that is 0 when nothing is weighted. */
export function safeMean(sum: Tensor, count: Tensor): Scalar {
  return tf.div(sum, tf.maximum(count, 1)) as Scalar;
}

/** Whether each row (axis 1) or column (axis 0) keeps anything: 1 or 0, without gradient. */
export function anyKept(mask: Tensor, axis: number): Tensor1D {
  return noGrad([mask], (m) => tf.step(tf.sum(m, axis))) as Tensor1D;
}

/** Per row (axis 1) or column (axis 0): log(1 + Σ_kept exp(x)); 0 where nothing is kept. */
export function logOnePlusSumExp(x: Tensor, mask: Tensor, axis = 1): Tensor1D {
  return tf.tidy(() => {
    const z = tf.sub(tf.mul(x, mask), tf.mul(tf.sub(1, mask), FAR));
    // max(0, kept max) keeps every exp <= 1; the "1 +" is exp(0 - m).
    const m = noGrad([z], (v) => tf.maximum(tf.max(v, axis, true), 0));
    const s = tf.sum(tf.mul(tf.exp(tf.sub(z, m)), mask), axis, true);
    return tf.reshape(tf.add(tf.log(tf.add(s, tf.exp(tf.neg(m)))), m), [-1]) as Tensor1D;
  });
}

/** Per row: log Σ_kept exp(x) (no "1 +"); 0 where nothing is kept. */
export function maskedLogSumExp(x: Tensor, mask: Tensor): Tensor1D {
  return tf.tidy(() => {
    const z = tf.sub(tf.mul(x, mask), tf.mul(tf.sub(1, mask), FAR));
    const m = noGrad([z], (v) => tf.max(v, 1, true));
    const empty = tf.sub(1, tf.reshape(anyKept(mask, 1), [-1, 1]));
    // An empty row sums exp over nothing: use log(1) = 0 there instead of log(0).
    const s = tf.add(tf.sum(tf.mul(tf.exp(tf.sub(z, m)), mask), 1, true), empty);
    return tf.reshape(tf.add(tf.log(s), tf.mul(m, tf.sub(1, empty))), [-1]) as Tensor1D;
  });
}
