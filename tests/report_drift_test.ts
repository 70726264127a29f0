/**
 * Memory drift (core/report/drift.ts): the memories remember which train rows they hold, and the
 * drift between stored and fresh embeddings matches a float64 reference; a trained toy run with a
 * memory logs it, and its batch and memory loss parts add up to the loss.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import type { Backbone, Dataset, Memory } from "../core/types.ts";
import { memoryDrift } from "../core/report/drift.ts";
import { CrossBatchMemory } from "../plugins/xbm/mod.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { assertClose, assertNoLeak } from "./util.ts";
import { xbn } from "./memory_util.ts";

const SEED = Number(Deno.env.get("DML_TEST_SEED") ?? Date.now() % 1_000_000);
const IN = 5, DIM = 3, N = 40;

function fixture(seed: number) {
  const rng = new Rng(seed);
  const x = Array.from({ length: N }, () => Array.from({ length: IN }, () => rng.normal()));
  const labels = Int32Array.from({ length: N }, (_, i) => i % 4);
  const data: Dataset = {
    size: N,
    labels,
    classes: 4,
    shape: [IN],
    batch: (idx) => tf.tensor2d(Array.from(idx, (i) => x[i])),
  };
  const w0 = Array.from({ length: IN }, () => Array.from({ length: DIM }, () => rng.normal()));
  const w: Variable = tf.variable(tf.tensor2d(w0));
  const backbone: Backbone = { dim: DIM, trainableWeights: [w], embed: (t) => tf.matMul(t as Tensor2D, w) };
  return { rng, x, labels, data, w, w0, backbone };
}

/** Rows `items` of x through W, in float64. */
const embed64 = (x: number[][], w: number[][], items: number[]) =>
  items.map((i) => Array.from({ length: DIM }, (_, d) => x[i].reduce((s, v, k) => s + v * w[k][d], 0)));

const cosDistance = (a: number[], b: number[]) =>
  1 - a.reduce((s, v, i) => s + v * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));

function feed(m: Memory, f: ReturnType<typeof fixture>, items: number[], step: number, withItems = true) {
  tf.tidy(() => {
    const e = f.backbone.embed(f.data.batch(Int32Array.from(items), { augment: false, rng: f.rng }), true);
    m.update(
      e,
      tf.tensor1d(items.map((i) => f.labels[i]), "int32"),
      step,
      withItems ? Int32Array.from(items) : undefined,
    );
  });
}

Deno.test("drift: 0 for unchanged weights, the float64 mean cosine distance after a change", async () => {
  const f = fixture(SEED);
  const m = new CrossBatchMemory({ size: 24, start: 0, weight: 1, batchLoss: true, order: "before-loss" });
  const first = [3, 9, 1, 30, 12, 7, 0, 25], second = [11, 5, 38, 2, 17, 21, 33, 4];
  feed(m, f, first, 0);
  feed(m, f, second, 1);
  const still = await assertNoLeak(() => memoryDrift(m, f.data, f.backbone, 2), "memoryDrift");
  assertEquals(still!.entries, 16);
  assertClose(still!.drift, 0, { atol: 1e-6, msg: `seed ${SEED}` });

  // New weights: stored entries keep the old embeddings.
  const w1 = f.w0.map((row) => row.map((v) => v + 0.7 * f.rng.normal()));
  f.w.assign(tf.tensor2d(w1));
  const items = [...first, ...second];
  const old = embed64(f.x, f.w0, items), now = embed64(f.x, w1, items);
  const expected = items.reduce((s, _, i) => s + cosDistance(old[i], now[i]), 0) / items.length;
  const moved = await memoryDrift(m, f.data, f.backbone, 3);
  assertClose(moved!.drift, expected, { atol: 1e-5, rtol: 1e-4, msg: `seed ${SEED}` });

  // Entries of unknown origin are left out; a sample bounds the work.
  feed(m, f, [6, 8, 10, 13], 4, false);
  assertEquals((await memoryDrift(m, f.data, f.backbone, 5))!.entries, 16);
  assertEquals((await memoryDrift(m, f.data, f.backbone, 5, 5))!.entries, 5);
  // The ring wraps: the oldest rows are overwritten, their items with them.
  feed(m, f, [14, 15, 16, 18], 6);
  feed(m, f, [19, 20, 22, 23], 7);
  const s = m.stored!()!;
  assertEquals(s.e.shape, [24, DIM]);
  assertEquals([...s.items], [19, 20, 22, 23, 12, 7, 0, 25, ...second, -1, -1, -1, -1, 14, 15, 16, 18]);
  s.e.dispose();
  m.dispose();
  f.w.dispose();
});

Deno.test("drift: XBN compares its adapted entries; a resumed memory knows no items", async () => {
  const f = fixture(SEED + 1);
  const m = xbn();
  feed(m, f, [0, 1, 2, 3, 4, 5], 0);
  feed(m, f, [6, 7, 8, 9, 10, 11], 1);
  const s = m.stored!()!;
  assertEquals([...s.items], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const stored = await s.e.array();
  s.e.dispose();
  const now = embed64(f.x, f.w0, [...s.items]);
  const expected = stored.reduce((t, r, i) => t + cosDistance(r, now[i]), 0) / stored.length;
  const d = await memoryDrift(m, f.data, f.backbone, 2);
  assertClose(d!.drift, expected, { atol: 1e-5, rtol: 1e-4, msg: `seed ${SEED}` });
  ok(d!.drift > 1e-4, "the first batch's entries were re-standardised to the second batch's moments");

  const saved = await m.state();
  const resumed = xbn();
  resumed.load(saved);
  assertEquals(await memoryDrift(resumed, f.data, f.backbone, 3), null);
  m.dispose();
  resumed.dispose();
  f.w.dispose();
});

Deno.test("a toy run with a memory logs drift each epoch and loss = batch part + memory part", async () => {
  const out = await Deno.makeTempDir();
  const registry = createRegistry();
  const raw = await loadRecipe(new URL("./fixtures/toy.yaml", import.meta.url).pathname, [
    `output=${out}`,
    "memory={use: xbm, size: 48, start: 2, weight: 0.5}",
    "train.logEvery=1",
    "train.epochs=3",
  ]);
  const recipe = await resolveRecipe(raw, registry, new URL("./fixtures/", import.meta.url).pathname);
  const { runDir } = await train(recipe, registry, { quiet: true });
  const records = (await Deno.readTextFile(`${runDir}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  const drift = records.filter((r) => r.type === "drift");
  assertEquals(drift.map((r) => r.step), [6, 12, 18]);
  for (const r of drift) ok(r.drift >= 0 && r.drift <= 2 && r.entries === 48, JSON.stringify(r));
  const steps = records.filter((r) => r.type === "step");
  assertEquals(steps.length, 18);
  for (const r of steps) {
    assertClose(r.loss, r["loss.batch"] + r["loss.memory"], { atol: 1e-6, rtol: 1e-6, msg: `step ${r.step}` });
    if (r.step <= 2) assertEquals(r["loss.memory"], 0);
    else ok(r["loss.memory"] > 0, `step ${r.step}`);
  }
});
