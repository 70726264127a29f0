/**
 * dml — deep metric learning for Deno. The public API: types, the registry with the built-in
 * plugins, recipes, the trainer and the evaluation helpers.
 *
 * ```ts
 * import { loadRecipe, registry, resolveRecipe, train } from "./mod.ts";
 * const recipe = await resolveRecipe(await loadRecipe("recipes/quickstart.yaml"), registry);
 * const { metrics } = await train(recipe, registry);
 * ```
 */
import { createRegistry } from "./plugins/builtin.ts";

export * from "./core/types.ts";
export { Registry } from "./core/registry.ts";
export { bool, int, num, nums, obj, type OptionSpec, resolveOptions, type Schema, str } from "./core/options.ts";
export { check, DmlError } from "./core/errors.ts";
export { Rng } from "./core/rng.ts";
export { tf } from "./core/tf.ts";
export { batchReference, l2normalize, type Metric, type PairMatrix, pairMatrix, pairwise } from "./core/pairs.ts";
export { type BackendChoice, useBackend } from "./core/backend.ts";
export { loadRecipe, type Recipe, resolveRecipe } from "./core/recipe.ts";
export { train, type TrainOptions, type TrainResult } from "./core/trainer.ts";
export { embedSplit } from "./core/embed.ts";
export { builtinPlugins, createRegistry } from "./plugins/builtin.ts";

/** The registry with every built-in plugin registered. */
export const registry = createRegistry();
