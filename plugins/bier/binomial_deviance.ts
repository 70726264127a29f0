/**
 * BIER's pair loss: binomial deviance on cosine similarity, with a per-pair weight (the boosting
 * weight) and the official code's pair normaliser.
 *
 * ```
 * mult_ij = −C if negative else 1
 * z_ij    = α (S_ij − β) mult_ij
 * ℓ_ij    = softplus(−z_ij) = log(1 + exp(−z_ij))
 * L       = Σ_ij ℓ_ij · w_ij · Wpair_ij
 * ```
 *
 * ```ts
 * const { sim, pos, neg } = pairMatrix(f, y, undefined, "cosine");
 * const wpair = pairNormalizer(pos, neg, selfPairs(undefined, f.shape[0]), true);
 * const z = devianceMargin(sim, neg, { alpha: 2, beta: 0.5, negCost: 25 });
 * const loss = weightedDeviance(z, tf.onesLike(z), wpair);
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor2D } from "@tensorflow/tfjs-core";
import type { Reference } from "../../core/types.ts";

export interface DevianceParams {
  /** Scale α of the similarity (2). */
  alpha: number;
  /** Similarity β where a pair's loss is log 2 (0.5). */
  beta: number;
  /** Cost C of a negative pair (25). */
  negCost: number;
}

/** mult = −C on negatives, 1 elsewhere (positives and, as in the code, the self pairs). */
export function pairSign(neg: Tensor2D, negCost: number): Tensor2D {
  return tf.tidy(() => tf.sub(1, tf.mul(1 + negCost, neg)) as Tensor2D);
}

/** The signed margin z = α (S − β) · mult. */
export function devianceMargin(sim: Tensor2D, neg: Tensor2D, p: DevianceParams): Tensor2D {
  return tf.tidy(() => tf.mul(tf.mul(p.alpha, tf.sub(sim, p.beta)), pairSign(neg, p.negCost)) as Tensor2D);
}

/** Number of anchors whose own copy is among the references (the diagonal of a batch). */
export function selfPairs(ref: Reference | undefined, batch: number): number {
  if (!ref) return batch;
  if (!ref.selfIndex) return 0;
  return ref.selfIndex.reduce((n, s) => n + (s >= 0 ? 1 : 0), 0);
}

/**
 * Wpair = pos / ΣY + neg / Σneg: positives share total weight 1, negatives share total weight 1.
 * With `countDiagonal` (the official code) ΣY also counts the self pairs, which themselves get
 * no weight, so the positives' total is below 1 (0.5 with two images per class).
 */
export function pairNormalizer(pos: Tensor2D, neg: Tensor2D, self: number, countDiagonal: boolean): Tensor2D {
  return tf.tidy(() => {
    const posCount = tf.add(tf.sum(pos), countDiagonal ? self : 0);
    // A batch without positives (or negatives) gives those pairs no weight instead of NaN.
    return tf.add(tf.divNoNan(pos, posCount), tf.divNoNan(neg, tf.sum(neg))) as Tensor2D;
  });
}

/** Σ_ij softplus(−z_ij) · w_ij · Wpair_ij. */
export function weightedDeviance(z: Tensor2D, weights: Tensor2D, wpair: Tensor2D): Scalar {
  return tf.tidy(() => tf.sum(tf.mul(tf.mul(tf.softplus(tf.neg(z)), weights), wpair)) as Scalar);
}
