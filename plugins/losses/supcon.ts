/**
 * Supervised contrastive loss (Khosla et al., NeurIPS 2020), as PML's SupConLoss, optionally after
 * PML's PairMarginMiner — the XBN paper's set-up (xbm_xbn.md §2.4: miner margins 0.2 / 0.8 on the
 * Euclidean distance of normalised embeddings, temperature 0.1). Works against a memory.
 *
 * Per anchor i with (mined) positives P_i and negatives N_i, on cosine similarity s / T:
 *   ℓ_i = −1/|P_i| Σ_{p ∈ P_i} [ s_ip/T − log Σ_{j ∈ P_i ∪ N_i} e^{s_ij/T} ]
 * Reduction: PML AvgNonZeroReducer — the mean over anchors with ℓ_i > 0 (an anchor without positives
 * has ℓ_i = 0); L = 0 when there is no positive or no negative pair at all (PML).
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "supcon", { miner: true });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { pairMatrix } from "../../core/pairs.ts";
import { bool, num, str } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { noGrad } from "./no_grad.ts";
import { pairMarginMiner } from "./miners.ts";
import { avgNonZero, maskedLogSumExp } from "./reduce.ts";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface SupConOptions {
  temperature: number;
  miner: boolean;
  posMargin: number;
  negMargin: number;
  metric: "cosine" | "dot";
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "supcon", ...)`). */
export class SupConLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly o: SupConOptions) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const all = pairMatrix(e, y, ref, this.o.metric);
      const cos = this.o.metric === "cosine" ? all.sim : pairMatrix(e, y, ref, "cosine").sim;
      const { pos, neg } = this.o.miner
        ? pairMarginMiner(cos, all.pos, all.neg, this.o.posMargin, this.o.negMargin)
        : all;
      const logits = tf.div(all.sim, this.o.temperature);
      const logDenominator = tf.reshape(maskedLogSumExp(logits, tf.add(pos, neg)), [-1, 1]);
      const logProb = tf.sub(logits, logDenominator);
      const perAnchor = tf.neg(safeMeanRows(tf.mul(logProb, pos), pos));
      // PML returns 0 unless the batch has at least one positive and one negative pair.
      const both = noGrad([pos, neg], (p, n) => tf.mul(tf.step(tf.sum(p)), tf.step(tf.sum(n))));
      return tf.mul(avgNonZero(perAnchor), both) as Scalar;
    });
  }
}

/** Row sums of `x` divided by the row counts of `mask` (0 for an empty row). */
function safeMeanRows(x: Tensor2D, mask: Tensor2D): Tensor1D {
  return tf.div(tf.sum(x, 1), tf.maximum(tf.sum(mask, 1), 1)) as Tensor1D;
}

/** The registry entry; in a recipe: `loss: { use: supcon, miner: true }`. */
export const supcon: ComponentDef<Loss> = {
  kind: "loss",
  name: "supcon",
  doc: "supervised contrastive loss (Khosla et al. 2020), optionally with PML's pair-margin miner (XBN set-up)",
  options: {
    temperature: num(0.1, { gt: 0, max: 10, doc: "softmax temperature T" }),
    miner: bool(false, "mine pairs first with the pair-margin miner (the XBN paper's set-up)"),
    posMargin: num(0.2, {
      min: 0,
      max: 2,
      doc: "miner: keep positives farther apart than this (normalised Euclidean)",
    }),
    negMargin: num(0.8, { min: 0, max: 2, doc: "miner: keep negatives closer than this (normalised Euclidean)" }),
    metric: str("cosine", ["cosine", "dot"], "pair similarity of the loss (the miner always uses normalised distance)"),
  },
  create(o: Options) {
    return new SupConLoss(o as SupConOptions);
  },
};
