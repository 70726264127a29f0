/**
 * `convnet`: a small CNN for 28×28-scale images. Per entry of `channels`: conv3×3 -> BatchNorm ->
 * ReLU, then a 2×2 max-pool between blocks; global average pooling; a linear embedding head.
 * With the default channels [32, 64, 128] a 28×28 input is seen at 28, 14 and 7 pixels.
 *
 * ```ts
 * const net = createConvnet({ channels: [32, 64, 128], dim: 128, batchNorm: true, normalize: true }, [28, 28, 1], new Rng(0));
 * const e = net.embed(x, true); // [B, 128], unit rows; BatchNorm running moments updated
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { EmbeddingHead } from "./embedding_head.ts";
import { HeadedBackbone } from "./headed_backbone.ts";
import {
  batchNorm,
  type BatchNormParams,
  batchNormState,
  batchNormWeights,
  conv2d,
  type Conv2dParams,
  conv2dWeights,
  createBatchNorm,
  createConv2d,
} from "./layers.ts";

export interface ConvnetOptions {
  channels: number[];
  dim: number;
  batchNorm: boolean;
  normalize: boolean;
  /** How the last block's map becomes a vector: global average, global max, or flattened (keeps the layout). */
  pool?: "avg" | "max" | "flatten";
}

interface ConvBlock {
  conv: Conv2dParams;
  bn: BatchNormParams | null;
}

/** A conv-BN-ReLU stack with max-pooling between blocks; weights drawn from `rng` in layer order. */
export class ConvnetBackbone extends HeadedBackbone implements Backbone {
  readonly dim: number;
  readonly trainableWeights: Variable[];
  readonly stateWeights: Variable[];
  private readonly blocks: ConvBlock[];
  protected readonly head: EmbeddingHead;
  private readonly inputShape: [number, number, number];

  constructor(readonly options: ConvnetOptions, inputShape: [number, number, number], rng: Rng) {
    super();
    this.dim = options.dim;
    this.inputShape = inputShape;
    let inChannels = inputShape[2];
    this.blocks = options.channels.map((outChannels, i) => {
      const name = `convnet/block${i + 1}`;
      // BatchNorm's offset makes a convolution bias redundant.
      const block: ConvBlock = {
        conv: createConv2d(rng, { kernel: 3, inChannels, outChannels, bias: !options.batchNorm, name: `${name}/conv` }),
        bn: options.batchNorm ? createBatchNorm(outChannels, `${name}/bn`) : null,
      };
      inChannels = outChannels;
      return block;
    });
    // Each max-pool ("same") halves the map, rounding up.
    const shrink = 2 ** (options.channels.length - 1);
    const cells = Math.ceil(inputShape[0] / shrink) * Math.ceil(inputShape[1] / shrink);
    const features = options.pool === "flatten" ? inChannels * cells : inChannels;
    this.head = new EmbeddingHead(features, { dim: options.dim, normalize: options.normalize }, rng, "convnet");
    this.trainableWeights = [
      ...this.blocks.flatMap((b) => [...conv2dWeights(b.conv), ...(b.bn ? batchNormWeights(b.bn) : [])]),
      ...this.head.weights,
    ];
    this.stateWeights = this.blocks.flatMap((b) => (b.bn ? batchNormState(b.bn) : []));
  }

  /** The last block's activations, pooled (avg, max) or flattened, [B, features]. */
  features(x: Tensor, training: boolean): Tensor2D {
    return tf.tidy(() => {
      let h = tf.reshape(x, [-1, ...this.inputShape]) as Tensor4D;
      this.blocks.forEach((block, i) => {
        if (i > 0) h = tf.maxPool(h, 2, 2, "same");
        h = conv2d(h, block.conv);
        h = block.bn ? batchNorm(h, block.bn, training, true) : tf.relu(h);
      });
      if (this.options.pool === "flatten") return tf.reshape(h, [h.shape[0], -1]) as Tensor2D;
      return (this.options.pool === "max" ? tf.max(h, [1, 2]) : tf.mean(h, [1, 2])) as Tensor2D;
    });
  }

  /** Frees the Variables. */
  dispose(): void {
    for (const v of [...this.trainableWeights, ...this.stateWeights]) v.dispose();
  }
}

/** Builds a {@link ConvnetBackbone} for images of `inputShape` [H, W, C]. */
export function createConvnet(
  options: ConvnetOptions,
  inputShape: [number, number, number],
  rng: Rng,
): ConvnetBackbone {
  return new ConvnetBackbone(options, inputShape, rng);
}
