/**
 * Runs a paper recipe of recipes/papers/ for two steps on a fake copy of its dataset, with the
 * sizes shrunk so a CPU does it in seconds: 32-pixel inputs, a narrow backbone without pretrained
 * weights, 2 classes × 2 images per batch, a small memory used from the first step. Everything
 * else (losses, memories, samplers, optimizers, schedules, evaluation) is the recipe's own.
 *
 * ```ts
 * const result = await smokePaperRecipe("recipes/papers/mpn-cub.yaml", tmpDir);
 * result.steps; // 2
 * await testPaperRecipes(["mpn"]); // one Deno.test per recipes/papers/mpn-*.yaml
 * ```
 *
 * The recipes are split over four test files (each under a minute on a loaded 2-core machine):
 * paper_recipes_test.ts (XBM, XBN), paper_recipes_dnc_test.ts, paper_recipes_mpn_test.ts,
 * paper_recipes_bier_test.ts.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train, type TrainResult } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import {
  fakeCars196,
  type FakeCopy,
  fakeCub200,
  fakeDeepFashion2,
  fakeImageFolder,
  fakeInShop,
  fakeSop,
  fakeVehicleId,
  inTempDir,
} from "./image_fixtures.ts";

const FAKES: Record<string, (dir: string) => Promise<FakeCopy>> = {
  cub200: (d) => fakeCub200(d, { classes: 6, perClass: 4 }),
  cars196: (d) => fakeCars196(d, { classes: 6, perClass: 4, compress: true }),
  sop: (d) => fakeSop(d, { trainClasses: 3, testClasses: 3, perClass: 4 }),
  inshop: (d) => fakeInShop(d),
  deepfashion2: (d) => fakeDeepFashion2(d),
  vehicleid: (d) => fakeVehicleId(d),
  "image-folder": (d) => fakeImageFolder(d),
};

/** The paper recipes, by file name. */
export async function paperRecipes(prefixes: string[]): Promise<string[]> {
  const dir = new URL("../recipes/papers/", import.meta.url).pathname;
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(".yaml") && prefixes.some((p) => e.name.startsWith(p))) out.push(`${dir}${e.name}`);
  }
  return out.sort();
}

/** Two training steps and the evaluation of `file` on a fake copy of its dataset made in `dir`. */
export async function smokePaperRecipe(file: string, dir: string): Promise<TrainResult> {
  const raw = await loadRecipe(file);
  const section = (k: string) => (raw[k] ?? {}) as Record<string, unknown>;
  const dataset = String(section("data").use);
  const make = FAKES[dataset];
  if (!make) throw new Error(`${file}: no fake copy of dataset '${dataset}'`);
  const fake = await make(`${dir}/${dataset}`);
  const backbone = String(section("backbone").use);
  const sets = [
    `data.root=${fake.root}`,
    "data.size=32",
    "data.resize=36",
    "data.workers=1",
    `output=${dir}/runs`,
    "train.epochs=1",
    "train.maxSteps=2",
    "train.backend=cpu",
    "train.checkpoint=false",
    "train.logEvery=1",
    "eval.every=1",
    "sampler.classes=2",
    "sampler.perClass=2",
    "sampler.batchesPerEpoch=2",
    // The fake test splits hold a handful of images: Recall@100 has no meaning there.
    "eval.recallAt=[1, 2]",
  ];
  if (backbone === "resnet") sets.push("backbone.width=4", "backbone.weights=''");
  if (backbone === "bn-inception") sets.push("backbone.slim=16", "backbone.weights=''");
  if (section("sampler").use === "divide-conquer") sets.push("sampler.clusters=2");
  if (raw.memory) sets.push("memory.size=16", "memory.start=0");
  const registry = createRegistry();
  const recipe = await resolveRecipe(await loadRecipe(file, sets), registry, file.slice(0, file.lastIndexOf("/")));
  return await train(recipe, registry, { quiet: true });
}

/** Registers one Deno test per paper recipe whose file name starts with one of `prefixes`. */
export async function testPaperRecipes(prefixes: string[]): Promise<void> {
  for (const file of await paperRecipes(prefixes)) {
    Deno.test(`${file.slice(file.lastIndexOf("/") + 1)}: two steps on a fake copy of its dataset`, async () => {
      await inTempDir(async (dir) => {
        const result = await smokePaperRecipe(file, dir);
        assertEquals(result.steps, 2);
        assert(result.losses.every(Number.isFinite), `losses ${result.losses}`);
        assert(Object.keys(result.metrics).some((k) => k.startsWith("recall@")), JSON.stringify(result.metrics));
      });
    });
  }
}
