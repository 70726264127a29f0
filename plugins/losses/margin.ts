/**
 * Margin loss (Wu et al., "Sampling matters in deep embedding learning", ICCV 2017) on the
 * Euclidean distance of L2-normalised embeddings, with a learnable boundary β (one, or one per class).
 *
 * Per triplet (a, p, n): pos = max(0, d(a,p) − β_a + margin), neg = max(0, β_a − d(a,n) + margin).
 * Reduction (D&C's code, bier_dnc.md §2.5): L = (Σ (pos + neg) + ν Σ|β|) / pair_cnt with
 * pair_cnt = #(pos > 0) + #(neg > 0) counted as numbers (D&C's float count, bier_dnc.md D1); 0 when
 * pair_cnt = 0. The β regulariser sums |β_{y_a}| over the triplets with per-class β, or |β| once.
 * PML's MarginLoss differs in the regulariser only: it adds ν·β (no absolute value), undivided
 * for a single β, and ν·β_{y_a} per triplet divided by pair_cnt for per-class β; with ν = 0 (the
 * default here, in D&C and in PML) the two agree.
 *
 * Triplets (`sampling`):
 *  - `all` (PML's default): every positive with every negative of the anchor, computed per pair
 *    (a positive pair counts once per negative of its anchor and vice versa).
 *  - `distance-weighted`: the D&C `DistanceWeightedSampler` (see distance_weighted.ts): each anchor
 *    that has a positive draws K negatives ∝ 1/q(d) without replacement. The code then resamples the
 *    anchor's positives to K entries; here each positive is weighted by K / P_a, its expected count
 *    under that resampling — the code's loss exactly when every class has the same count in the
 *    batch (P×K sampling), and the same expectation with less noise otherwise.
 *
 * Sampling draws from an Rng forked from the run's at creation; `saveState` / `loadState` keep it,
 * so a resumed run samples what the uninterrupted run would have.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "margin", { sampling: "distance-weighted" }, { classes: 100 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { l2normalize, pairMatrix } from "../../core/pairs.ts";
import { check } from "../../core/errors.ts";
import { bool, num, str } from "../../core/options.ts";
import { Rng } from "../../core/rng.ts";
import type { ComponentDef, Loss, Options, Reference, State } from "../../core/types.ts";
import { noGrad } from "./no_grad.ts";
import { distanceWeights, gumbelNoise, negativesPerAnchor, sampleWithoutReplacement } from "./distance_weighted.ts";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface MarginOptions {
  margin: number;
  beta: number;
  learnBeta: boolean;
  betaPerClass: boolean;
  nu: number;
  sampling: "all" | "distance-weighted";
  cutoff: number;
  nonzeroLossCutoff: number;
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "margin", ...)`). */
export class MarginLoss implements Loss {
  readonly usesReference = true;
  /** β: shape [1], or [classes] with `betaPerClass`. */
  readonly beta: Variable;
  private rng: Rng;

  constructor(readonly o: MarginOptions, rng: Rng, classes = 1, readonly path = "loss") {
    const n = o.betaPerClass ? classes : 1;
    this.beta = tf.tidy(() => tf.variable(tf.fill([n], o.beta), o.learnBeta));
    this.rng = rng;
  }

  get trainableWeights(): Variable[] {
    return this.o.learnBeta ? [this.beta] : [];
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    const noise = this.o.sampling === "distance-weighted"
      ? gumbelNoise(this.rng, e.shape[0], ref ? ref.e.shape[0] : e.shape[0])
      : null;
    const out = tf.tidy(() => {
      const r = ref ? { ...ref, e: l2normalize(ref.e) } : undefined;
      const { sim: d, pos, neg } = pairMatrix(l2normalize(e), y, r, "euclidean");
      const betaA = (this.o.betaPerClass ? tf.gather(this.beta, y) : tf.reshape(this.beta, [1])) as Tensor1D;
      const b = tf.reshape(betaA, [-1, 1]);
      const posTerm = tf.relu(tf.add(tf.sub(d, b), this.o.margin));
      const negTerm = tf.relu(tf.add(tf.sub(b, d), this.o.margin));
      const nPos = tf.sum(pos, 1, true), nNeg = tf.sum(neg, 1, true); // [B, 1]
      let posW: Tensor, negW: Tensor, tripletsPerAnchor: Tensor;
      if (noise) {
        const k = negativesPerAnchor(pos, neg);
        const hasPos = tf.step(nPos);
        const chosen = sampleWithoutReplacement(
          distanceWeights(d, neg, e.shape[1], this.o.cutoff, this.o.nonzeroLossCutoff),
          k,
          noise,
        );
        posW = tf.div(tf.mul(pos, k), tf.maximum(nPos, 1));
        negW = tf.mul(chosen, hasPos);
        tripletsPerAnchor = tf.mul(hasPos, k);
      } else {
        posW = tf.mul(pos, nNeg);
        negW = tf.mul(neg, nPos);
        tripletsPerAnchor = tf.mul(nPos, nNeg);
      }
      const total = tf.add(tf.sum(tf.mul(posTerm, posW)), tf.sum(tf.mul(negTerm, negW)));
      const count = noGrad(
        [posTerm, negTerm, posW, negW],
        (p, q, pw, qw) => tf.add(tf.sum(tf.mul(tf.step(p), pw)), tf.sum(tf.mul(tf.step(q), qw))),
      );
      const reg = this.o.nu === 0 ? tf.scalar(0) : tf.mul(
        this.o.nu,
        this.o.betaPerClass
          ? tf.sum(tf.mul(tf.abs(betaA), tf.reshape(tripletsPerAnchor, [-1])))
          : tf.sum(tf.abs(this.beta)),
      );
      return tf.mul(tf.div(tf.add(total, reg), tf.maximum(count, 1)), tf.step(count)) as Scalar;
    });
    noise?.dispose();
    return out;
  }

  saveState(): State {
    return { rng: this.rng.state() };
  }

  loadState(s: State): void {
    const rng = (s as { rng?: number[] }).rng;
    check(Array.isArray(rng) && rng.length >= 4, `${this.path}: the checkpoint's margin-loss sampler state is damaged`);
    this.rng = Rng.fromState(rng);
  }
}

/** The registry entry; in a recipe: `loss: { use: margin, sampling: distance-weighted, learnBeta: false }`. */
export const margin: ComponentDef<Loss> = {
  kind: "loss",
  name: "margin",
  doc: "margin loss (Wu et al. 2017) with learnable β; all triplets or distance-weighted negative sampling",
  options: {
    margin: num(0.2, { min: 0, max: 2, doc: "margin α around the boundary β" }),
    beta: num(1.2, { min: 0, max: 2, doc: "initial boundary β between positive and negative distances" }),
    learnBeta: bool(
      true,
      "train β with the network (Wu et al.); false keeps it fixed (as the D&C code in effect does)",
    ),
    betaPerClass: bool(false, "one β per training class (needs the number of classes)"),
    nu: num(0, { min: 0, max: 1, doc: "weight ν of the β regulariser ν Σ|β|" }),
    sampling: str("all", ["all", "distance-weighted"], "all triplets, or distance-weighted negatives (Wu et al.; D&C)"),
    cutoff: num(0.5, {
      gt: 0,
      max: 2,
      doc: "distance-weighted: distances below are raised to it (limits the weights' variance)",
    }),
    nonzeroLossCutoff: num(1.4, {
      gt: 0,
      max: 2,
      doc: "distance-weighted: negatives farther than this get weight 1e-6 (no loss beyond β + margin)",
    }),
  },
  create(o: Options, ctx) {
    if (o.betaPerClass) {
      check(
        typeof ctx.classes === "number" && ctx.classes >= 1,
        `${ctx.path}.betaPerClass: needs the number of training classes, which this context does not give`,
      );
    }
    return new MarginLoss(o as MarginOptions, ctx.rng.fork(), ctx.classes ?? 1, ctx.path);
  },
};
