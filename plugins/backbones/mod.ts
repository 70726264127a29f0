/**
 * Built-in backbones: `mlp` and `convnet`, written with tf ops (see layers.ts).
 *
 * ```ts
 * const net = await registry.create<Backbone>("backbone", "convnet", { dim: 128 }, { inputShape: [28, 28, 1], rng });
 * const e = net.embed(x, true); // [B, 128]
 * ```
 */
import type { ComponentDef, CreateContext, Plugin } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { bool, checkFits, int, nums, str } from "../../core/options.ts";
import { createMlp } from "./mlp.ts";
import { createConvnet } from "./convnet.ts";
import { bnInception, resnet, tfjsModel } from "./image_backbones.ts";

function inputShapeOf(ctx: CreateContext): number[] {
  if (!ctx.inputShape || ctx.inputShape.length === 0) {
    throw new Error(`${ctx.path}: the backbone needs the dataset's item shape (ctx.inputShape)`);
  }
  return ctx.inputShape;
}

const mlp: ComponentDef = {
  kind: "backbone",
  name: "mlp",
  doc: "Multi-layer perceptron on the flattened input: dense -> (BatchNorm) -> ReLU per hidden layer, " +
    "then a linear embedding head of `dim`. He-normal hidden weights, Glorot-normal head, drawn from the run's seed.",
  options: {
    hidden: nums([256, 256], { min: 1, integer: true, doc: "units of each hidden layer; [] gives a linear embedding" }),
    dim: int(128, { min: 1, doc: "embedding dimension" }),
    batchNorm: bool(false, "BatchNorm after each hidden dense layer (running moments momentum 0.9, eps 1e-5)"),
    normalize: bool(true, "L2-normalise the embedding"),
  },
  create: (o, ctx) => {
    const widths = [inputShapeOf(ctx).reduce((a, b) => a * b, 1), ...o.hidden, o.dim];
    for (let l = 1; l < widths.length; l++) {
      const path = `${ctx.path}.${l === widths.length - 1 ? "dim" : "hidden"}`;
      checkFits(widths[l - 1] * widths[l] * 4, path, `layer ${l}'s ${widths[l - 1]} × ${widths[l]} float32 weights`);
    }
    return createMlp(
      { hidden: o.hidden, dim: o.dim, batchNorm: o.batchNorm, normalize: o.normalize },
      inputShapeOf(ctx),
      ctx.rng,
    );
  },
};

const convnet: ComponentDef = {
  kind: "backbone",
  name: "convnet",
  doc: "Small CNN: per entry of `channels` a conv3x3 -> BatchNorm -> ReLU block, 2x2 max-pool between blocks, " +
    "global pooling (or the flattened map), then a linear embedding head of `dim`. He-normal convolutions, Glorot-normal head, " +
    "drawn from the run's seed. `features` are the pooled activations (channels.at(-1) wide).",
  options: {
    channels: nums([32, 64, 128], { min: 1, integer: true, doc: "output channels of each conv block" }),
    dim: int(128, { min: 1, doc: "embedding dimension" }),
    batchNorm: bool(true, "BatchNorm after each convolution (running moments momentum 0.9, eps 1e-5)"),
    normalize: bool(true, "L2-normalise the embedding"),
    pool: str(
      "avg",
      ["avg", "max", "flatten"],
      "last map to vector: global average, global max, or flatten (keeps the layout)",
    ),
  },
  create: (o, ctx) => {
    const shape = inputShapeOf(ctx);
    if (shape.length !== 3) {
      throw new DmlError(
        `${ctx.path}.use: convnet needs image items [height, width, channels], but the dataset's items are [${shape}]; use mlp`,
      );
    }
    if (o.channels.length === 0) throw new DmlError(`${ctx.path}.channels: needs at least one conv block, got []`);
    const c = o.channels.at(-1)!;
    const fanIn = o.pool === "flatten"
      ? (shape[0] >> (o.channels.length - 1)) * (shape[1] >> (o.channels.length - 1)) * c
      : c;
    checkFits(fanIn * o.dim * 4, `${ctx.path}.dim`, `the head's ${fanIn} × ${o.dim} float32 weights`);
    return createConvnet(
      { channels: o.channels, dim: o.dim, batchNorm: o.batchNorm, normalize: o.normalize, pool: o.pool },
      shape as [number, number, number],
      ctx.rng,
    );
  },
};

/** The built-in backbones plugin. */
export const plugin: Plugin = { name: "backbones", components: [mlp, convnet, resnet, bnInception, tfjsModel] };
export default plugin;
