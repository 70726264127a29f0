/**
 * tools/check_layers.ts, the import walls `deno task check` enforces: each wall on a made-up tree (allowed
 * imports pass, each crossing is named), and the real tree has none.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { layerViolations, relativeImports } from "../tools/check_layers.ts";

Deno.test("layers: every wall on a made-up tree; comments and npm imports do not count", () => {
  const tree = new Map<string, string>([
    ["core/trainer.ts", 'import { x } from "./tf.ts";\nimport type { Y } from "./images/decode_pool.ts";'],
    ["core/bad.ts", 'import { p } from "../plugins/xbm/mod.ts";\nconst w = new URL("../cli.ts", import.meta.url);'],
    ["core/doc.ts", '/**\n * import { tf } from "../plugins/a/x.ts";\n */\nimport sharp from "sharp";'],
    ["plugins/a/mod.ts", 'import { r } from "../../core/registry.ts";\nimport { h } from "./helper.ts";'],
    ["plugins/a/bad.ts", 'export { l } from "../b/loss.ts";\nconst m = await import("../../tests/util.ts");'],
    ["plugins/builtin.ts", 'import a from "./a/mod.ts";\nimport { l } from "./b/loss.ts";'],
    ["tests/a_test.ts", 'import { l } from "../plugins/b/loss.ts";'],
  ]);
  assertEquals(layerViolations(tree), [
    "core/bad.ts: imports cli.ts (the core imports the application)",
    "core/bad.ts: imports plugins/xbm/mod.ts (the core imports a plugin)",
    "plugins/a/bad.ts: imports plugins/b/loss.ts (a plugin imports another plugin)",
    "plugins/a/bad.ts: imports tests/util.ts (a plugin imports the application)",
    "plugins/builtin.ts: imports plugins/b/loss.ts (builtin.ts imports a plugin's inside (only its mod.ts))",
  ]);
  assertEquals(relativeImports('import "./side_effect.ts";\nimport { a } from "npm:x";'), ["./side_effect.ts"]);
});

Deno.test("layers: the tree itself crosses no wall", async () => {
  const sources = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(`../${dir}`, import.meta.url))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.(ts|js)$/.test(e.name)) {
        sources.set(path, await Deno.readTextFile(new URL(`../${path}`, import.meta.url)));
      }
    }
  };
  await walk("core");
  await walk("plugins");
  assertEquals(layerViolations(sources), []);
});
