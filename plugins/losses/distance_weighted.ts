/**
 * Distance-weighted sampling of negatives (Wu et al., "Sampling matters in deep embedding
 * learning", ICCV 2017), in the form of the divide-and-conquer follow-up code
 * (`DistanceWeightedSampler`, bier_dnc.md §2.5). Pairwise distances of points uniform on the unit
 * sphere S^{n−1} have the density q(d) ∝ d^{n−2} [1 − d²/4]^{(n−3)/2}; sampling a negative with
 * weight 1/q(d) spreads the chosen negatives evenly over distances.
 *
 *   D = max(d, cutoff)
 *   log w = (2 − n) ln D − ((n − 3)/2) ln(1 − D²/4)      (0 for ignored pairs: not a negative, D ≥ 1.4)
 *   w = exp(log w − rowmax log w) + 1e-9;  w = 0 off the negatives;  w = eps where D > nonzeroLossCutoff
 *   K = min(max(1, round(mean positives per anchor)), fewest negatives of any anchor)
 *   each anchor draws K negatives ∝ w without replacement (torch.multinomial, replacement=False)
 *
 * Sampling runs on the device (no read-back, which WebGPU cannot do synchronously) with the
 * Gumbel-top-K trick: the K largest of log w + G, G = −log(−log U), are a draw without replacement
 * ∝ w. U comes from the caller's seeded Rng, so a run resumed with the same Rng state draws the same.
 *
 * ```ts
 * const w = distanceWeights(d, neg, 128, 0.5, 1.4);
 * const chosen = sampleWithoutReplacement(w, negativesPerAnchor(pos, neg), gumbelNoise(rng, b, n));
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor2D } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { noGrad } from "./no_grad.ts";

const FAR = 1e9;

/** The D&C sampler's weights for every pair (0 off the negatives); no gradient. */
export function distanceWeights(
  d: Tensor2D,
  neg: Tensor2D,
  dim: number,
  cutoff: number,
  nonzeroLossCutoff: number,
  eps = 1e-6,
): Tensor2D {
  return noGrad([d, neg], (dist, isNeg) => {
    const D = tf.maximum(dist, cutoff);
    const logW = tf.sub(
      tf.mul(2 - dim, tf.log(D)),
      tf.mul((dim - 3) / 2, tf.log(tf.maximum(tf.sub(1, tf.mul(0.25, tf.square(D))), 1e-30))),
    );
    const notNeg = tf.equal(isNeg, 0);
    const ignore = tf.logicalOr(notNeg, tf.greaterEqual(D, nonzeroLossCutoff));
    const logWIgnored = tf.where(ignore, tf.zerosLike(logW), logW);
    const w = tf.add(tf.exp(tf.sub(logWIgnored, tf.max(logWIgnored, 1, true))), 1e-9);
    const beyond = tf.where(tf.greater(D, nonzeroLossCutoff), tf.fill(D.shape as number[], eps), w);
    return tf.where(notNeg, tf.zerosLike(beyond), beyond);
  }) as Tensor2D;
}

/** K of the D&C sampler: round(mean positives per anchor), at least 1, at most the fewest negatives. */
export function negativesPerAnchor(pos: Tensor2D, neg: Tensor2D): Scalar {
  return noGrad([pos, neg], (p, q) => {
    const meanPos = tf.div(tf.sum(p), p.shape[0]);
    return tf.minimum(tf.maximum(tf.floor(tf.add(meanPos, 0.5)), 1), tf.min(tf.sum(q, 1)));
  }) as Scalar;
}

/** Gumbel noise −log(−log U), U uniform in (0, 1) from `rng`, row-major [rows, cols]. */
export function gumbelNoise(rng: Rng, rows: number, cols: number): Tensor2D {
  const g = new Float32Array(rows * cols);
  for (let i = 0; i < g.length; i++) g[i] = -Math.log(-Math.log((rng.nextUint32() + 0.5) / 4294967296));
  return tf.tensor2d(g, [rows, cols]);
}

/**
 * 1 at the `k` entries each row draws without replacement with probability ∝ `weights` (zero weights
 * never, unless a row has fewer than k positive weights: then it takes all of them); `k` may be a
 * device scalar. No gradient.
 */
export function sampleWithoutReplacement(weights: Tensor2D, k: Scalar | number, gumbel: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const kT = typeof k === "number" ? tf.scalar(k) : k;
    return noGrad([weights, kT, gumbel], (w, kk, g) => {
      const [rows, n] = w.shape as [number, number];
      const live = tf.greater(w, 0);
      const keys = tf.where(live, tf.add(tf.log(w), g), tf.fill([rows, n], -FAR)) as Tensor2D;
      const sorted = tf.topk(keys, n).values;
      const at = tf.reshape(tf.cast(tf.maximum(tf.sub(kk, 1), 0), "int32"), [1]);
      const kth = tf.gather(sorted, at, 1); // [rows, 1]: the k-th largest key
      const chosen = tf.logicalAnd(live, tf.greaterEqual(keys, kth));
      return tf.mul(tf.cast(chosen, "float32"), tf.step(kk));
    }) as Tensor2D;
  });
}
