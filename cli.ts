/**
 * The `dml` command (what `deno task train|eval|plugins` run): the core CLI with the built-in plugins.
 */
import { main } from "./core/cli.ts";
import { registry } from "./mod.ts";
import { sealNative } from "./core/sandbox.ts";

if (import.meta.main) {
  // Before any recipe, hence any plugin, loads: native libraries in, FFI out (core/sandbox.ts).
  sealNative();
  Deno.exit(await main(Deno.args, registry));
}
