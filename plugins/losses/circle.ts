/**
 * Circle loss (Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity Optimization",
 * CVPR 2020), as PML's CircleLoss. Each similarity gets its own weight, so a pair far from its
 * optimum is pushed harder: on cosine similarities s with relaxation m and scale γ,
 *   α_p = [1 + m − s_p]₊,  α_n = [s_n + m]₊       (computed without gradient, as paper and PML do)
 *   ℓ_i = softplus( log Σ_{P_i} e^{−γ α_p (s_p − (1 − m))} + log Σ_{N_i} e^{γ α_n (s_n − m)} )
 * Reduction: PML's AvgNonZeroReducer — the mean over anchors that have both a positive and a
 * negative (the others give 0 and are not counted). Defaults m = 0.4, γ = 80: the paper's values for
 * fine-grained image retrieval. Takes a reference set (memory), self pairs removed by index.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "circle", { m: 0.25, gamma: 256 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { pairMatrix } from "../../core/pairs.ts";
import { num } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { anyKept, avgNonZero, maskedLogSumExp } from "./reduce.ts";
import { noGrad } from "./no_grad.ts";

/** The loss; recipes and code build it through the registry (`registry.create("loss", "circle", ...)`). */
export class CircleLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly m: number, readonly gamma: number) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const { m, gamma } = this;
      const { sim, pos, neg } = pairMatrix(e, y, ref, "cosine");
      const alphaP = noGrad([sim], (s) => tf.relu(tf.sub(1 + m, s)));
      const alphaN = noGrad([sim], (s) => tf.relu(tf.add(s, m)));
      const logitP = tf.mul(tf.mul(-gamma, alphaP), tf.sub(sim, 1 - m));
      const logitN = tf.mul(tf.mul(gamma, alphaN), tf.sub(sim, m));
      const perAnchor = tf.softplus(tf.add(maskedLogSumExp(logitP, pos), maskedLogSumExp(logitN, neg)));
      return avgNonZero(tf.mul(perAnchor, tf.mul(anyKept(pos, 1), anyKept(neg, 1))));
    });
  }
}

/** The registry entry; in a recipe: `loss: { use: circle, m: 0.4, gamma: 80 }`. */
export const circle: ComponentDef<Loss> = {
  kind: "loss",
  name: "circle",
  doc: "circle loss (Sun et al. 2020) on cosine similarities; mean over anchors with a positive and a negative",
  options: {
    m: num(0.4, { min: 0, max: 1, doc: "relaxation m: optima 1 − m (positives) and m (negatives)" }),
    gamma: num(80, {
      gt: 0,
      max: 1024,
      doc: "scale γ (paper: 80 for fine-grained retrieval, 256 for faces and re-id)",
    }),
  },
  create(o: Options) {
    return new CircleLoss(o.m as number, o.gamma as number);
  },
};
