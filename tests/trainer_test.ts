import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { learningRate } from "../core/schedule.ts";
import { clipByGlobalNorm } from "../core/trainer.ts";
import { assertClose } from "./util.ts";
import { useBackend, webgpuAdapter } from "../core/backend.ts";
import type { Hooks, Loss, Plugin, Reference } from "../core/types.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";

const TOY = new URL("./fixtures/toy.yaml", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

async function toyRun(out: string, sets: string[] = [], resumeDir?: string) {
  const registry = createRegistry();
  const raw = await loadRecipe(resumeDir ? `${resumeDir}/recipe.yaml` : TOY, [`output=${out}`, ...sets]);
  const recipe = await resolveRecipe(raw, registry, FIXTURES);
  return { registry, result: await train(recipe, registry, { quiet: true, resumeDir }) };
}

Deno.test("the same recipe and seed give the same losses on the cpu backend", async () => {
  const out = await Deno.makeTempDir();
  const a = (await toyRun(out)).result, b = (await toyRun(out)).result;
  assertEquals(a.losses, b.losses);
  assertEquals(a.losses.length, 12);
  const c = (await toyRun(out, ["seed=4"])).result;
  if (JSON.stringify(c.losses) === JSON.stringify(a.losses)) throw new Error("another seed gave the same losses");
});

Deno.test("two epochs straight equal one epoch plus a resumed one, exactly", async () => {
  const out = await Deno.makeTempDir();
  const straight = (await toyRun(out, ["train.epochs=2"])).result;
  const first = (await toyRun(out, ["train.epochs=1"])).result;
  const resumed = (await toyRun(out, ["train.epochs=2"], first.runDir)).result;
  assertEquals([...first.losses, ...resumed.losses], straight.losses);
  assertEquals(resumed.metrics, straight.metrics);
  // metrics.jsonl of the resumed run holds each step once.
  const lines = (await Deno.readTextFile(`${first.runDir}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.filter((r) => r.type === "step").map((r) => r.step), Array.from({ length: 12 }, (_, i) => i + 1));
});

Deno.test("a training step leaks no tensor", async () => {
  const counts: number[] = [];
  const probe: Plugin = {
    name: "probe",
    components: [{
      kind: "evaluator",
      name: "probe-recall",
      doc: "toy-recall that also counts live tensors after each step",
      options: {},
      async create(_o, ctx) {
        const inner = await ctx.registry.create("evaluator", "toy-recall", {}, ctx);
        const hooks: Hooks = { afterStep: () => void counts.push(tf.memory().numTensors) };
        return Object.assign(inner as object, hooks);
      },
    }],
  };
  const out = await Deno.makeTempDir();
  const registry = createRegistry();
  registry.register(probe);
  const raw = await loadRecipe(TOY, [`output=${out}`, "eval.use=probe-recall", "train.logEvery=4"]);
  const recipe = await resolveRecipe(raw, registry, FIXTURES);
  await train(recipe, registry, { quiet: true });
  // Step 1 creates the optimizer's slots; pending loss scalars are freed every logEvery steps.
  const atFlush = counts.filter((_, i) => (i + 1) % 4 === 0);
  assertEquals(new Set(atFlush.slice(1)).size, 1, `tensor counts at each flush: ${atFlush}`);
});

Deno.test("learning-rate schedules: warm-up, step, cosine and linear", () => {
  const o = { schedule: "cosine", warmup: 10, milestones: [2, 4], gamma: 0.1, minLr: 0 };
  assertClose(learningRate(o, 1, { step: 0, totalSteps: 110, epoch: 0 }), 0.1);
  assertClose(learningRate(o, 1, { step: 9, totalSteps: 110, epoch: 0 }), 1);
  assertClose(learningRate(o, 1, { step: 60, totalSteps: 110, epoch: 0 }), 0.5);
  assertClose(learningRate(o, 1, { step: 110, totalSteps: 110, epoch: 0 }), 0);
  const s = { ...o, schedule: "step", warmup: 0 };
  assertClose(learningRate(s, 1, { step: 5, totalSteps: 100, epoch: 1 }), 1);
  assertClose(learningRate(s, 1, { step: 5, totalSteps: 100, epoch: 3 }), 0.1);
  assertClose(learningRate(s, 1, { step: 5, totalSteps: 100, epoch: 4 }), 0.01, { rtol: 1e-6 });
  const l = { ...o, schedule: "linear", warmup: 0, minLr: 0.2 };
  assertClose(learningRate(l, 1, { step: 50, totalSteps: 100, epoch: 0 }), 0.6);
});

Deno.test("gradient clipping scales to the global norm and leaves small gradients alone", () => {
  const g = [tf.tensor([3, 0]), tf.tensor([0, 4])];
  const clipped = clipByGlobalNorm(g, 1);
  assertClose([...clipped[0].dataSync(), ...clipped[1].dataSync()], [0.6, 0, 0, 0.8]);
  const kept = clipByGlobalNorm(g, 10);
  assertClose([...kept[0].dataSync(), ...kept[1].dataSync()], [3, 0, 0, 4]);
  tf.dispose([...g, ...clipped, ...kept]);
});

Deno.test("training on webgpu gives the cpu backend's losses within float32 tolerance (with a memory)", async () => {
  if (!(await webgpuAdapter())) return; // CI installs lavapipe, so this runs there.
  const out = await Deno.makeTempDir();
  const sets = ["train.epochs=2", "memory.use=xbm", "memory.size=64"];
  const cpu = (await toyRun(out, ["train.backend=cpu", ...sets])).result;
  const gpu = (await toyRun(out, ["train.backend=webgpu", ...sets])).result;
  try {
    assertEquals(gpu.backend.backend, "webgpu");
    assertClose(gpu.losses, cpu.losses, { atol: 1e-4, rtol: 1e-3, msg: "losses" });
    assertClose(gpu.metrics["recall@1"], cpu.metrics["recall@1"], { atol: 0.02, msg: "recall@1" });
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("the trainer combines batch and memory losses: loss = [batch] + weight × memory, logged as its parts", async () => {
  // A probe loss records what each compute returned, with or without the memory's reference.
  let calls: Array<{ ref: boolean; value: number }> = [];
  const perStep: Array<typeof calls> = [];
  const probe: Plugin = {
    name: "probe-loss",
    components: [{
      kind: "loss",
      name: "probe-contrastive",
      doc: "toy-contrastive that records each value it returns",
      options: {},
      async create(_o, ctx) {
        const inner = await ctx.registry.create<Loss>("loss", "toy-contrastive", { margin: 0.3 }, ctx);
        const hooks: Hooks = { afterStep: () => void (perStep.push(calls), calls = []) };
        return Object.assign({
          compute(e: Tensor2D, y: Tensor1D, ref?: Reference) {
            const v = inner.compute(e, y, ref);
            calls.push({ ref: ref !== undefined, value: v.dataSync()[0] });
            return v;
          },
        }, hooks);
      },
    }],
  };
  for (const batchLoss of [false, true]) {
    const weight = batchLoss ? 0.25 : 3;
    perStep.length = 0;
    const out = await Deno.makeTempDir();
    const registry = createRegistry();
    registry.register(probe);
    const sets = [
      `output=${out}`,
      "loss={use: probe-contrastive}",
      "train.epochs=1",
      "memory.use=xbm",
      "memory.size=48",
    ];
    sets.push("memory.start=2", `memory.weight=${weight}`, `memory.batchLoss=${batchLoss}`);
    const recipe = await resolveRecipe(await loadRecipe(TOY, sets), registry, FIXTURES);
    const { runDir } = await train(recipe, registry, { quiet: true });
    const steps = (await Deno.readTextFile(`${runDir}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "step");
    assertEquals(steps.length, 6);
    steps.forEach((r, i) => {
      const batch = perStep[i].find((c) => !c.ref)?.value;
      const memory = perStep[i].find((c) => c.ref)?.value;
      const msg = `batchLoss ${batchLoss}, step ${r.step}: ${JSON.stringify(r)} ${JSON.stringify(perStep[i])}`;
      // Before the memory holds anything (step < start) only the batch loss counts.
      assertEquals(memory === undefined, r.step <= 2, msg);
      assertEquals(batch === undefined, !batchLoss && memory !== undefined, msg);
      assertClose(r["loss.batch"], batch ?? 0, { rtol: 1e-6, msg });
      assertClose(r["loss.memory"], memory === undefined ? 0 : weight * memory, { rtol: 1e-6, msg });
      assertClose(r.loss, (batch ?? 0) + (memory === undefined ? 0 : weight * memory), { rtol: 1e-6, msg });
    });
  }
});
