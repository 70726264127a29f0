/**
 * Built-in samplers: `m-per-class` (class-balanced batches) and `random` (shuffled passes).
 *
 * ```ts
 * const s = await registry.create<Sampler>("sampler", "m-per-class", { classes: 6, perClass: 8 }, { data });
 * for (const batch of s.batches(0, rng)) data.train.batch(batch, { augment: true, rng });
 * ```
 */
import type { ComponentDef, CreateContext, Dataset, Plugin } from "../../core/types.ts";
import { checkFits, int } from "../../core/options.ts";
import { MPerClassSampler } from "./m_per_class.ts";
import { RandomSampler } from "./random.ts";

function trainSplit(ctx: CreateContext): Dataset {
  if (!ctx.data) throw new Error(`${ctx.path}: the sampler needs the dataset (ctx.data)`);
  return ctx.data.train;
}

/** A batch is decoded and fed as float32: refuse sizes the machine cannot hold before the first one. */
function checkBatchFits(ctx: CreateContext, items: number, path: string, count: string): void {
  const shape = trainSplit(ctx).shape;
  const bytes = items * shape.reduce((a, b) => a * b, 1) * 4;
  checkFits(bytes, path, `batches of ${count} items of [${shape.join(", ")}] float32`);
}

const mPerClass: ComponentDef = {
  kind: "sampler",
  name: "m-per-class",
  doc:
    "Class-balanced batches: `classes` distinct classes × `perClass` items each (batch size = classes × perClass). " +
    "An epoch is exactly `batchesPerEpoch` batches (default floor(train size / batch size): as many images as the " +
    "split holds, not each image once). Classes come from shuffled rounds of all classes and items from shuffled " +
    "rounds of each class, so coverage is even; a class with fewer than perClass items is topped up with replacement.",
  options: {
    classes: int(16, { min: 1, doc: "distinct classes per batch (at most the training split's classes)" }),
    perClass: int(4, { min: 1, doc: "items per class in a batch" }),
    batchesPerEpoch: int(0, { min: 0, doc: "batches per epoch; 0 = floor(train size / (classes × perClass))" }),
  },
  create: (o, ctx) => {
    const larger = o.perClass >= o.classes ? "perClass" : "classes";
    checkBatchFits(ctx, o.classes * o.perClass, `${ctx.path}.${larger}`, `${o.classes} × ${o.perClass}`);
    return new MPerClassSampler(
      trainSplit(ctx).labels,
      { classes: o.classes, perClass: o.perClass, batchesPerEpoch: o.batchesPerEpoch },
      ctx.path,
    );
  },
};

const random: ComponentDef = {
  kind: "sampler",
  name: "random",
  doc: "Shuffles the training split each epoch and yields disjoint batches of `batchSize`, dropping the last " +
    "partial one: an epoch is floor(train size / batchSize) batches, each image at most once.",
  options: {
    batchSize: int(64, { min: 1, doc: "items per batch" }),
  },
  create: (o, ctx) => {
    checkBatchFits(ctx, o.batchSize, `${ctx.path}.batchSize`, `${o.batchSize}`);
    return new RandomSampler(trainSplit(ctx).size, { batchSize: o.batchSize }, ctx.path);
  },
};

/** The built-in samplers plugin. */
export const plugin: Plugin = { name: "samplers", components: [mPerClass, random] };
export default plugin;
