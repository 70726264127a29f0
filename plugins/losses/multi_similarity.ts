/**
 * Multi-similarity loss (Wang et al., CVPR 2019), as PML's MultiSimilarityLoss, optionally with the
 * MS miner (PML MultiSimilarityMiner).
 *
 * Per anchor i with (mined) positives P_i and negatives N_i on similarities s:
 *   ℓ_i = (1/α) log(1 + Σ_{P_i} e^{−α (s − base)}) + (1/β) log(1 + Σ_{N_i} e^{β (s − base)})
 * Reduction: PML MeanReducer — the plain mean over all B anchors (an anchor without pairs adds 0),
 * which is also the official code's "divide by B".
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "multi-similarity", { beta: 40 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { pairMatrix } from "../../core/pairs.ts";
import { bool, num, str } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { multiSimilarityMiner } from "./miners.ts";
import { logOnePlusSumExp } from "./reduce.ts";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface MultiSimilarityOptions {
  alpha: number;
  beta: number;
  base: number;
  miner: boolean;
  epsilon: number;
  metric: "cosine" | "dot";
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "multi-similarity", ...)`). */
export class MultiSimilarityLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly o: MultiSimilarityOptions) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const { alpha, beta, base } = this.o;
      const all = pairMatrix(e, y, ref, this.o.metric);
      const { pos, neg } = this.o.miner ? multiSimilarityMiner(all.sim, all.pos, all.neg, this.o.epsilon) : all;
      const shifted = tf.sub(all.sim, base);
      const posLoss = tf.div(logOnePlusSumExp(tf.mul(-alpha, shifted), pos), alpha);
      const negLoss = tf.div(logOnePlusSumExp(tf.mul(beta, shifted), neg), beta);
      return tf.mean(tf.add(posLoss, negLoss)) as Scalar;
    });
  }
}

/** The registry entry; in a recipe: `loss: { use: multi-similarity, alpha: 2, beta: 50 }`. */
export const multiSimilarity: ComponentDef<Loss> = {
  kind: "loss",
  name: "multi-similarity",
  doc: "multi-similarity loss (Wang et al. 2019) with the MS miner; mean over anchors",
  options: {
    alpha: num(2, { gt: 0, max: 100, doc: "scale of the positive term" }),
    beta: num(50, { gt: 0, max: 100, doc: "scale of the negative term" }),
    base: num(0.5, { min: -1, max: 1, doc: "similarity the exponents are centred on (λ)" }),
    miner: bool(true, "mine pairs with the MS miner before the loss (hard positives and negatives within epsilon)"),
    epsilon: num(0.1, { min: 0, max: 2, doc: "MS miner margin ε" }),
    metric: str("cosine", ["cosine", "dot"], "pair similarity"),
  },
  create(o: Options) {
    return new MultiSimilarityLoss(o as MultiSimilarityOptions);
  },
};
