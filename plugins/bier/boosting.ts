/**
 * Online gradient boosting of the learners inside one forward pass (BIER §1.4). Learner m's
 * pairs are weighted by the negative gradient of the loss of the ensemble of learners 1..m−1,
 * so later learners focus on the pairs the earlier ones get wrong.
 *
 * Two re-weighting rules:
 * - `additive` — what the released code runs (its "simpler variant"):
 *   ```
 *   a ← a0;  w¹ ← 1
 *   for m = 1..M:
 *     z_m  = α (S_m − β) ⊙ mult
 *     L   += Σ softplus(−z_m) ⊙ wᵐ ⊙ Wpair / M
 *     a    = a + ν z_m
 *     wᵐ⁺¹ = sg( sigmoid(−a) ⊙ (positive ? 1 : 2) )
 *   ```
 * - `eta` — the paper's algorithm (`--eta-style`): η_m = 2/(m+1),
 *   `a = (1−η_m) a + η_m κ S_m`, `wᵐ⁺¹ = sg( sigmoid(−α (a − β) ⊙ mult) )`.
 *
 * ```ts
 * const { total } = boostedDeviance(sims, neg, wpair, { style: "additive", ...BIER_DEFAULTS });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs-core";
import { devianceMargin, type DevianceParams, pairSign, weightedDeviance } from "./binomial_deviance.ts";
import { stopGradient } from "./gradient.ts";

export type BoostingStyle = "additive" | "eta";
export const BOOSTING_STYLES: readonly BoostingStyle[] = ["additive", "eta"];

export interface BoostingParams extends DevianceParams {
  style: BoostingStyle;
  /** ν, the step of the additive rule (0.06). */
  shrinkage: number;
  /** κ, the similarity scale of the eta rule (1, as the code's docstring says). */
  etaScale: number;
  /** a0, the ensemble's initial activation in the additive rule (0.5). */
  initialActivation: number;
  /** Factor on the negatives' weights in the additive rule (2). */
  negativeBoost: number;
}

/** The official defaults (train_bier.py). */
export const BIER_DEFAULTS: Omit<BoostingParams, "style"> = {
  alpha: 2,
  beta: 0.5,
  negCost: 25,
  shrinkage: 0.06,
  etaScale: 1,
  initialActivation: 0.5,
  negativeBoost: 2,
};

export interface BoostedLoss {
  /** L_boost = Σ_m L_m. */
  total: Scalar;
  /** Each learner's contribution L_m (already divided by M). */
  learners: Scalar[];
  /** The weights wᵐ each learner's pairs got (w¹ = 1). */
  weights: Tensor2D[];
}

/**
 * The boosted binomial deviance of M learners. `sims[m]` is learner m's cosine similarity
 * [B, N]; `neg` the negative pairs' mask; `wpair` the pair normaliser. All returned tensors are new.
 */
export function boostedDeviance(
  sims: Tensor2D[],
  neg: Tensor2D,
  wpair: Tensor2D,
  p: BoostingParams,
): BoostedLoss {
  return tf.tidy(() => {
    const M = sims.length;
    const learners: Scalar[] = [];
    const weights: Tensor2D[] = [];
    // Everything that shapes the weights is a constant for the gradient.
    const mult = pairSign(neg, p.negCost);
    const classWeight = tf.add(1, tf.mul(p.negativeBoost - 1, neg));
    let a: Tensor = tf.scalar(p.initialActivation);
    let w = tf.onesLike(sims[0]) as Tensor2D;
    sims.forEach((sim, i) => {
      const z = devianceMargin(sim, neg, p);
      learners.push(tf.div(weightedDeviance(z, w, wpair), M) as Scalar);
      weights.push(w);
      const s = stopGradient(sim);
      if (p.style === "additive") {
        a = tf.add(a, tf.mul(p.shrinkage, devianceMargin(s, neg, p)));
        w = tf.mul(tf.sigmoid(tf.neg(a)), classWeight) as Tensor2D;
      } else {
        const eta = 2 / (i + 2); // η_m = 2/(m+1) with m = i+1
        a = tf.add(tf.mul(1 - eta, a), tf.mul(eta * p.etaScale, s));
        w = tf.sigmoid(tf.neg(tf.mul(tf.mul(p.alpha, tf.sub(a, p.beta)), mult))) as Tensor2D;
      }
    });
    const total = learners.length === 1 ? tf.clone(learners[0]) : tf.addN(learners) as Scalar;
    return { total, learners, weights };
  });
}
