/**
 * The image backbones of the seed papers as components: `resnet` (18–152), `bn-inception`, and
 * `tfjs-model` (a converted pretrained model from a local path). Each ends in global pooling and an
 * embedding head; `weights:` / `path:` load ImageNet weights from the user's disk (docs/datasets.md
 * says how to convert them).
 *
 * ```ts
 * const net = await registry.create<Backbone>("backbone", "resnet", { depth: 50, dim: 512, pooling: "max",
 *   weights: "/models/resnet50/weights_manifest.json" }, { inputShape: [224, 224, 3], rng, path: "backbone" });
 * ```
 */
import type { ComponentDef, CreateContext, Options } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { bool, checkFits, int, str } from "../../core/options.ts";
import { createResNet, RESNET_DEPTHS } from "./resnet.ts";
import { createBnInception } from "./bn_inception.ts";
import { loadTfjsModelBackbone } from "./tfjs_model.ts";
import { type Pooling, POOLINGS } from "./embedding_head.ts";

function imageShape(ctx: CreateContext, name: string): [number, number, number] {
  const shape = ctx.inputShape;
  if (!shape || shape.length !== 3) {
    throw new DmlError(
      `${ctx.path}.use: ${name} needs image items [height, width, channels], the dataset gives [${shape ?? ""}]`,
    );
  }
  return shape as [number, number, number];
}

const headOptions = {
  dim: int(512, { min: 0, doc: "embedding dimension of the linear head (0: no head, the pooled features)" }),
  pooling: str("avg", POOLINGS, "global pooling of the last feature map: avg, max (XBM, MPN), avg+max"),
  normalize: bool(true, "L2-normalise the embedding"),
};

const bnOptions = {
  frozenBatchNorm: bool(
    false,
    "BatchNorm uses its running moments in training too and never updates them (D&C, Roth et al.)",
  ),
  freezeBackbone: bool(false, "train only the embedding head (the backbone is a fixed feature extractor)"),
  weights: str("", undefined, "tfjs weights manifest with ImageNet weights by name ('' = random init)"),
};

async function withWeights<T extends { loadWeights(p: string, what: string): Promise<number> }>(
  net: T,
  o: Options,
  ctx: CreateContext,
): Promise<T> {
  if (o.weights) await net.loadWeights(o.weights, `${ctx.path}.weights`);
  return net;
}

export const resnet: ComponentDef = {
  kind: "backbone",
  name: "resnet",
  doc: "ResNet (torchvision layout, weights by torchvision name) on tf ops: stem, 4 stages, global pooling, " +
    "linear embedding head. depth 50: 2048 features",
  options: {
    depth: int(50, { min: 18, doc: "18, 34, 50, 101 or 152" }),
    width: int(64, { min: 1, doc: "channels of the first stage (64 = the real network; less for smoke tests)" }),
    lastStride: int(2, {
      min: 1,
      max: 2,
      doc: "stride of the last stage (1 doubles its resolution, XBM's LAST_STRIDE)",
    }),
    ...headOptions,
    ...bnOptions,
  },
  create: async (o, ctx) => {
    if (!RESNET_DEPTHS[o.depth]) {
      throw new DmlError(`${ctx.path}.depth: expected 18, 34, 50, 101 or 152, got ${o.depth}`);
    }
    checkHeadFits(Math.ceil(((o.depth >= 50 ? 2048 : 512) * o.width) / 64), o.dim, ctx);
    const net = createResNet(
      {
        depth: o.depth,
        width: o.width,
        dim: o.dim,
        pooling: o.pooling as Pooling,
        normalize: o.normalize,
        frozenBatchNorm: o.frozenBatchNorm,
        freezeBackbone: o.freezeBackbone,
        lastStride: o.lastStride,
      },
      imageShape(ctx, "resnet"),
      ctx.rng,
    );
    return await withWeights(net, o, ctx);
  },
};

export const bnInception: ComponentDef = {
  kind: "backbone",
  name: "bn-inception",
  doc: "BN-Inception (Inception v2 with BatchNorm, the converted Caffe model's layout and weight names): " +
    "1024 features, global pooling, linear embedding head",
  options: {
    slim: int(1, { min: 1, doc: "divide every channel count by this (1 = the real network; more for smoke tests)" }),
    ...headOptions,
    ...bnOptions,
  },
  create: async (o, ctx) => {
    checkHeadFits(Math.ceil(1024 / o.slim), o.dim, ctx);
    const net = createBnInception(
      {
        dim: o.dim,
        pooling: o.pooling as Pooling,
        normalize: o.normalize,
        frozenBatchNorm: o.frozenBatchNorm,
        freezeBackbone: o.freezeBackbone,
        slim: o.slim,
      },
      imageShape(ctx, "bn-inception"),
      ctx.rng,
    );
    return await withWeights(net, o, ctx);
  },
};

export const tfjsModel: ComponentDef = {
  kind: "backbone",
  name: "tfjs-model",
  doc: "A pretrained tfjs LayersModel or GraphModel from a local model.json, cut at a named layer/node, " +
    "then global pooling and a linear embedding head",
  options: {
    path: str(undefined, undefined, "the model.json of a tfjs model (tensorflowjs_converter output)"),
    layer: str(
      "",
      undefined,
      "layer (LayersModel) or node (GraphModel) whose output are the features ('' = the output)",
    ),
    trainable: bool(true, "fine-tune the model's weights (LayersModel only; a GraphModel is frozen)"),
    frozenBatchNorm: bool(false, "run the model's BatchNorm layers in inference mode in training too"),
    ...headOptions,
  },
  create: (o, ctx) =>
    loadTfjsModelBackbone(
      {
        path: o.path,
        layer: o.layer,
        pooling: o.pooling as Pooling,
        dim: o.dim,
        normalize: o.normalize,
        trainable: o.trainable,
        frozenBatchNorm: o.frozenBatchNorm,
      },
      imageShape(ctx, "tfjs-model"),
      ctx.rng,
      `${ctx.path}.path`,
    ),
};

/** The embedding head's weights, features × dim float32, must fit the machine (dim: 1e9 is a typo). */
function checkHeadFits(features: number, dim: number, ctx: CreateContext): void {
  checkFits(features * dim * 4, `${ctx.path}.dim`, `the head's ${features} × ${dim} float32 weights`);
}
