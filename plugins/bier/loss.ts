/**
 * BIER (Opitz et al., ICCV 2017 / TPAMI 2018) as one loss component: the embedding is an
 * ensemble of learners trained by online gradient boosting with binomial deviance, optionally
 * decorrelated by a diversity loss during training and/or in a weight-initialisation stage.
 *
 * ```
 * f_1..f_M = split(e, groups)                       # learners, default 96/160/256 of 512
 * S_m      = cos(f_m, f_m)                           # [B, B]
 * L        = Σ_m L_m(S_m; boosting weights wᵐ)       # boosting.ts
 *          + λ_div · L_div(r, W)                     # diversity.ts, when diversity ≠ none and λ_div > 0
 * test:      concat_m(c_m · f_m/‖f_m‖), c_m = d_m/Σd  # learners.ts
 * ```
 *
 * ```ts
 * const loss = new BierLoss({ ...BIER_LOSS_DEFAULTS, groups: [96, 160, 256] }, rng);
 * const l = loss.compute(e, y);            // e [B, 512]
 * const t = loss.evalTransform(e);         // the test-time embedding
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone, Dataset, Hooks, Loss, Reference, TrainContext } from "../../core/types.ts";
import { pairMatrix, pairwise } from "../../core/pairs.ts";
import { DmlError } from "../../core/errors.ts";
import { Rng } from "../../core/rng.ts";
import { pairNormalizer, selfPairs } from "./binomial_deviance.ts";
import { BIER_DEFAULTS, boostedDeviance, type BoostingParams } from "./boosting.ts";
import { Diversity, type DiversityKind, type DiversityOptions } from "./diversity.ts";
import {
  type EmbeddingHead,
  embeddingHead,
  embeddingView,
  learnerKernels,
  regularizerView,
  verifyHead,
} from "./head.ts";
import { ensembleEmbedding, sizeScales, splitLearners } from "./learners.ts";
import { initialiseHead, type InitStageOptions } from "./init_stage.ts";
import { learnerCorrelation } from "./correlation.ts";

export const DIVERSITY_INPUTS = ["features", "embedding"] as const;
export type DiversityInput = (typeof DIVERSITY_INPUTS)[number];

export interface BierOptions extends BoostingParams {
  /** Learner sizes d_1..d_M; they sum to the embedding dim. */
  groups: number[];
  /** Count the self pairs in the positives' normaliser, as the official code does. */
  countDiagonal: boolean;
  /** Test-time weight c_m of each learner; empty = d_m/Σd. */
  testScales: number[];
  diversity: DiversityKind;
  /** λ_div: weight of L_div during training (0: only the initialisation stage uses it). */
  lambdaDiv: number;
  /**
   * What the diversity loss's regressors see: `features` = sg(h) W_m, the official code (its
   * gradient reaches the head's kernel only); `embedding` = (e − b)_m (it also reaches the backbone).
   */
  diversityInput: DiversityInput;
  lambdaWeight: number;
  normAxis: DiversityOptions["normAxis"];
  adversarialHidden: number;
  adversarialLayers: number;
  /** Steps of the weight-initialisation stage (0: none). */
  initSteps: number;
  initLr: number;
  initBatchSize: number;
  /** Blocks the logged learner correlation is measured on; empty = `groups`. */
  correlationGroups: number[];
  /** Test images the correlation is measured on (0: not logged). */
  correlationSamples: number;
}

export const BIER_LOSS_DEFAULTS: BierOptions = {
  ...BIER_DEFAULTS,
  style: "additive",
  groups: [96, 160, 256],
  countDiagonal: true,
  testScales: [],
  diversity: "none",
  lambdaDiv: 5e-5,
  diversityInput: "features",
  lambdaWeight: 1e5,
  normAxis: "code",
  adversarialHidden: 512,
  adversarialLayers: 2,
  initSteps: 0,
  initLr: 1e-3,
  initBatchSize: 128,
  correlationGroups: [],
  correlationSamples: 2000,
};

export class BierLoss implements Loss, Hooks {
  /** The adversarial regressors (empty otherwise); the trainer's optimizer trains them. */
  readonly trainableWeights: Variable[];
  readonly diversity?: Diversity;
  private head?: EmbeddingHead;
  private last: Record<string, Scalar> = {};
  private readonly dim: number;
  private readonly scales: number[];

  constructor(readonly o: BierOptions, rng: Rng = new Rng(0)) {
    this.dim = o.groups.reduce((a, b) => a + b, 0);
    this.scales = o.testScales.length ? o.testScales : sizeScales(o.groups);
    if (o.diversity !== "none") {
      this.diversity = new Diversity(
        o.diversity,
        {
          lambdaWeight: o.lambdaWeight,
          normAxis: o.normAxis,
          hidden: o.adversarialHidden,
          layers: o.adversarialLayers,
        },
        o.groups,
        rng,
      );
    }
    this.trainableWeights = this.diversity?.weights ?? [];
  }

  private get diversityInTraining(): boolean {
    return this.diversity !== undefined && this.o.lambdaDiv > 0;
  }

  /** The official regulariser view needs the batch's pre-head features h. */
  get usesFeatures(): boolean {
    return this.diversityInTraining && this.o.diversityInput === "features";
  }

  /** Binds the backbone whose dense head the diversity losses regularise (the hooks do this). */
  bindBackbone(backbone: Backbone): void {
    if (!this.diversity) return;
    const wantsFeatures = this.o.diversityInput === "features";
    if (wantsFeatures && !(backbone.features && (!this.diversityInTraining || backbone.embedWithFeatures))) {
      throw new DmlError(
        "loss.diversityInput: features (the official sg(h)·W_m) needs a backbone that exposes its pre-head " +
          "features; set loss.diversityInput: embedding",
      );
    }
    this.head = embeddingHead(backbone);
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference, features?: Tensor2D): Scalar {
    if (e.shape[1] !== this.dim) {
      throw new DmlError(`loss.groups: the learners cover ${this.dim} dims but the embedding has ${e.shape[1]}`);
    }
    if (this.diversityInTraining && !this.head) {
      throw new Error("bier: the diversity loss needs the backbone's head; call bindBackbone or onTrainStart first");
    }
    if (this.usesFeatures && !features) {
      throw new DmlError(
        "loss.diversityInput: features needs the batch's pre-head features with the embedding, which this caller " +
          "does not pass (BIER inside another loss); set loss.diversityInput: embedding",
      );
    }
    const { total, terms } = tf.tidy(() => {
      const groups = this.o.groups;
      const blocks = splitLearners(e, groups);
      const refBlocks = ref ? splitLearners(ref.e, groups) : blocks;
      const { sim, pos, neg } = pairMatrix(blocks[0], y, ref && { ...ref, e: refBlocks[0] }, "cosine");
      const sims = [sim, ...blocks.slice(1).map((f, m) => pairwise(f, refBlocks[m + 1], "cosine"))];
      const wpair = pairNormalizer(pos, neg, selfPairs(ref, e.shape[0]), this.o.countDiagonal);
      const boost = boostedDeviance(sims, neg, wpair, this.o);
      // Parts that do not overlap, so that they sum to the loss.
      const terms: Record<string, Scalar> = {};
      boost.learners.forEach((l, m) => terms[`learner-${m + 1}`] = l);
      let total: Scalar = boost.total;
      if (this.diversityInTraining && this.diversity && this.head) {
        const r = features ? regularizerView(features, this.head, groups) : embeddingView(e, this.head, groups);
        const div = this.diversity.loss(r, learnerKernels(this.head, groups));
        for (const [name, part] of Object.entries(div.parts)) terms[name] = tf.mul(this.o.lambdaDiv, part);
        total = tf.add(total, tf.mul(this.o.lambdaDiv, div.total));
      }
      return { total, terms };
    });
    for (const t of Object.values(this.last)) t.dispose();
    for (const t of Object.values(terms)) tf.keep(t);
    this.last = terms;
    return total;
  }

  /** Parts of the last `compute`, summing to it: learner-m (L_m), and λ_div × each part of L_div when used. */
  terms(): Record<string, Scalar> {
    return this.last;
  }

  evalTransform(e: Tensor2D): Tensor2D {
    return ensembleEmbedding(e, this.o.groups, this.scales);
  }

  async onTrainStart(ctx: TrainContext): Promise<void> {
    this.bindBackbone(ctx.backbone);
    if (this.head) {
      const train = ctx.data.train;
      const x = train.batch(Int32Array.from({ length: Math.min(8, train.size) }, (_, i) => i), {
        augment: false,
        rng: new Rng(0),
      });
      try {
        verifyHead(ctx.backbone, this.head, x);
      } finally {
        x.dispose();
      }
    }
    if (this.diversity && this.o.initSteps > 0) {
      const init: InitStageOptions = { steps: this.o.initSteps, lr: this.o.initLr, batchSize: this.o.initBatchSize };
      const { start, end } = await initialiseHead(ctx, this.diversity, this.o.groups, init, this.o.diversityInput);
      ctx.say(
        `bier: initialised the embedding weights with the ${this.o.diversity} loss, ${init.steps} steps: ` +
          `L_div ${start.toPrecision(4)} -> ${end.toPrecision(4)}`,
      );
      ctx.log({ type: "bier-init", step: ctx.step, steps: init.steps, "div-start": start, "div-end": end });
    }
    await this.logCorrelation(ctx);
  }

  onEpochStart(ctx: TrainContext): void {
    this.bindBackbone(ctx.backbone);
  }

  async onEpochEnd(ctx: TrainContext): Promise<void> {
    await this.logCorrelation(ctx);
  }

  /** Logs {"type": "bier", "learner-corr", "learner-corr-pairs"} on a fixed sample of test images. */
  async logCorrelation(ctx: TrainContext): Promise<void> {
    const split = ctx.data.test ?? ctx.data.query ?? ctx.data.train;
    if (this.o.correlationSamples === 0 || split.size < 2) return;
    const groups = this.o.correlationGroups.length ? this.o.correlationGroups : this.o.groups;
    const e = await embedSample(ctx.backbone, split, this.o.correlationSamples);
    const { mean, pairs } = learnerCorrelation(e, groups);
    e.dispose();
    ctx.log({ type: "bier", epoch: ctx.epoch, step: ctx.step, "learner-corr": mean, "learner-corr-pairs": pairs });
  }

  dispose(): void {
    for (const t of Object.values(this.last)) t.dispose();
    this.last = {};
    this.diversity?.dispose();
  }
}

/** Eval-mode embeddings of `n` items of `split`, the same items every call (a fixed seed). */
async function embedSample(backbone: Backbone, split: Dataset, n: number): Promise<Tensor2D> {
  const rng = new Rng(20170601);
  const order = rng.shuffle(Int32Array.from({ length: split.size }, (_, i) => i)).slice(0, Math.min(n, split.size));
  const chunks: Tensor[] = [];
  for (let s = 0; s < order.length; s += 256) {
    const opts = { augment: false, rng };
    const idx = order.slice(s, s + 256);
    // A file-backed dataset decodes off the main thread.
    const x = split.loadBatch ? await split.loadBatch(idx, opts) : split.batch(idx, opts);
    chunks.push(tf.tidy(() => backbone.embed(x, false)));
    x.dispose();
  }
  const e = tf.concat(chunks, 0) as Tensor2D;
  for (const c of chunks) c.dispose();
  return e;
}
