/**
 * What ResNet and BN-Inception share once their ConvBn units are built: the forward mode
 * (training, frozen BatchNorm, frozen backbone), global pooling of the last feature map, the
 * embedding head, and weights by name (the converted ImageNet model's names, then `head.*`).
 * A subclass builds its units and head and says how a feature map is computed.
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone } from "../../core/types.ts";
import type { ConvBn, Mode } from "./conv_bn.ts";
import { globalPool, type Pooling } from "./embedding_head.ts";
import { HeadedBackbone } from "./headed_backbone.ts";
import { assignNamedWeights, readNamedWeights } from "./weights_file.ts";

/** The options every ConvBn backbone takes. */
export interface ConvBnBackboneOptions {
  pooling: Pooling;
  frozenBatchNorm: boolean;
  /** Train the head only. */
  freezeBackbone: boolean;
}

export abstract class ConvBnBackbone extends HeadedBackbone implements Backbone {
  abstract readonly dim: number;
  abstract readonly options: ConvBnBackboneOptions;
  abstract readonly trainableWeights: Variable[];
  abstract readonly stateWeights: Variable[];

  /** Every ConvBn unit, in the order of the converted weight file. */
  protected abstract units(): ConvBn[];

  /** The last feature map, before pooling. */
  abstract featureMap(x: Tensor, training: boolean): Tensor4D;

  /** The variables to train: the units' (unless the backbone is frozen), then the head's. */
  protected trainable(): Variable[] {
    return [...(this.options.freezeBackbone ? [] : this.units().flatMap((u) => u.weights)), ...this.head.weights];
  }

  /** The BatchNorm running moments. */
  protected state(): Variable[] {
    return this.units().flatMap((u) => u.state);
  }

  /** How the units run: a frozen backbone always runs as in inference. */
  protected mode(training: boolean): Mode {
    return { training: training && !this.options.freezeBackbone, frozenBatchNorm: this.options.frozenBatchNorm };
  }

  /** Globally pooled features, [B, featureDim]. */
  features(x: Tensor, training: boolean): Tensor2D {
    return tf.tidy(() => globalPool(this.featureMap(x, training), this.options.pooling));
  }

  /** Every Variable under the converted model's name, then the head's. */
  named(): Array<[string, Variable]> {
    return [...this.units().flatMap((u) => u.named()), ...this.head.named()];
  }

  /** Loads weights by name from a tfjs weights manifest; the head may be absent (it stays new). */
  async loadWeights(path: string, what = "backbone.weights"): Promise<number> {
    const named = await readNamedWeights(path, what);
    return assignNamedWeights(this.named(), named, { file: path, what, optional: (n) => n.startsWith("head.") });
  }

  dispose(): void {
    for (const [, v] of this.named()) v.dispose();
  }
}
