/**
 * Convolution -> BatchNorm (-> ReLU), the unit ResNet and BN-Inception are made of, on the tf-ops
 * layers of layers.ts, with PyTorch's symmetric padding (so ImageNet weights converted from
 * PyTorch give the same activations) and the names the converted weight files use.
 *
 * A frozen BatchNorm uses its running moments in training too and never updates them (its scale
 * and offset still train), as Roth et al.'s `_frozen` backbones and D&C's ResNet-50 do.
 *
 * ```ts
 * const unit = new ConvBn(rng, { kernel: 3, inChannels: 64, outChannels: 64, stride: 1, bias: false },
 *   { conv: "layer1.0.conv1", bn: "layer1.0.bn1" });
 * const y = unit.apply(x, { training: true, frozenBatchNorm: false }, true); // ReLU after BN
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import {
  batchNorm,
  type BatchNormParams,
  batchNormState,
  batchNormWeights,
  type Conv2dParams,
  conv2dWeights,
  createBatchNorm,
  createConv2d,
} from "./layers.ts";

/** How a forward pass runs. */
export interface Mode {
  training: boolean;
  frozenBatchNorm: boolean;
}

/** A square convolution with "kernel / 2" zero padding on every side (PyTorch's `padding=k//2`). */
export function convSymmetric(x: Tensor4D, p: Conv2dParams, stride: number): Tensor4D {
  return tf.tidy(() => {
    const k = p.kernel.shape[0];
    const pad = Math.floor(k / 2);
    const y = tf.conv2d(x, p.kernel as Tensor4D, stride, pad === 0 ? "valid" : pad);
    return p.bias ? tf.add(y, p.bias) : y;
  });
}

export class ConvBn {
  readonly conv: Conv2dParams;
  readonly bn: BatchNormParams;

  constructor(
    rng: Rng,
    readonly o: { kernel: number; inChannels: number; outChannels: number; stride: number; bias: boolean },
    readonly names: { conv: string; bn: string },
  ) {
    this.conv = createConv2d(rng, {
      kernel: o.kernel,
      inChannels: o.inChannels,
      outChannels: o.outChannels,
      bias: o.bias,
      name: names.conv,
    });
    this.bn = createBatchNorm(o.outChannels, names.bn);
  }

  apply(x: Tensor4D, mode: Mode, relu: boolean): Tensor4D {
    return tf.tidy(() => {
      return batchNorm(
        convSymmetric(x, this.conv, this.o.stride),
        this.bn,
        mode.training && !mode.frozenBatchNorm,
        relu,
      );
    });
  }

  /** Trainable Variables: kernel, (bias), gamma, beta. */
  get weights(): Variable[] {
    return [...conv2dWeights(this.conv), ...batchNormWeights(this.bn)];
  }

  /** Running moments. */
  get state(): Variable[] {
    return batchNormState(this.bn);
  }

  /** Every Variable under its weight-file name (PyTorch's: `.weight`, `.bias`, `.running_mean`, `.running_var`). */
  named(): Array<[string, Variable]> {
    const { conv, bn } = this.names;
    return [
      [`${conv}.weight`, this.conv.kernel],
      ...(this.conv.bias ? [[`${conv}.bias`, this.conv.bias] as [string, Variable]] : []),
      [`${bn}.weight`, this.bn.gamma],
      [`${bn}.bias`, this.bn.beta],
      [`${bn}.running_mean`, this.bn.runningMean],
      [`${bn}.running_var`, this.bn.runningVar],
    ];
  }
}
