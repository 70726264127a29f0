/**
 * Binomial deviance loss (Yi et al. 2014) on cosine similarity, in the form of the BIER code
 * (bier_dnc.md §1.3): per pair z = α (s − β) · m with m = 1 for positives and m = −C for negatives,
 * ℓ = softplus(−z) = log(1 + e^{−z}).
 *
 * Reduction: L = Σ_pos ℓ / #pos + Σ_neg ℓ / #neg (positives and negatives each weigh 1 in total;
 * a part with no pairs adds 0). BIER's code also counts the B self pairs in #pos although it never
 * uses them, so its positives weigh less than 1 (0.5 at two images per class): `countSelf: true`
 * reproduces that.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "binomial-deviance", { negCost: 25 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { pairMatrix } from "../../core/pairs.ts";
import { bool, num } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { safeMean } from "./reduce.ts";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface BinomialDevianceOptions {
  alpha: number;
  beta: number;
  negCost: number;
  countSelf: boolean;
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "binomial-deviance", ...)`). */
export class BinomialDevianceLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly o: BinomialDevianceOptions) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const { alpha, beta, negCost } = this.o;
      const { sim, pos, neg } = pairMatrix(e, y, ref, "cosine");
      const shifted = tf.mul(alpha, tf.sub(sim, beta));
      const posLoss = tf.sum(tf.mul(tf.softplus(tf.neg(shifted)), pos));
      const negLoss = tf.sum(tf.mul(tf.softplus(tf.mul(negCost, shifted)), neg));
      const selfPairs = !this.o.countSelf ? 0 : ref ? selfCount(ref) : e.shape[0];
      return tf.add(safeMean(posLoss, tf.add(tf.sum(pos), selfPairs)), safeMean(negLoss, tf.sum(neg))) as Scalar;
    });
  }
}

/** Anchors whose own copy is among the references. */
function selfCount(ref: Reference): number {
  return ref.selfIndex ? ref.selfIndex.filter((s) => s >= 0).length : 0;
}

/** The registry entry; in a recipe: `loss: { use: binomial-deviance, negCost: 25 }`. */
export const binomialDeviance: ComponentDef<Loss> = {
  kind: "loss",
  name: "binomial-deviance",
  doc: "binomial deviance loss on cosine similarity (Yi et al. 2014; BIER's base loss)",
  options: {
    alpha: num(2, { gt: 0, max: 100, doc: "scale α of the similarity" }),
    beta: num(0.5, { min: -1, max: 1, doc: "similarity β that separates positives from negatives" }),
    negCost: num(25, { gt: 0, max: 1000, doc: "cost C of the negative pairs" }),
    countSelf: bool(false, "count self pairs in the positives' normaliser, as the BIER code does"),
  },
  create(o: Options) {
    return new BinomialDevianceLoss(o as BinomialDevianceOptions);
  },
};
