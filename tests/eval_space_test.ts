// `eval.space`: the trained and untrained networks are evaluated on the head's embedding or on the backbone's
// pre-head features, and the evaluator receives exactly those vectors. (A backbone without features: tests/cli_test.ts.)
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { assemble } from "../core/assemble.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { Rng } from "../core/rng.ts";
import type { Evaluator, Plugin, Split } from "../core/types.ts";
import { assertClose } from "./util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SMALL = ["train.maxSteps=2", "data.limit=400", "data.testPerClass=20", "train.checkpoint=false"];

/** A retrieval evaluator that keeps every set it is given (raw pixels, untrained, trained, in that order). */
function recordingPlugin(seen: Split[]): Plugin {
  return {
    name: "recording",
    components: [{
      kind: "evaluator",
      name: "recording-retrieval",
      doc: "retrieval that records the sets it evaluates",
      options: {
        recallAt: { type: "numbers", default: [1], doc: "K" },
        center: { type: "boolean", default: false, doc: "as retrieval's" },
      },
      async create(o, ctx) {
        const options = { recallAt: o.recallAt, center: o.center };
        const inner = await ctx.registry.create<Evaluator>("evaluator", "retrieval", options, ctx);
        return { evaluate: (q: Split, g?: Split) => (seen.push(q), inner.evaluate(q, g)) };
      },
    }],
  };
}

async function quickstartRun(space: string) {
  const out = await Deno.makeTempDir();
  const seen: Split[] = [];
  const registry = createRegistry();
  registry.register(recordingPlugin(seen));
  const sets = [`output=${out}`, ...SMALL, "eval.use=recording-retrieval", `eval.space=${space}`];
  const recipe = await resolveRecipe(await loadRecipe(`${ROOT}recipes/quickstart.yaml`, sets), registry);
  await train(recipe, registry, { quiet: true });
  await Deno.remove(out, { recursive: true });
  return { seen, recipe, registry };
}

Deno.test("eval.space: features evaluates both networks on the backbone's pre-head features", async () => {
  const { seen, recipe, registry } = await quickstartRun("features");
  assertEquals(seen.length, 3);
  const [pixels, untrained, trained] = seen;
  // The quickstart's convnet flattens a 64-channel 7×7 map: 3,136 features before its 128-d head.
  assertEquals([pixels.dim, untrained.dim, trained.dim], [784, 3136, 3136]);

  // The untrained network's features, computed here from a fresh copy of the run's components (same seed).
  const c = await assemble(recipe, registry);
  const test = c.data.test!;
  const x = test.batch(Int32Array.from({ length: test.size }, (_, i) => i), { augment: false, rng: new Rng(0) });
  const before = tf.memory().numTensors;
  const f = c.backbone.features!(x as Tensor, false);
  assertClose(f.dataSync() as Float32Array, untrained.data, { rtol: 1e-5, atol: 1e-6 });
  f.dispose();
  assertEquals(tf.memory().numTensors, before);
  x.dispose();
  for (const w of [...c.backbone.trainableWeights, ...c.backbone.stateWeights ?? []]) w.dispose();
});

Deno.test("eval.space: embedding (the default) evaluates the head's output", async () => {
  const { seen } = await quickstartRun("embedding");
  assertEquals(seen.map((s) => s.dim), [784, 128, 128]);
});
