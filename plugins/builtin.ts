/**
 * The built-in plugins, in registration order, and a registry that has them. A new built-in
 * plugin adds one import and one entry here.
 */
import type { Plugin } from "../core/types.ts";
import { Registry } from "../core/registry.ts";
import optimizers from "./optimizers/mod.ts";

export const builtinPlugins: Plugin[] = [
  optimizers,
];

/** A fresh registry with every built-in plugin registered. */
export function createRegistry(): Registry {
  const r = new Registry();
  for (const p of builtinPlugins) r.register(p);
  return r;
}
