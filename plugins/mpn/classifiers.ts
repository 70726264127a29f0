/**
 * The two classifiers over the training classes. Both act on **unnormalised** features
 * (pitfall P5 of the spec):
 *
 * - backbone head: `Linear(D → C)` with bias on the raw embedding (PyTorch default init);
 * - MPN head ("neck"): `BatchNorm1d` with its bias frozen at 0 (weight γ = 1 at init), then
 *   `Linear(dim → C)` without bias, weights ~ N(0, 0.001²).
 *
 * The BatchNorm uses the batch's statistics: the MPN head only ever runs in training (the test
 * embedding is the backbone's), so no running moments are kept.
 *
 * ```ts
 * const head = new BackboneClassifier(512, 100, rng);
 * const logits = head.logits(e); // [B, 100]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Rng } from "../../core/rng.ts";
import type { Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { constant, normalWeight, torchLinearBias, torchLinearWeight } from "./init.ts";

/** `Linear(D → C)` with bias on the backbone embedding. */
export class BackboneClassifier {
  readonly trainableWeights: Variable[];
  private readonly w: Variable;
  private readonly b: Variable;

  constructor(dim: number, classes: number, rng: Rng) {
    this.w = torchLinearWeight(rng, dim, classes);
    this.b = torchLinearBias(rng, dim, classes);
    this.trainableWeights = [this.w, this.b];
  }

  logits(e: Tensor2D): Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(e, this.w), this.b) as Tensor2D);
  }
}

/** BatchNorm (bias frozen at 0, batch statistics) then a bias-free `Linear(dim → C)`. */
export class MpnClassifier {
  readonly trainableWeights: Variable[];
  private readonly gamma: Variable;
  private readonly w: Variable;

  constructor(dim: number, classes: number, rng: Rng) {
    this.gamma = constant(dim, 1);
    this.w = normalWeight(rng, dim, classes, 0.001);
    this.trainableWeights = [this.gamma, this.w];
  }

  /** `f` `[B, dim]`, B ≥ 2 (BatchNorm in training mode: biased variance, eps = 1e-5). */
  logits(f: Tensor2D): Tensor2D {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(f, 0, true);
      const normed = tf.mul(tf.div(tf.sub(f, mean), tf.sqrt(tf.add(variance, 1e-5))), this.gamma);
      return tf.matMul(normed as Tensor2D, this.w);
    });
  }
}
