/**
 * Contrastive loss (Hadsell et al. 2006) on pairs of anchors and references.
 *
 * Per pair, on a similarity s (cosine, dot):
 *   positive: max(0, (1 − s) − posMargin)     (PML ContrastiveLoss with pos_margin = 1 − posMargin)
 *   negative, `textbook`: max(0, s − negMargin)
 *   negative, `xbm`: s · [s > negMargin]       (the official XBM code: Σ s, not Σ (s − λ))
 * On a distance d (euclidean, squared-euclidean): max(0, d − posMargin) and max(0, negMargin − d).
 *
 * Reduction: `textbook` follows PML (AvgNonZeroReducer on each part): mean of the non-zero positive
 * terms plus mean of the non-zero negative terms. `xbm` follows the XBM code: the sum over all pairs
 * of an anchor, averaged over all B anchors. On XBM's fixture (xbm_xbn.md §4.1) the two differ in
 * value (L = 1.2 for xbm, 0.7 for textbook) but not in gradient (∂L/∂a1 = [0.1, −0.1]); in general
 * the xbm sum grows with the number of references, the textbook mean does not.
 *
 * Self pairs are removed by index (`selfBy: index`); `selfBy: threshold` instead drops positives with
 * s ≥ 1 − 1e-5 as the XBM code does (which also drops exact duplicates) — for fidelity tests only.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "contrastive", { variant: "xbm" });
 * const l = loss.compute(e, y, memory.reference() ?? undefined);
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { type Metric, METRICS, pairMatrix } from "../../core/pairs.ts";
import { check } from "../../core/errors.ts";
import { num, str } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { noGrad } from "./no_grad.ts";
import { avgNonZero } from "./reduce.ts";

/** Positives at least this similar are the anchor itself under `selfBy: threshold` (XBM code). */
const SELF_THRESHOLD = 1 - 1e-5;

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface ContrastiveOptions {
  variant: "textbook" | "xbm";
  posMargin: number;
  negMargin: number;
  metric: Metric;
  selfBy: "index" | "threshold";
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "contrastive", ...)`). */
export class ContrastiveLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly o: ContrastiveOptions) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const byThreshold = this.o.selfBy === "threshold";
      // Threshold mode compares with every reference, own copy included, and drops it by value.
      const r = byThreshold ? { e: ref?.e ?? e, y: ref?.y ?? y } : ref;
      const { sim, pos: pos0, neg, isSimilarity } = pairMatrix(e, y, r, this.o.metric);
      const pos = byThreshold ? tf.mul(pos0, noGrad([sim], (s) => tf.step(tf.sub(SELF_THRESHOLD, s)))) : pos0;
      const { posMargin, negMargin } = this.o;
      const posTerm = isSimilarity ? tf.relu(tf.sub(1 - posMargin, sim)) : tf.relu(tf.sub(sim, posMargin));
      if (this.o.variant === "xbm") {
        const over = noGrad([sim], (s) => tf.step(tf.sub(s, negMargin)));
        const perPair = tf.add(tf.mul(posTerm, pos), tf.mul(tf.mul(sim, over), neg));
        return tf.div(tf.sum(perPair), e.shape[0]) as Scalar;
      }
      const negTerm = isSimilarity ? tf.relu(tf.sub(sim, negMargin)) : tf.relu(tf.sub(negMargin, sim));
      return tf.add(avgNonZero(posTerm, pos), avgNonZero(negTerm, neg)) as Scalar;
    });
  }
}

/** The registry entry; in a recipe: `loss: { use: contrastive, variant: xbm, negMargin: 0.5 }`. */
export const contrastive: ComponentDef<Loss> = {
  kind: "loss",
  name: "contrastive",
  doc:
    "contrastive loss; textbook (PML, mean of active terms) or the official XBM code's form (Σ s over hard negatives)",
  options: {
    variant: str("textbook", ["textbook", "xbm"], "textbook: PML hinge, mean of non-zero terms; xbm: XBM code's Σ s"),
    posMargin: num(0, { min: 0, max: 4, doc: "positives cost max(0, (1 − s) − posMargin) (distance: d − posMargin)" }),
    negMargin: num(0.5, {
      min: -1,
      max: 4,
      doc: "negatives with s > negMargin cost (distance: d < negMargin); the XBM code's λ = 0.5",
    }),
    metric: str("cosine", METRICS, "pair similarity (cosine, dot) or distance (euclidean, squared-euclidean)"),
    selfBy: str("index", ["index", "threshold"], "drop self pairs by slot index, or by s ≥ 1 − 1e-5 (XBM code)"),
  },
  create(o: Options, ctx) {
    const similarity = o.metric === "cosine" || o.metric === "dot";
    check(
      similarity || o.variant !== "xbm",
      `${ctx.path}.metric: the xbm variant is defined on similarities; use cosine or dot, not ${o.metric}`,
    );
    check(
      similarity || o.selfBy !== "threshold",
      `${ctx.path}.selfBy: threshold removal needs a similarity metric (cosine or dot), not ${o.metric}`,
    );
    return new ContrastiveLoss(o as ContrastiveOptions);
  },
};
