/**
 * BIER: Boosting Independent Embeddings Robustly (Opitz, Waltner, Possegger, Bischof; ICCV 2017,
 * TPAMI 2018). The embedding is cut into learners trained by online gradient boosting with
 * binomial deviance; an activation or adversarial diversity loss decorrelates them, during
 * training and/or as a weight-initialisation stage. At test time each learner is normalised and
 * scaled by d_m/Σd. See docs/bier.md.
 *
 * ```yaml
 * backbone: { use: mlp, dim: 512 }
 * loss: { use: bier, groups: [96, 160, 256], diversity: adversarial, lambdaDiv: 5.0e-5, lambdaWeight: 1.0e5 }
 * ```
 */
import type { Plugin } from "../../core/types.ts";
import { bool, int, num, nums, str } from "../../core/options.ts";
import { DmlError } from "../../core/errors.ts";
import { BierLoss, type BierOptions, DIVERSITY_INPUTS } from "./loss.ts";
import { BOOSTING_STYLES } from "./boosting.ts";
import { DIVERSITY_KINDS, NORM_AXES } from "./diversity.ts";

export { BIER_LOSS_DEFAULTS, BierLoss, type BierOptions } from "./loss.ts";
export { BIER_DEFAULTS, boostedDeviance } from "./boosting.ts";
export { ensembleEmbedding, splitLearners } from "./learners.ts";
export { learnerCorrelation } from "./correlation.ts";

const options = {
  groups: nums([96, 160, 256], { integer: true, min: 0, doc: "learner sizes; they sum to the backbone's dim" }),
  alpha: num(2, { gt: 0, doc: "binomial deviance: scale α of the similarity" }),
  beta: num(0.5, { doc: "binomial deviance: similarity β at which a pair costs log 2" }),
  negCost: num(25, { min: 0, doc: "binomial deviance: cost C of negative pairs" }),
  countDiagonal: bool(true, "count self pairs in the positives' normaliser, as the official code does"),
  style: str("additive", BOOSTING_STYLES, "re-weighting: additive (official code) or eta (paper, --eta-style)"),
  shrinkage: num(0.06, { min: 0, doc: "additive rule: step ν of the ensemble activation" }),
  etaScale: num(1, { min: 0, doc: "eta rule: similarity scale κ" }),
  initialActivation: num(0.5, { doc: "additive rule: initial ensemble activation a0" }),
  negativeBoost: num(2, { min: 0, doc: "additive rule: factor on the negatives' boosting weights" }),
  testScales: nums([], { min: 0, doc: "test-time weight of each learner; empty = d_m/Σd" }),
  diversity: str("none", DIVERSITY_KINDS, "diversity loss: none, activation (ICCV) or adversarial (A-BIER)"),
  lambdaDiv: num(5e-5, { min: 0, doc: "weight of the diversity loss during training (0: init stage only)" }),
  diversityInput: str(
    "features",
    DIVERSITY_INPUTS,
    "what the diversity loss sees: features = sg(h)·W_m, the official code (reaches the head's kernel only); " +
      "embedding = (e − b)_m (also reaches the backbone)",
  ),
  lambdaWeight: num(1e5, { min: 0, doc: "λ_w: weight of the unit-norm penalties inside the diversity loss" }),
  normAxis: str("code", NORM_AXES, "unit-norm penalty axis: code, inputs (rows of W) or outputs (columns)"),
  adversarialHidden: int(512, { min: 1, doc: "hidden width of the adversarial regressors" }),
  adversarialLayers: int(2, { min: 1, doc: "dense layers per adversarial regressor" }),
  initSteps: int(0, { min: 0, doc: "steps of the weight-initialisation stage with the diversity loss (0: none)" }),
  initLr: num(1e-3, { gt: 0, doc: "Adam learning rate of the initialisation stage" }),
  initBatchSize: int(128, { min: 2, doc: "training images per initialisation step" }),
  correlationGroups: nums([], {
    integer: true,
    min: 1,
    doc: "blocks the logged learner correlation uses; empty = groups",
  }),
  correlationSamples: int(2000, { min: 0, doc: "test images for the logged learner correlation (0: off)" }),
};

export const plugin: Plugin = {
  name: "bier",
  components: [
    {
      kind: "loss",
      name: "bier",
      doc: "BIER: boosted learners with binomial deviance, optional activation/adversarial diversity loss",
      options,
      create(o, ctx) {
        const opts = o as BierOptions;
        const p = ctx.path;
        const sum = (g: number[]) => g.reduce((a, b) => a + b, 0);
        if (opts.groups.length === 0) throw new DmlError(`${p}.groups: needs at least one learner size`);
        const zero = opts.groups.indexOf(0);
        if (zero >= 0) throw new DmlError(`${p}.groups: learner ${zero + 1} has size 0; every learner needs a dim`);
        if (ctx.dim !== undefined && sum(opts.groups) !== ctx.dim) {
          throw new DmlError(
            `${p}.groups: the learner sizes ${opts.groups.join("+")} = ${sum(opts.groups)} ` +
              `must sum to the backbone's dim ${ctx.dim}`,
          );
        }
        if (opts.testScales.length && opts.testScales.length !== opts.groups.length) {
          throw new DmlError(
            `${p}.testScales: ${opts.testScales.length} weights for ${opts.groups.length} learners`,
          );
        }
        const probe = opts.correlationGroups;
        if (probe.length && sum(probe) !== sum(opts.groups)) {
          throw new DmlError(`${p}.correlationGroups: sums to ${sum(probe)}, the embedding has ${sum(opts.groups)}`);
        }
        if (opts.diversity !== "none" && opts.groups.length < 2) {
          throw new DmlError(`${p}.diversity: a diversity loss needs at least two learners in groups`);
        }
        if (opts.initSteps > 0 && opts.diversity === "none") {
          throw new DmlError(`${p}.initSteps: the initialisation stage optimises a diversity loss; set ${p}.diversity`);
        }
        return new BierLoss(opts, ctx.rng);
      },
    },
  ],
};

export default plugin;
