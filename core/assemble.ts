/**
 * Builds a run's components from a resolved recipe, in the order each needs the last:
 * dataset -> backbone (input shape) -> sampler (labels) -> loss (dim, classes) -> memory
 * (dim, batch size) -> optimizer -> evaluator. Each gets its own seeded stream.
 *
 * ```ts
 * const run = await assemble(recipe, registry);
 * run.backbone.embed(x, false);
 * ```
 */
import type { Backbone, DatasetSplits, Evaluator, Hooks, Loss, Memory, Optimizer, Sampler } from "./types.ts";
import type { Registry } from "./registry.ts";
import { evaluatorOptions, type Recipe } from "./recipe.ts";
import { Rng } from "./rng.ts";
import { DmlError } from "./errors.ts";
import { paramGroups } from "./param_groups.ts";

export interface Components {
  data: DatasetSplits;
  backbone: Backbone;
  sampler: Sampler;
  loss: Loss;
  memory?: Memory;
  optimizer: Optimizer;
  evaluator: Evaluator;
  shared: Map<string, unknown>;
  /** The stream the training loop draws from (sampling, augmentation). */
  trainRng: Rng;
  /** Components in recipe order with their section names, for hooks and checkpoints. */
  ordered: Array<[string, Hooks]>;
}

export async function assemble(recipe: Recipe, registry: Registry): Promise<Components> {
  const root = new Rng(recipe.seed);
  // One fork per section in a fixed order, so adding a memory does not change the backbone's init.
  const rngs = Object.fromEntries(
    ["data", "backbone", "sampler", "loss", "memory", "optimizer", "eval", "train"].map((k) => [k, root.fork()]),
  ) as Record<string, Rng>;
  const shared = new Map<string, unknown>();
  const make = <T>(
    key: string,
    kind: Parameters<Registry["create"]>[0],
    options: Record<string, unknown>,
    extra = {},
  ) => registry.create<T>(kind, options.use as string, options, { path: key, rng: rngs[key], shared, ...extra });

  const data = await make<DatasetSplits>("data", "dataset", recipe.data);
  if (!data.train) throw new DmlError(`data.use: dataset '${recipe.data.use}' provides no train split`);
  const common = { data, inputShape: data.train.shape, classes: data.train.classes };
  const backbone = await make<Backbone>("backbone", "backbone", recipe.backbone, common);
  if (recipe.eval.space === "features" && !backbone.features) {
    throw new DmlError(
      `eval.space: backbone '${recipe.backbone.use}' has no pre-head features to evaluate on; use space: embedding`,
    );
  }
  const sampler = await make<Sampler>("sampler", "sampler", recipe.sampler, { ...common, dim: backbone.dim });
  const sized = { ...common, dim: backbone.dim, batchSize: sampler.batchSize };
  const loss = await make<Loss>("loss", "loss", recipe.loss, sized);
  const memory = recipe.memory ? await make<Memory>("memory", "memory", recipe.memory, sized) : undefined;
  if (memory && loss.usesReference === false) {
    throw new DmlError(
      `memory.use: loss '${recipe.loss.use}' compares with its own weights and cannot use a memory; drop the memory or pick a pair loss`,
    );
  }
  const optimizer = await make<Optimizer>("optimizer", "optimizer", recipe.optimizer, {
    ...sized,
    params: paramGroups(backbone, loss),
  });
  const evalOpts = { use: recipe.eval.use, ...evaluatorOptions(recipe.eval) };
  const evaluator = await make<Evaluator>("eval", "evaluator", evalOpts, sized);
  const ordered: Array<[string, Hooks]> = [
    ["data", data as Hooks],
    ["backbone", backbone as Hooks],
    ["sampler", sampler as Hooks],
    ["loss", loss as Hooks],
    ...(memory ? [["memory", memory as Hooks] as [string, Hooks]] : []),
    ["optimizer", optimizer as Hooks],
    ["eval", evaluator as Hooks],
  ];
  return { data, backbone, sampler, loss, memory, optimizer, evaluator, shared, trainRng: rngs.train, ordered };
}
