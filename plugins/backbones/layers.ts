/**
 * Layers written with tf ops and tf.variable (no tfjs-layers), shared by the built-in backbones.
 *
 * Initial weights are drawn from an {@link Rng} on the CPU and uploaded with `tf.tensor`, so a seed
 * gives the same network on every backend. BatchNorm keeps its running moments as non-trainable
 * Variables that a checkpoint saves (`stateWeights`).
 *
 * ```ts
 * const rng = new Rng(0);
 * const conv = createConv2d(rng, { kernel: 3, inChannels: 1, outChannels: 32, bias: false, name: "c1" });
 * const bn = createBatchNorm(32, "c1/bn");
 * const y = batchNorm(conv2d(x, conv), bn, true, true); // conv -> BatchNorm -> ReLU, [B, H, W, 32]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { GradSaveFunc, Tensor, Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { batchNormTraining } from "../../core/batch_norm.ts";
import { defineHostKernel, hasHostKernel } from "../../core/host_kernels.ts";

/** Running moments follow `running = momentum * running + (1 - momentum) * batch` (PyTorch's momentum 0.1). */
export const BN_MOMENTUM = 0.9;
/** Added to the variance before the square root (PyTorch's default). */
export const BN_EPSILON = 1e-5;

let uniqueId = 0;

/** A name unique in this process: tfjs refuses two Variables with one name. */
export function uniqueName(name: string): string {
  return `${name}#${uniqueId++}`;
}

/** A Variable of normal values with standard deviation `std`, drawn from `rng`. */
export function normalVariable(rng: Rng, shape: number[], std: number, name: string): Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rng.normal() * std;
  return constantVariable(values, shape, name, true);
}

/** A Variable holding `values` (a number fills the shape). */
export function constantVariable(
  values: Float32Array | number,
  shape: number[],
  name: string,
  trainable: boolean,
): Variable {
  const init = typeof values === "number" ? tf.fill(shape, values) : tf.tensor(values, shape, "float32");
  const v = tf.variable(init, trainable, uniqueName(name));
  init.dispose();
  return v;
}

/** He (Kaiming) normal std for a layer followed by ReLU: sqrt(2 / fanIn). */
export function heStd(fanIn: number): number {
  return Math.sqrt(2 / fanIn);
}

/** Glorot (Xavier) normal std for a linear layer: sqrt(2 / (fanIn + fanOut)). */
export function glorotStd(fanIn: number, fanOut: number): number {
  return Math.sqrt(2 / (fanIn + fanOut));
}

/** Weights of a fully connected layer: kernel [in, out] and an optional bias [out]. */
export interface DenseParams {
  kernel: Variable;
  bias: Variable | null;
}

/**
 * A dense layer; `init: "he"` before a ReLU, `"glorot"` for a linear output such as an embedding head.
 *
 * ```ts
 * const head = createDense(rng, { inDim: 128, outDim: 64, init: "glorot", bias: true, name: "head" });
 * const e = dense(h, head); // [B, 64]
 * ```
 */
export function createDense(
  rng: Rng,
  o: { inDim: number; outDim: number; init: "he" | "glorot"; bias: boolean; name: string },
): DenseParams {
  const std = o.init === "he" ? heStd(o.inDim) : glorotStd(o.inDim, o.outDim);
  return {
    kernel: normalVariable(rng, [o.inDim, o.outDim], std, `${o.name}/kernel`),
    bias: o.bias ? constantVariable(0, [o.outDim], `${o.name}/bias`, true) : null,
  };
}

/** x [B, in] -> x W + b [B, out]. */
export function dense(x: Tensor2D, p: DenseParams): Tensor2D {
  return tf.tidy(() => {
    const y = tf.matMul(x, p.kernel as Tensor2D);
    return (p.bias ? tf.add(y, p.bias) : y) as Tensor2D;
  });
}

/** The trainable Variables of a dense layer, kernel first. */
export function denseWeights(p: DenseParams): Variable[] {
  return p.bias ? [p.kernel, p.bias] : [p.kernel];
}

/** Weights of a 2-D convolution: kernel [k, k, in, out] (NHWC) and an optional bias [out]. */
export interface Conv2dParams {
  kernel: Variable;
  bias: Variable | null;
}

/**
 * A square convolution with He-normal weights (it is followed by a ReLU in every built-in backbone).
 *
 * ```ts
 * const c = createConv2d(rng, { kernel: 3, inChannels: 1, outChannels: 32, bias: false, name: "block1/conv" });
 * const y = conv2d(x, c); // stride 1, "same" padding: [B, H, W, 32]
 * ```
 */
export function createConv2d(
  rng: Rng,
  o: { kernel: number; inChannels: number; outChannels: number; bias: boolean; name: string },
): Conv2dParams {
  const fanIn = o.kernel * o.kernel * o.inChannels;
  return {
    kernel: normalVariable(rng, [o.kernel, o.kernel, o.inChannels, o.outChannels], heStd(fanIn), `${o.name}/kernel`),
    bias: o.bias ? constantVariable(0, [o.outChannels], `${o.name}/bias`, true) : null,
  };
}

/** x [B, H, W, in] -> [B, H', W', out]. */
export function conv2d(x: Tensor4D, p: Conv2dParams, stride = 1, pad: "same" | "valid" = "same"): Tensor4D {
  return tf.tidy(() => {
    const y = tf.conv2d(x, p.kernel as Tensor4D, stride, pad);
    return (p.bias ? tf.add(y, p.bias) : y) as Tensor4D;
  });
}

/** The trainable Variables of a convolution, kernel first. */
export function conv2dWeights(p: Conv2dParams): Variable[] {
  return p.bias ? [p.kernel, p.bias] : [p.kernel];
}

/** BatchNorm over the last axis: trainable scale/offset and running moments (non-trainable). */
export interface BatchNormParams {
  gamma: Variable;
  beta: Variable;
  runningMean: Variable;
  runningVar: Variable;
  momentum: number;
  epsilon: number;
}

/**
 * BatchNorm for `channels` features (the last axis of its input, dense or NHWC).
 *
 * ```ts
 * const bn = createBatchNorm(64, "block2/bn");
 * const y = batchNorm(x, bn, true); // batch statistics; updates the running moments
 * const z = batchNorm(x, bn, false); // running moments
 * ```
 */
export function createBatchNorm(
  channels: number,
  name: string,
  o: { momentum?: number; epsilon?: number } = {},
): BatchNormParams {
  return {
    gamma: constantVariable(1, [channels], `${name}/gamma`, true),
    beta: constantVariable(0, [channels], `${name}/beta`, true),
    runningMean: constantVariable(0, [channels], `${name}/running_mean`, false),
    runningVar: constantVariable(1, [channels], `${name}/running_var`, false),
    momentum: o.momentum ?? BN_MOMENTUM,
    epsilon: o.epsilon ?? BN_EPSILON,
  };
}

/**
 * Normalises over every axis but the last, then applies max(0, ·) when `relu` (fused with the
 * normalisation in training: core/batch_norm.ts). In training it uses the batch's mean and biased
 * variance and moves the running moments towards them (the variance unbiased, as PyTorch does);
 * the update is an `assign`, so it is no part of any gradient. In evaluation it uses the running
 * moments.
 */
export function batchNorm<T extends Tensor>(x: T, p: BatchNormParams, training: boolean, relu = false): T {
  return tf.tidy(() => {
    if (!training) {
      const scale = tf.mul(p.gamma, tf.rsqrt(tf.add(p.runningVar, p.epsilon)));
      const y = tf.add(tf.mul(x, scale), tf.sub(p.beta, tf.mul(p.runningMean, scale))) as T;
      return relu ? tf.relu(y) : y;
    }
    const { y, mean, variance } = batchNormTraining(x, p.gamma, p.beta, { epsilon: p.epsilon, relu });
    updateRunningMoments(p, mean, variance, x.size / x.shape[x.shape.length - 1]);
    return y;
  });
}

function updateRunningMoments(p: BatchNormParams, mean: Tensor, variance: Tensor, count: number): void {
  const unbiased = count > 1 ? count / (count - 1) : 1;
  const m = p.momentum;
  p.runningMean.assign(tf.add(tf.mul(p.runningMean, m), tf.mul(mean, 1 - m)));
  p.runningVar.assign(tf.add(tf.mul(p.runningVar, m), tf.mul(variance, (1 - m) * unbiased)));
}

/** Trainable Variables of a BatchNorm: gamma, beta. */
export function batchNormWeights(p: BatchNormParams): Variable[] {
  return [p.gamma, p.beta];
}

/** Non-trainable Variables of a BatchNorm, for checkpoints: running mean, running variance. */
export function batchNormState(p: BatchNormParams): Variable[] {
  return [p.runningMean, p.runningVar];
}

const ADD_RELU_KERNEL = "DmlAddRelu";
const RELU_GRAD_KERNEL = "DmlReluGrad";

defineHostKernel(ADD_RELU_KERNEL, ({ inputs: { a, b }, shapes }) => {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const z = a[i] + b[i];
    // Branch-free: residual sums have random signs, so a branch mispredicts half the time.
    y[i] = (z + Math.abs(z)) * 0.5;
  }
  return [[shapes.a, y]];
});

defineHostKernel(RELU_GRAD_KERNEL, ({ inputs: { dy, y }, shapes }) => {
  const g = new Float32Array(dy.length);
  for (let i = 0; i < dy.length; i++) g[i] = dy[i] * +(y[i] > 0);
  return [[shapes.dy, g]];
});

/**
 * max(0, a + b) for two tensors of one shape: a residual block's join. On blas and wasm it is one
 * pass forward and one backward (tfjs's Add, Relu, Step and Multiply make four, each a fresh
 * activation-sized array); elsewhere it is `relu(add(a, b))`.
 */
export function addRelu<T extends Tensor>(a: T, b: T): T {
  if (!hasHostKernel(ADD_RELU_KERNEL, RELU_GRAD_KERNEL) || !tf.util.arraysEqual(a.shape, b.shape)) {
    return tf.tidy(() => tf.relu(tf.add(a, b))) as T;
  }
  const forward = (x: Tensor, y: Tensor, save: GradSaveFunc) => {
    const [out] = tf.engine().runKernel(ADD_RELU_KERNEL, { a: x, b: y }, {}) as Tensor[];
    save([out]);
    return {
      value: out,
      gradFunc: (dy: Tensor, [saved]: Tensor[]) => {
        const [g] = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, y: saved }, {}) as Tensor[];
        // One gradient for both inputs; the clone shares its data, so each can be disposed alone.
        return [g, tf.clone(g)];
      },
    };
  };
  return tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])(a, b) as T;
}
