/**
 * Normalized softmax loss (Zhai & Wu, "Classification is a strong baseline for deep metric
 * learning", BMVC 2019), as PML's NormalizedSoftmaxLoss: cross-entropy over the cosine similarities
 * of an embedding to one trainable weight vector per class, divided by a temperature.
 *
 *   ℓ_i = −log softmax_c(cos(x_i, w_c) / T)[y_i];   L = mean over the B anchors (PML MeanReducer)
 * Weights start N(0, 1) as PML's default. Labels must lie in 0..classes−1. No memory.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "normalized-softmax", { temperature: 0.05 }, { dim: 64, classes: 100 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { pairwise } from "../../core/pairs.ts";
import { DmlError } from "../../core/errors.ts";
import { num } from "../../core/options.ts";
import type { Rng } from "../../core/rng.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { classesAndDim, classWeights } from "./class_weights.ts";

/** The loss; recipes and code build it through the registry (`registry.create("loss", "normalized-softmax", ...)`). */
export class NormalizedSoftmaxLoss implements Loss {
  readonly usesReference = false;
  /** [classes, dim] */
  readonly weights: Variable;

  constructor(readonly temperature: number, classes: number, dim: number, rng: Rng, readonly path = "loss") {
    this.weights = classWeights(classes, dim, 1, rng);
  }

  get trainableWeights(): Variable[] {
    return [this.weights];
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    if (ref) throw new DmlError(`${this.path}: normalized-softmax compares with its class weights and takes no memory`);
    return tf.tidy(() => {
      const logits = tf.div(pairwise(e, this.weights as Tensor2D, "cosine"), this.temperature);
      const target = tf.sum(tf.mul(logits, tf.oneHot(y, this.weights.shape[0])), 1);
      return tf.mean(tf.sub(tf.logSumExp(logits, 1), target)) as Scalar;
    });
  }
}

/** The registry entry; in a recipe: `loss: { use: normalized-softmax, temperature: 0.05 }`. */
export const normalizedSoftmax: ComponentDef<Loss> = {
  kind: "loss",
  name: "normalized-softmax",
  doc: "normalized softmax (Zhai & Wu 2019): cross-entropy on cosine to trainable class weights / T; no memory",
  options: {
    temperature: num(0.05, { gt: 0, max: 10, doc: "softmax temperature T" }),
  },
  create(o: Options, ctx) {
    const { classes, dim } = classesAndDim(ctx, "normalized-softmax");
    return new NormalizedSoftmaxLoss(o.temperature, classes, dim, ctx.rng.fork(), ctx.path);
  },
};
