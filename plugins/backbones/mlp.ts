/**
 * `mlp`: flattened input -> [dense -> (BatchNorm) -> ReLU] per hidden layer -> linear embedding head.
 *
 * ```ts
 * const net = createMlp({ hidden: [256, 256], dim: 128, batchNorm: false, normalize: true }, [28, 28, 1], new Rng(0));
 * const e = net.embed(x, false); // [B, 128], unit rows
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { EmbeddingHead } from "./embedding_head.ts";
import { HeadedBackbone } from "./headed_backbone.ts";
import {
  batchNorm,
  type BatchNormParams,
  batchNormState,
  batchNormWeights,
  createBatchNorm,
  createDense,
  dense,
  type DenseParams,
  denseWeights,
} from "./layers.ts";

export interface MlpOptions {
  hidden: number[];
  dim: number;
  batchNorm: boolean;
  normalize: boolean;
}

interface HiddenLayer {
  dense: DenseParams;
  bn: BatchNormParams | null;
}

/** A multi-layer perceptron backbone; weights drawn from `rng` in layer order. */
export class MlpBackbone extends HeadedBackbone implements Backbone {
  readonly dim: number;
  readonly trainableWeights: Variable[];
  readonly stateWeights: Variable[];
  private readonly layers: HiddenLayer[];
  protected readonly head: EmbeddingHead;
  private readonly inDim: number;

  constructor(readonly options: MlpOptions, inputShape: number[], rng: Rng) {
    super();
    this.dim = options.dim;
    this.inDim = inputShape.reduce((a, b) => a * b, 1);
    let width = this.inDim;
    this.layers = options.hidden.map((units, i) => {
      const name = `mlp/hidden${i + 1}`;
      // BatchNorm's offset makes a dense bias redundant.
      const layer: HiddenLayer = {
        dense: createDense(rng, { inDim: width, outDim: units, init: "he", bias: !options.batchNorm, name }),
        bn: options.batchNorm ? createBatchNorm(units, `${name}/bn`) : null,
      };
      width = units;
      return layer;
    });
    this.head = new EmbeddingHead(width, { dim: options.dim, normalize: options.normalize }, rng, "mlp");
    this.trainableWeights = [
      ...this.layers.flatMap((l) => [...denseWeights(l.dense), ...(l.bn ? batchNormWeights(l.bn) : [])]),
      ...this.head.weights,
    ];
    this.stateWeights = this.layers.flatMap((l) => (l.bn ? batchNormState(l.bn) : []));
  }

  /** The last hidden layer's activations [B, hidden.at(-1)] (the flattened input when `hidden` is empty). */
  features(x: Tensor, training: boolean): Tensor2D {
    return tf.tidy(() => {
      let h = tf.reshape(x, [-1, this.inDim]) as Tensor2D;
      for (const layer of this.layers) {
        h = dense(h, layer.dense);
        h = layer.bn ? batchNorm(h, layer.bn, training, true) : tf.relu(h);
      }
      return h;
    });
  }

  /** Frees the Variables. */
  dispose(): void {
    for (const v of [...this.trainableWeights, ...this.stateWeights]) v.dispose();
  }
}

/** Builds an {@link MlpBackbone} for inputs of `inputShape`. */
export function createMlp(options: MlpOptions, inputShape: number[], rng: Rng): MlpBackbone {
  return new MlpBackbone(options, inputShape, rng);
}
