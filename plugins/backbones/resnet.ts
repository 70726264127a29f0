/**
 * `resnet`: ResNet-18/34/50/101/152 (He et al. 2016, torchvision's v1.5 layout: the stride of a
 * bottleneck is on its 3×3 convolution) on tf ops in NHWC, then global pooling and an embedding
 * head. Weights are named as torchvision's (`conv1.weight`, `layer1.0.bn1.running_mean`, ...), so
 * ImageNet weights converted from torchvision load by name (`weights:`; see docs/datasets.md).
 *
 * Options the metric-learning papers vary: `pooling` (avg; max in XBM and MPN), `frozenBatchNorm`
 * (D&C, Roth et al.), `lastStride` 1 (XBM's LAST_STRIDE), `freezeBackbone` (train the head only:
 * XBN's warm-up), `width` (64 is the real network; smaller widths make fast smoke tests).
 *
 * ```ts
 * const net = createResNet({ depth: 50, width: 64, dim: 512, pooling: "max", normalize: true,
 *   frozenBatchNorm: false, freezeBackbone: false, lastStride: 2 }, [224, 224, 3], rng);
 * await net.loadWeights("/models/resnet50/weights_manifest.json");
 * const e = net.embed(x, true); // [B, 512]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { ConvBn } from "./conv_bn.ts";
import { addRelu } from "./layers.ts";
import { ConvBnBackbone } from "./conv_bn_backbone.ts";
import { EmbeddingHead, type Pooling } from "./embedding_head.ts";

export const RESNET_DEPTHS: Record<number, { bottleneck: boolean; blocks: number[] }> = {
  18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  50: { bottleneck: true, blocks: [3, 4, 6, 3] },
  101: { bottleneck: true, blocks: [3, 4, 23, 3] },
  152: { bottleneck: true, blocks: [3, 8, 36, 3] },
};

export interface ResNetOptions {
  depth: number;
  width: number;
  dim: number;
  pooling: Pooling;
  normalize: boolean;
  frozenBatchNorm: boolean;
  freezeBackbone: boolean;
  lastStride: number;
}

/** A residual block: its convolutions in order and the projection of the shortcut, if any. */
interface Block {
  convs: ConvBn[];
  downsample: ConvBn | null;
}

export class ResNetBackbone extends ConvBnBackbone {
  readonly dim: number;
  readonly featureDim: number;
  readonly trainableWeights: Variable[];
  readonly stateWeights: Variable[];
  private readonly stem: ConvBn;
  private readonly blocks: Block[];
  protected readonly head: EmbeddingHead;

  constructor(readonly options: ResNetOptions, private readonly inputShape: [number, number, number], rng: Rng) {
    super();
    const spec = RESNET_DEPTHS[options.depth];
    const expansion = spec.bottleneck ? 4 : 1;
    this.stem = new ConvBn(rng, {
      kernel: 7,
      inChannels: inputShape[2],
      outChannels: options.width,
      stride: 2,
      bias: false,
    }, {
      conv: "conv1",
      bn: "bn1",
    });
    let inC = options.width;
    this.blocks = [];
    spec.blocks.forEach((count, stage) => {
      const planes = options.width * 2 ** stage;
      for (let b = 0; b < count; b++) {
        const stride = b > 0 || stage === 0 ? 1 : stage === 3 ? options.lastStride : 2;
        const p = `layer${stage + 1}.${b}`;
        const unit = (i: number, kernel: number, from: number, to: number, s: number) =>
          new ConvBn(rng, { kernel, inChannels: from, outChannels: to, stride: s, bias: false }, {
            conv: `${p}.conv${i}`,
            bn: `${p}.bn${i}`,
          });
        const convs = spec.bottleneck
          ? [unit(1, 1, inC, planes, 1), unit(2, 3, planes, planes, stride), unit(3, 1, planes, planes * expansion, 1)]
          : [unit(1, 3, inC, planes, stride), unit(2, 3, planes, planes, 1)];
        const out = planes * expansion;
        const downsample = stride !== 1 || inC !== out
          ? new ConvBn(rng, { kernel: 1, inChannels: inC, outChannels: out, stride, bias: false }, {
            conv: `${p}.downsample.0`,
            bn: `${p}.downsample.1`,
          })
          : null;
        this.blocks.push({ convs, downsample });
        inC = out;
      }
    });
    this.featureDim = inC;
    this.head = new EmbeddingHead(inC, { dim: options.dim, normalize: options.normalize }, rng, "resnet");
    this.dim = this.head.dim;
    this.trainableWeights = this.trainable();
    this.stateWeights = this.state();
  }

  /** Every unit, under its torchvision name. */
  protected units(): ConvBn[] {
    return [this.stem, ...this.blocks.flatMap((b) => [...b.convs, ...(b.downsample ? [b.downsample] : [])])];
  }

  /** The last feature map, [B, H/32, W/32, featureDim]. */
  featureMap(x: Tensor, training: boolean): Tensor4D {
    const mode = this.mode(training);
    return tf.tidy(() => {
      let h = this.stem.apply(tf.reshape(x, [-1, ...this.inputShape]) as Tensor4D, mode, true);
      h = tf.maxPool(h, 3, 2, 1);
      for (const block of this.blocks) {
        let y = h;
        block.convs.forEach((c, i) => (y = c.apply(y, mode, i < block.convs.length - 1)));
        const shortcut = block.downsample ? block.downsample.apply(h, mode, false) : h;
        h = addRelu(y, shortcut);
      }
      return h;
    });
  }
}

/** Builds a {@link ResNetBackbone} for images of `inputShape` [H, W, C]. */
export function createResNet(o: ResNetOptions, inputShape: [number, number, number], rng: Rng): ResNetBackbone {
  return new ResNetBackbone(o, inputShape, rng);
}
