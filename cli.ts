/**
 * The `dml` command (what `deno task train|eval|plugins` run): the core CLI with the built-in plugins.
 */
import { main } from "./core/cli.ts";
import { registry } from "./mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args, registry));
