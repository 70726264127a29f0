/**
 * The weight-initialisation use of the diversity loss (BIER, ICCV; §1.6 of the spec): before
 * boosting starts, freeze the backbone and optimise only the embedding head's kernel (and, for
 * the adversarial loss, its regressors) on L_div over training images, with a small Adam of its
 * own. The released code has no such stage; steps and learning rate are options.
 *
 * ```
 * for s = 1..steps:
 *   x   = random training images
 *   r_m = h(x) W_m                 (backbone in eval mode, no bias; or (e − b)_m with diversityInput: embedding)
 *   W  ← Adam(W, ∇_W L_div(r, W))  (regressors too, through their gradient reversal)
 * ```
 *
 * ```ts
 * const { start, end } = await initialiseHead(ctx, diversity, [96, 160, 256], { steps: 200, lr: 1e-3, batchSize: 128 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar } from "@tensorflow/tfjs-core";
import type { TrainContext } from "../../core/types.ts";
import type { Diversity } from "./diversity.ts";
import { embeddingHead, embeddingView, learnerKernels, regularizerView } from "./head.ts";
import type { DiversityInput } from "./loss.ts";

export interface InitStageOptions {
  steps: number;
  lr: number;
  batchSize: number;
}

/** Runs the stage in place; returns L_div on the first and the last batch. */
export async function initialiseHead(
  ctx: Pick<TrainContext, "backbone" | "data" | "rng">,
  diversity: Diversity,
  groups: readonly number[],
  o: InitStageOptions,
  input: DiversityInput = "features",
): Promise<{ start: number; end: number }> {
  const head = embeddingHead(ctx.backbone);
  const vars = [head.kernel, ...diversity.weights];
  const train = ctx.data.train;
  const rng = ctx.rng.fork();
  const adam = tf.train.adam(o.lr);
  let start = NaN, end = NaN;
  try {
    for (let s = 0; s < o.steps; s++) {
      const idx = Int32Array.from({ length: Math.min(o.batchSize, train.size) }, () => rng.int(train.size));
      const x = train.batch(idx, { augment: false, rng });
      const cost = adam.minimize(
        () => {
          const r = input === "features"
            ? regularizerView(ctx.backbone.features!(x, false), head, groups)
            : embeddingView(ctx.backbone.embed(x, false), head, groups);
          return diversity.loss(r, learnerKernels(head, groups)).total;
        },
        true,
        vars,
      ) as Scalar;
      x.dispose();
      if (s === 0 || s === o.steps - 1) {
        const v = (await cost.data())[0];
        if (s === 0) start = v;
        end = v;
      }
      cost.dispose();
    }
  } finally {
    adam.dispose();
  }
  return { start, end };
}
