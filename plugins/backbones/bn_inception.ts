/**
 * `bn-inception`: Inception with BatchNorm (Ioffe & Szegedy 2015), the network most metric-learning
 * papers of 2016–2020 use (XBM, MS loss, Proxy-Anchor), in the layout of the Caffe model that was
 * converted to PyTorch (Cadene's `bninception`): a 7×7 stem, ten inception modules (3a–3c, 4a–4e,
 * 5a, 5b; the 3c and 4e modules halve the resolution), 1024 features. Every convolution has a bias
 * and is followed by BatchNorm and ReLU; max-pools use ceil mode, average-pools count the padding.
 * Weights carry that model's names (`conv1_7x7_s2.weight`, `inception_3a_1x1_bn.running_var`, ...)
 * so converted ImageNet weights load by name. Those weights expect BGR input in [0, 255] minus the
 * mean (104, 117, 128): set the dataset's `range: 255, bgr: true, mean: [128, 117, 104], std: [1]`.
 *
 * ```ts
 * const net = createBnInception({ dim: 512, pooling: "max", normalize: true, frozenBatchNorm: false,
 *   freezeBackbone: false, width: 1 }, [224, 224, 3], rng);
 * const e = net.embed(x, false); // [B, 512]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";
import { ConvBn, type Mode } from "./conv_bn.ts";
import { ConvBnBackbone } from "./conv_bn_backbone.ts";
import { EmbeddingHead, type Pooling } from "./embedding_head.ts";

export interface BnInceptionOptions {
  dim: number;
  pooling: Pooling;
  normalize: boolean;
  frozenBatchNorm: boolean;
  freezeBackbone: boolean;
  /** Divides every channel count (1 = the real network; larger values make fast smoke tests). */
  slim: number;
}

/**
 * One inception module: [name, 1×1, 3×3 reduce, 3×3, double-3×3 reduce, double-3×3, pool, pool
 * projection, stride]. A 0 leaves the branch out; a stride-2 module passes its pool through.
 */
type ModuleSpec = [string, number, number, number, number, number, "avg" | "max", number, 1 | 2];

const MODULES: ModuleSpec[] = [
  ["3a", 64, 64, 64, 64, 96, "avg", 32, 1],
  ["3b", 64, 64, 96, 64, 96, "avg", 64, 1],
  ["3c", 0, 128, 160, 64, 96, "max", 0, 2],
  ["4a", 224, 64, 96, 96, 128, "avg", 128, 1],
  ["4b", 192, 96, 128, 96, 128, "avg", 128, 1],
  ["4c", 160, 128, 160, 128, 160, "avg", 128, 1],
  ["4d", 96, 128, 192, 160, 192, "avg", 128, 1],
  ["4e", 0, 128, 192, 192, 256, "max", 0, 2],
  ["5a", 352, 192, 320, 160, 224, "avg", 128, 1],
  ["5b", 352, 192, 320, 192, 224, "max", 128, 1],
];

/** Caffe's ceil-mode pooling: pad the bottom/right so the last window fits (inputs are >= 0 after ReLU). */
function poolCeil(x: Tensor4D, kind: "avg" | "max", k: number, s: number): Tensor4D {
  return tf.tidy(() => {
    const [h, w] = [x.shape[1], x.shape[2]];
    const extra = (n: number) => Math.max(0, (Math.ceil(Math.max(0, n - k) / s)) * s + k - n);
    const padded = tf.pad(x, [[0, 0], [0, extra(h)], [0, extra(w)], [0, 0]]) as Tensor4D;
    return kind === "max" ? tf.maxPool(padded, k, s, "valid") : tf.avgPool(padded, k, s, "valid");
  });
}

/** A 3×3 stride-1 pool with one pixel of zero padding (average counting the padding, as in Caffe). */
function pool3Same(x: Tensor4D, kind: "avg" | "max"): Tensor4D {
  return tf.tidy(() => {
    const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]) as Tensor4D;
    return kind === "max" ? tf.maxPool(padded, 3, 1, "valid") : tf.avgPool(padded, 3, 1, "valid");
  });
}

class InceptionModule {
  readonly units: ConvBn[] = [];
  readonly outChannels: number;
  private readonly b1: ConvBn | null;
  private readonly b3: [ConvBn, ConvBn];
  private readonly b33: [ConvBn, ConvBn, ConvBn];
  private readonly proj: ConvBn | null;

  constructor(rng: Rng, readonly spec: ModuleSpec, inC: number, slim: number) {
    const [id, c1, c3r, c3, cd3r, cd3, , cp, stride] = spec;
    const ch = (c: number) => Math.max(1, Math.round(c / slim));
    const p = `inception_${id}`;
    const unit = (name: string, kernel: number, from: number, to: number, s = 1) => {
      const u = new ConvBn(rng, { kernel, inChannels: from, outChannels: ch(to), stride: s, bias: true }, {
        conv: `${p}_${name}`,
        bn: `${p}_${name}_bn`,
      });
      this.units.push(u);
      return u;
    };
    this.b1 = c1 > 0 ? unit("1x1", 1, inC, c1) : null;
    this.b3 = [unit("3x3_reduce", 1, inC, c3r), unit("3x3", 3, ch(c3r), c3, stride)];
    this.b33 = [
      unit("double_3x3_reduce", 1, inC, cd3r),
      unit("double_3x3_1", 3, ch(cd3r), cd3),
      unit("double_3x3_2", 3, ch(cd3), cd3, stride),
    ];
    this.proj = cp > 0 ? unit("pool_proj", 1, inC, cp) : null;
    this.outChannels = (c1 > 0 ? ch(c1) : 0) + ch(c3) + ch(cd3) + (cp > 0 ? ch(cp) : inC);
  }

  apply(x: Tensor4D, mode: Mode): Tensor4D {
    return tf.tidy(() => {
      const [, , , , , , poolKind, , stride] = this.spec;
      const parts: Tensor4D[] = [];
      if (this.b1) parts.push(this.b1.apply(x, mode, true));
      parts.push(this.b3[1].apply(this.b3[0].apply(x, mode, true), mode, true));
      parts.push(this.b33[2].apply(this.b33[1].apply(this.b33[0].apply(x, mode, true), mode, true), mode, true));
      const pooled = stride === 2 ? poolCeil(x, poolKind, 3, 2) : pool3Same(x, poolKind);
      parts.push(this.proj ? this.proj.apply(pooled, mode, true) : pooled);
      return tf.concat(parts, 3);
    });
  }
}

export class BnInceptionBackbone extends ConvBnBackbone {
  readonly dim: number;
  readonly featureDim: number;
  readonly trainableWeights: Variable[];
  readonly stateWeights: Variable[];
  private readonly stem: ConvBn[];
  private readonly modules: InceptionModule[];
  protected readonly head: EmbeddingHead;

  constructor(readonly options: BnInceptionOptions, private readonly inputShape: [number, number, number], rng: Rng) {
    super();
    checkInputSize(inputShape);
    const ch = (c: number) => Math.max(1, Math.round(c / options.slim));
    const stemUnit = (name: string, kernel: number, from: number, to: number, stride: number) =>
      new ConvBn(rng, { kernel, inChannels: from, outChannels: to, stride, bias: true }, {
        conv: name,
        bn: `${name}_bn`,
      });
    this.stem = [
      stemUnit("conv1_7x7_s2", 7, inputShape[2], ch(64), 2),
      stemUnit("conv2_3x3_reduce", 1, ch(64), ch(64), 1),
      stemUnit("conv2_3x3", 3, ch(64), ch(192), 1),
    ];
    let inC = ch(192);
    this.modules = MODULES.map((spec) => {
      const m = new InceptionModule(rng, spec, inC, options.slim);
      inC = m.outChannels;
      return m;
    });
    this.featureDim = inC;
    this.head = new EmbeddingHead(inC, { dim: options.dim, normalize: options.normalize }, rng, "bn-inception");
    this.dim = this.head.dim;
    this.trainableWeights = this.trainable();
    this.stateWeights = this.state();
  }

  /** Every unit, under the converted Caffe model's name. */
  protected units(): ConvBn[] {
    return [...this.stem, ...this.modules.flatMap((m) => m.units)];
  }

  /** The last feature map (after inception 5b). */
  featureMap(x: Tensor, training: boolean): Tensor4D {
    const mode = this.mode(training);
    return tf.tidy(() => {
      let h = this.stem[0].apply(tf.reshape(x, [-1, ...this.inputShape]) as Tensor4D, mode, true);
      h = poolCeil(h, "max", 3, 2);
      h = this.stem[2].apply(this.stem[1].apply(h, mode, true), mode, true);
      h = poolCeil(h, "max", 3, 2);
      for (const m of this.modules) h = m.apply(h, mode);
      return h;
    });
  }
}

/** The spatial size after each stage; the two branches of a stride-2 module must agree. */
function checkInputSize(shape: [number, number, number]): void {
  for (const side of [shape[0], shape[1]]) {
    const conv = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;
    const ceilPool = (n: number) => Math.ceil(Math.max(0, n - 3) / 2) + 1;
    let n = ceilPool(conv(side, 7, 2, 3));
    n = ceilPool(n);
    for (const stage of ["3c", "4e"]) {
      const a = conv(n, 3, 2, 1), b = ceilPool(n);
      if (a !== b || a < 1) {
        throw new DmlError(
          `backbone.use: bn-inception cannot take ${shape[0]}×${
            shape[1]
          } inputs (module ${stage} would give ${a} and ${b} pixels); use e.g. 224 or 227`,
        );
      }
      n = a;
    }
  }
}

/** Builds a {@link BnInceptionBackbone} for images of `inputShape` [H, W, C]. */
export function createBnInception(
  o: BnInceptionOptions,
  inputShape: [number, number, number],
  rng: Rng,
): BnInceptionBackbone {
  return new BnInceptionBackbone(o, inputShape, rng);
}
