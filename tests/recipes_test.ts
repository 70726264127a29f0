/** Every shipped recipe resolves against the built-in registry, and the quickstart trains (a few steps). */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function* yamlFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* yamlFiles(path);
    else if (e.name.endsWith(".yaml")) yield path;
  }
}

Deno.test("every recipe under recipes/ and examples/ loads and resolves", async () => {
  const paths: string[] = [];
  for (const dir of ["recipes", "examples"]) for await (const p of yamlFiles(`${ROOT}${dir}`)) paths.push(p);
  if (paths.length < 10) throw new Error(`only ${paths.length} recipes found`);
  for (const path of paths.sort()) {
    // Datasets read from the user's copy need a root; a placeholder path lets the recipe resolve (it is read only
    // when training). Those installed as packages (fashion-mnist, emoji) have no root option.
    const raw = await loadRecipe(path);
    const data = raw.data as Record<string, unknown> | undefined;
    const needsRoot = data && "root" in createRegistry().get("dataset", data.use as string).options;
    if (data && data.root === undefined && needsRoot) data.root = "/nonexistent";
    try {
      await resolveRecipe(raw, createRegistry());
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  }
});

Deno.test("eval.split is refused: nothing reads it (the dataset's splits choose one set or query/gallery)", async () => {
  const raw = await loadRecipe(`${ROOT}recipes/papers/dnc-inshop.yaml`, ["data.root=/nonexistent"]);
  await resolveRecipe(raw, createRegistry());
  (raw.eval as Record<string, unknown>).split = "query-gallery";
  await rejects(() => resolveRecipe(raw, createRegistry()), /^DmlError: eval\.split: unknown option/);
});

Deno.test("the quickstart recipe trains and evaluates with both baselines (a few steps)", async () => {
  const out = await Deno.makeTempDir();
  const registry = createRegistry();
  const sets = [`output=${out}`, "train.maxSteps=3", "data.limit=400", "data.testPerClass=40"];
  const recipe = await resolveRecipe(await loadRecipe(`${ROOT}recipes/quickstart.yaml`, sets), registry);
  const result = await train(recipe, registry, { quiet: true });
  assertEquals(result.steps, 3);
  assertEquals(Object.keys(result.baselines ?? {}).sort(), ["raw pixels", "untrained network"]);
  for (const k of ["recall@1", "recall@2", "recall@4", "recall@8", "map@r"]) {
    if (!(result.metrics[k] >= 0 && result.metrics[k] <= 1)) throw new Error(`${k}: ${result.metrics[k]}`);
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("a sum of losses trains from a recipe and logs each weighted term", async () => {
  const out = await Deno.makeTempDir();
  const registry = createRegistry();
  const sets = [
    `output=${out}`,
    "train.maxSteps=3",
    "train.logEvery=1",
    "data.limit=400",
    "data.testPerClass=40",
    "loss={use: sum, terms: {pairs: {use: multi-similarity}, proxies: {use: proxy-anchor, weight: 0.5}}}",
  ];
  const recipe = await resolveRecipe(await loadRecipe(`${ROOT}recipes/quickstart.yaml`, sets), registry);
  const result = await train(recipe, registry, { quiet: true });
  const steps = (await Deno.readTextFile(`${result.runDir}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((r) => r.type === "step");
  assertEquals(steps.length, 3);
  for (const r of steps) {
    if (Math.abs(r["loss.pairs"] + r["loss.proxies"] - r.loss) > 1e-4) {
      throw new Error(`terms do not add up: ${JSON.stringify(r)}`);
    }
  }
  await Deno.remove(out, { recursive: true });
});
