/**
 * What the image backbones put after their last feature map: global pooling (average, max, or
 * their sum as in Proxy-Anchor's code) and a linear embedding head, optionally L2-normalised.
 * `dim: 0` keeps the pooled features as the embedding.
 *
 * ```ts
 * const head = new EmbeddingHead(2048, { dim: 512, normalize: true }, rng, "resnet");
 * const e = head.apply(globalPool(featureMap, "max")); // [B, 512], unit rows
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { l2normalize } from "../../core/pairs.ts";
import { createDense, dense, type DenseParams, denseWeights } from "./layers.ts";

export type Pooling = "avg" | "max" | "avg+max";
export const POOLINGS: readonly Pooling[] = ["avg", "max", "avg+max"];

/** [B, H, W, C] -> [B, C]. */
export function globalPool(x: Tensor4D, mode: Pooling): Tensor2D {
  return tf.tidy(() => {
    if (mode === "avg") return tf.mean(x, [1, 2]) as Tensor2D;
    if (mode === "max") return tf.max(x, [1, 2]) as Tensor2D;
    return tf.add(tf.mean(x, [1, 2]), tf.max(x, [1, 2])) as Tensor2D;
  });
}

/** A linear embedding layer of `dim` outputs (none when dim is 0), Glorot-normal from `rng`. */
export class EmbeddingHead {
  readonly dim: number;
  readonly params: DenseParams | null;

  constructor(inDim: number, readonly o: { dim: number; normalize: boolean }, rng: Rng, name: string) {
    this.dim = o.dim > 0 ? o.dim : inDim;
    this.params = o.dim > 0
      ? createDense(rng, { inDim, outDim: o.dim, init: "glorot", bias: true, name: `${name}/head` })
      : null;
  }

  apply(features: Tensor2D): Tensor2D {
    return tf.tidy(() => {
      const e = this.params ? dense(features, this.params) : features;
      return this.o.normalize ? l2normalize(e) : e;
    });
  }

  /** Trainable Variables with their names in weight files (`head.kernel` [in, out], `head.bias`). */
  named(): Array<[string, Variable]> {
    return this.params ? [["head.kernel", this.params.kernel], ["head.bias", this.params.bias!]] : [];
  }

  get weights(): Variable[] {
    return this.params ? denseWeights(this.params) : [];
  }
}
