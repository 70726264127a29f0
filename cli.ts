/**
 * The `dml` command (what `deno task train|eval|plugins` run): the core CLI with the built-in plugins.
 */
import { main } from "./core/cli.ts";
import { registry } from "./mod.ts";
import { sealNative } from "./core/sandbox.ts";

if (import.meta.main) {
  // search and index load no recipe or plugin: the native addons they use (the ANN engine, the
  // query images' decoder) load here, before the seal.
  const addons: Record<string, string[]> = { search: ["usearch", "sharp"], index: ["usearch"] };
  for (const addon of addons[Deno.args[0]] ?? []) await import(addon);
  // Before any recipe, hence any plugin, loads: native libraries in, FFI out (core/sandbox.ts).
  sealNative();
  Deno.exit(await main(Deno.args, registry));
}
