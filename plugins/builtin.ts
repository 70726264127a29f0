/**
 * The built-in plugins, in registration order, and a registry that has them. A new built-in
 * plugin adds one import and one entry here.
 */
import type { Plugin } from "../core/types.ts";
import { Registry } from "../core/registry.ts";
import optimizers from "./optimizers/mod.ts";
import datasets from "./datasets/mod.ts";
import imageDatasets from "./image-datasets/mod.ts";
import emoji from "./emoji/mod.ts";
import backbones from "./backbones/mod.ts";
import samplers from "./samplers/mod.ts";
import losses from "./losses/mod.ts";
import xbm from "./xbm/mod.ts";
import xbn from "./xbn/mod.ts";
import mpn from "./mpn/mod.ts";
import evaluators from "./evaluators/mod.ts";
import divideConquer from "./divide-conquer/mod.ts";
import bier from "./bier/mod.ts";

export const builtinPlugins: Plugin[] = [
  datasets,
  imageDatasets,
  emoji,
  backbones,
  samplers,
  losses,
  optimizers,
  xbm,
  xbn,
  mpn,
  evaluators,
  divideConquer,
  bier,
];

/** A fresh registry with every built-in plugin registered. */
export function createRegistry(): Registry {
  const r = new Registry();
  for (const p of builtinPlugins) r.register(p);
  return r;
}
