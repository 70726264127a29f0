import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { tf } from "../core/tf.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { assemble } from "../core/assemble.ts";
import { rawPixels } from "../core/embed.ts";
import { FAKE_LAYOUTS, fakeCub200, fakeInShop, inTempDir } from "./image_fixtures.ts";

/** Two training steps of a tiny ResNet on `dataset`, then the evaluation, through the real trainer. */
async function smokeRun(dir: string, dataset: string, root: string, sets: string[] = []) {
  const recipe = {
    name: `smoke-${dataset}`,
    seed: 0,
    data: { use: dataset, root, size: 32, resize: 36, workers: 1 },
    backbone: { use: "resnet", depth: 18, width: 4, dim: 8 },
    sampler: { use: "m-per-class", classes: 2, perClass: 2, batchesPerEpoch: 3 },
    loss: { use: "contrastive" },
    optimizer: { use: "adam", lr: 0.001 },
    train: { epochs: 1, maxSteps: 2, backend: "cpu", logEvery: 1, checkpoint: false },
    eval: { use: "retrieval", recallAt: [1], nmi: false },
    output: `${dir}/runs`,
  };
  const file = `${dir}/${dataset}.yaml`;
  await Deno.writeTextFile(file, stringify(recipe));
  const registry = createRegistry();
  const resolved = await resolveRecipe(await loadRecipe(file, sets), registry, dir);
  return await train(resolved, registry, { quiet: true });
}

Deno.test("inshop: the raw-pixel baseline searches the gallery with the queries, as the trained network does", async () => {
  await inTempDir(async (dir) => {
    const fake = await fakeInShop(dir);
    const result = await smokeRun(dir, "inshop", fake.root, ["eval.baselines=true"]);
    // The same evaluation, written out here: query pixels against gallery pixels.
    const registry = createRegistry();
    const recipe = await resolveRecipe(await loadRecipe(`${dir}/inshop.yaml`), registry, dir);
    const c = await assemble(recipe, registry);
    const want = await c.evaluator.evaluate(await rawPixels(c.data.query!, 16), await rawPixels(c.data.gallery!, 16));
    assertEquals(result.baselines?.["raw pixels"], want);
  });
});

for (const [name, make] of FAKE_LAYOUTS) {
  Deno.test(`${name}: a two-step training run on a fake copy trains and evaluates`, async () => {
    await inTempDir(async (dir) => {
      const fake = await make(dir);
      const before = tf.memory().numTensors;
      const result = await smokeRun(dir, name, fake.root);
      assertEquals(result.steps, 2);
      assertEquals(result.losses.length, 2);
      assert(result.losses.every(Number.isFinite), `losses ${result.losses}`);
      const r1 = result.metrics["recall@1"];
      assert(r1 >= 0 && r1 <= 1, `recall@1 ${r1}`);
      // What stays alive after a run is the model and optimizer state, not per-step tensors.
      assert(tf.memory().numTensors - before < 400, `${tf.memory().numTensors - before} tensors left`);
    });
  });
}

Deno.test("decoding ahead of the step (train.prefetch) changes nothing: same losses and metrics", async () => {
  await inTempDir(async (dir) => {
    const fake = await fakeCub200(dir, { classes: 4, perClass: 4 });
    // The data path is what is tested: a small convnet keeps the three runs quick.
    const sets = [
      "train.maxSteps=3",
      "sampler.classes=2",
      "sampler.perClass=3",
      "backbone={use: convnet, channels: [4], dim: 8}",
    ];
    const now = await smokeRun(dir, "cub200", fake.root, [...sets, "train.prefetch=0"]);
    const ahead = await smokeRun(dir, "cub200", fake.root, [...sets, "train.prefetch=3"]);
    assertEquals(ahead.losses, now.losses);
    assertEquals(ahead.metrics, now.metrics);
    const other = await smokeRun(dir, "cub200", fake.root, [...sets, "seed=1"]);
    assert(JSON.stringify(other.losses) !== JSON.stringify(now.losses), "another seed gave the same losses");
  });
});
