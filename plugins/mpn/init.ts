/**
 * The initialisations of the official code (PyTorch), drawn from a seeded {@link Rng} so that a
 * recipe's seed fixes them:
 *
 * - attention projections: xavier-uniform weights, zero bias;
 * - every other Linear (input projection, MLP, backbone classifier): PyTorch's default,
 *   `kaiming_uniform(a=√5)` = U(±1/√fan_in) for the weight and U(±1/√fan_in) for the bias;
 * - the MPN classifier: N(0, 0.001²), no bias.
 *
 * Weights are stored `[fanIn, fanOut]` (x · W), the transpose of PyTorch's layout.
 *
 * ```ts
 * const w = xavierUniform(rng, 512, 512); // tf.Variable [512, 512]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Rng } from "../../core/rng.ts";
import type { Variable } from "@tensorflow/tfjs-core";

/** A trainable variable `[fanIn, fanOut]` (or `[fanOut]` for a bias) filled by `draw`. */
function variable(shape: number[], draw: () => number): Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = draw();
  return tf.tidy(() => tf.variable(tf.tensor(data, shape), true));
}

/** U(±√(6/(fanIn+fanOut))): the attention projections. */
export function xavierUniform(rng: Rng, fanIn: number, fanOut: number): Variable {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return variable([fanIn, fanOut], () => (2 * rng.uniform() - 1) * bound);
}

/** PyTorch's default Linear weight: U(±1/√fanIn). */
export function torchLinearWeight(rng: Rng, fanIn: number, fanOut: number): Variable {
  const bound = 1 / Math.sqrt(fanIn);
  return variable([fanIn, fanOut], () => (2 * rng.uniform() - 1) * bound);
}

/** PyTorch's default Linear bias: U(±1/√fanIn). */
export function torchLinearBias(rng: Rng, fanIn: number, fanOut: number): Variable {
  const bound = 1 / Math.sqrt(fanIn);
  return variable([fanOut], () => (2 * rng.uniform() - 1) * bound);
}

/** N(0, std²) weights: the MPN classifier uses std = 0.001. */
export function normalWeight(rng: Rng, fanIn: number, fanOut: number, std: number): Variable {
  return variable([fanIn, fanOut], () => rng.normal() * std);
}

/** A constant-filled trainable vector (zero biases, LayerNorm/BatchNorm γ = 1, β = 0). */
export function constant(size: number, value: number): Variable {
  return variable([size], () => value);
}
