/**
 * The built-in plugins, in registration order. A new built-in plugin adds one line here.
 */
import type { Plugin } from "../core/types.ts";

export const builtinPlugins: Plugin[] = [];
