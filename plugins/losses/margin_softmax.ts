/**
 * Additive-margin softmax losses: cross-entropy over the scaled cosines of an embedding to one
 * trainable weight vector per class, the target class's cosine made smaller by a margin.
 *
 * - `cosface` (Wang et al., CVPR 2018; PML CosFaceLoss): target logit s · (cos θ − m).
 * - `arcface` (Deng et al., CVPR 2019; PML ArcFaceLoss): target logit s · cos(θ + m), the margin an
 *   angle in degrees as PML takes it (28.6° = the paper's 0.5 rad). Where θ + m would pass π,
 *   cos(θ + m) turns back up and would reward a worse angle; there the official code continues
 *   with cos θ − m sin m, which keeps the logit falling, and so do this and PML 2.8.1's ArcFaceLoss
 *   (older PML releases returned cos(θ + m) throughout).
 *
 * L = mean over the B anchors (PML MeanReducer). Weights start N(0, 1) as PML's. Labels must lie
 * in 0..classes−1. No memory. With no margin and s = 1 / T it is `normalized-softmax`.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "arcface", { margin: 28.6, scale: 64 }, { dim: 512, classes: 100 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { pairwise } from "../../core/pairs.ts";
import { DmlError } from "../../core/errors.ts";
import { num, type OptionSpec } from "../../core/options.ts";
import type { Rng } from "../../core/rng.ts";
import type { ComponentDef, CreateContext, Loss, Options, Reference } from "../../core/types.ts";
import { classesAndDim, classWeights } from "./class_weights.ts";
import { noGrad } from "./no_grad.ts";

/** Below any logit: exp of it is 0, and it stays finite (0 × it is 0). */
const FAR = 1e30;

/** How the target class's cosine becomes its logit (before the scale). */
export type TargetMargin = (cos: Tensor1D) => Tensor1D;

/** cos θ itself (normalized softmax). */
export const noMargin: TargetMargin = (cos) => cos;

/** cos θ − m. */
export const cosineMargin = (m: number): TargetMargin => (cos) => tf.sub(cos, m);

/** cos(θ + m) while θ + m ≤ π, else cos θ − m sin m (the official ArcFace code's continuation). */
export function angularMargin(m: number): TargetMargin {
  const threshold = Math.cos(Math.PI - m); // cos θ at θ = π − m
  return (cos) => {
    // acos has an infinite slope at ±1: keep the argument a hair inside.
    const theta = tf.acos(tf.clipByValue(cos, -1 + 1e-6, 1 - 1e-6));
    const arc = tf.cos(tf.add(theta, m));
    const onArc = noGrad([cos], (c) => tf.greater(c, threshold));
    return tf.where(onArc, arc, tf.sub(cos, m * Math.sin(m))) as Tensor1D;
  };
}

/** The loss behind `arcface`, `cosface`, `normalized-softmax` and `proxy-nca`; built through the registry. */
export class MarginSoftmaxLoss implements Loss {
  readonly usesReference = false;
  /** [classes, dim] */
  readonly weights: Variable;

  constructor(
    readonly name: string,
    readonly target: TargetMargin,
    readonly scale: number,
    classes: number,
    dim: number,
    rng: Rng,
    readonly path = "loss",
    /** Leave the target class out of the softmax's denominator (ProxyNCA as its paper writes it). */
    readonly excludeTarget = false,
  ) {
    this.weights = classWeights(classes, dim, 1, rng);
  }

  get trainableWeights(): Variable[] {
    return [this.weights];
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    if (ref) throw new DmlError(`${this.path}: ${this.name} compares with its class weights and takes no memory`);
    return tf.tidy(() => {
      const cos = pairwise(e, this.weights as Tensor2D, "cosine");
      const oneHot = tf.cast(tf.oneHot(y, this.weights.shape[0]), "float32");
      const targetCos = tf.sum(tf.mul(cos, oneHot), 1) as Tensor1D;
      // Only the target class's logit moves: by target(cos) − cos.
      const shift = tf.reshape(tf.sub(this.target(targetCos), targetCos), [-1, 1]);
      const logits = tf.mul(tf.add(cos, tf.mul(oneHot, shift)), this.scale);
      const targetLogit = tf.sum(tf.mul(logits, oneHot), 1);
      const others = this.excludeTarget ? tf.sub(logits, tf.mul(oneHot, FAR)) : logits;
      return tf.mean(tf.sub(tf.logSumExp(others, 1), targetLogit)) as Scalar;
    });
  }
}

/** The loss for registry entry `name`: one weight vector per training class of the context. */
export function createMarginSoftmax(
  ctx: CreateContext,
  name: string,
  target: TargetMargin,
  scale: number,
  excludeTarget = false,
): MarginSoftmaxLoss {
  const { classes, dim } = classesAndDim(ctx, name);
  return new MarginSoftmaxLoss(name, target, scale, classes, dim, ctx.rng.fork(), ctx.path, excludeTarget);
}

/** A registry entry: its own margin option, turned into the target logit by `target`. */
function marginSoftmax(
  name: string,
  doc: string,
  margin: OptionSpec,
  target: (margin: number) => TargetMargin,
): ComponentDef<Loss> {
  return {
    kind: "loss",
    name,
    doc,
    options: { margin, scale: num(64, { gt: 0, max: 1024, doc: "scale s of the logits" }) },
    create: (o: Options, ctx) => createMarginSoftmax(ctx, name, target(o.margin as number), o.scale as number),
  };
}

/** `loss: { use: arcface, margin: 28.6, scale: 64 }` */
export const arcface = marginSoftmax(
  "arcface",
  "ArcFace (Deng et al. 2019): softmax on s · cos(θ + m) for the target class; no memory",
  num(28.6, { min: 0, max: 90, doc: "angular margin m in degrees (28.6° ≈ 0.5 rad)" }),
  (degrees) => angularMargin(degrees * Math.PI / 180),
);

/** `loss: { use: cosface, margin: 0.35, scale: 64 }` */
export const cosface = marginSoftmax(
  "cosface",
  "CosFace (Wang et al. 2018): softmax on s · (cos θ − m) for the target class; no memory",
  num(0.35, { min: 0, max: 2, doc: "cosine margin m" }),
  cosineMargin,
);
