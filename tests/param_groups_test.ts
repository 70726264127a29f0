/**
 * Optimizer param groups (core/param_groups.ts, plugins/optimizers/lr_mult.ts): the groups come
 * from the contract (backbone.headWeights, loss.trainableWeights); each group steps at
 * lr × lrMult (checked against float64 references of SGD and Adam); the option is validated like
 * every option; a multiplier nothing reads is refused; the groups ride in the optimizer's state,
 * and a resumed run with them is bit for bit the straight run.
 */
import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { assemble } from "../core/assemble.ts";
import { train } from "../core/trainer.ts";
import { paramGroups } from "../core/param_groups.ts";
import { DmlError } from "../core/errors.ts";
import { Rng } from "../core/rng.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Loss, Optimizer, ParamGroups, State } from "../core/types.ts";
import { assertClose, assertNoLeak, randn } from "./util.ts";

const TOY = new URL("./fixtures/toy.yaml", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
/** The toy recipe with a built-in mlp backbone (a body and a dense head). */
const MLP = ["backbone={use: mlp, hidden: [6], dim: 4, normalize: false}", "train.backend=cpu"];

async function toyRecipe(sets: string[], path = TOY) {
  const registry = createRegistry();
  return { registry, recipe: await resolveRecipe(await loadRecipe(path, sets), registry, FIXTURES) };
}

const read = (t: Tensor) => Array.from(t.dataSync(), Number);

function vars(rng: Rng, shapes: number[][]): Variable[] {
  return shapes.map((s) => tf.variable(tf.tensor(randn(rng, s[0], s[1] ?? 1).flat(), s)));
}

/** One step of `name` on groups of weights with gradients `g`; returns the weights after it. */
async function stepOnce(name: string, o: Record<string, unknown>, params: ParamGroups, g: number[][]) {
  const opt = await createRegistry().create<Optimizer>("optimizer", name, o, { path: "optimizer", params });
  const all = [...params.backbone, ...params.head, ...params.loss];
  opt.step(all, g.map((v, i) => tf.tensor(v, all[i].shape)), opt.lr);
  return all.map(read);
}

Deno.test("groups come from the contract: the head is backbone.headWeights, the loss group its weights", async () => {
  const { registry, recipe } = await toyRecipe([...MLP, "loss={use: proxy-anchor}"]);
  const c = await assemble(recipe, registry);
  const g = paramGroups(c.backbone, c.loss);
  assert.deepEqual(g.head, c.backbone.headWeights);
  assert.deepEqual(g.head.map((v) => v.shape), [[6, 4], [4]]);
  assert.deepEqual(g.backbone.map((v) => v.shape), [[8, 6], [6]]);
  assert.deepEqual(g.loss, c.loss.trainableWeights);
  assert.equal(g.backbone.length + g.head.length + g.loss.length, c.backbone.trainableWeights.length + 1);
  // A frozen body: only the head trains, so the body's group is empty.
  const bare = { dim: 2, trainableWeights: [], headWeights: [] } as unknown as Backbone;
  assert.deepEqual(paramGroups(bare, {} as Loss), { backbone: [], head: [], loss: [] });
});

Deno.test("each group steps at lr × lrMult: SGD and Adam against float64 references", async () => {
  const rng = new Rng(5);
  const params = () => {
    const [a, b, h, k, p] = vars(new Rng(9), [[3, 2], [2], [2, 2], [2], [4, 2]]);
    return { backbone: [a, b], head: [h, k], loss: [p] };
  };
  const shapes = [[3, 2], [2], [2, 2], [2], [4, 2]];
  const g = shapes.map((s) => randn(rng, s[0], s[1] ?? 1).flat());
  const mult = { backbone: 0.5, head: 10, loss: 3 };
  const per = [mult.backbone, mult.backbone, mult.head, mult.head, mult.loss];
  const w0 = params();
  const before = [...w0.backbone, ...w0.head, ...w0.loss].map(read);
  // SGD: w − lr·m·g.
  const sgd = await stepOnce("sgd", { lr: 0.1, lrMult: mult }, params(), g);
  sgd.forEach((w, i) => assertClose(w, before[i].map((v, j) => v - 0.1 * per[i] * g[i][j]), { atol: 1e-6 }));
  // Adam's first step: w − lr·m·ĝ/(|ĝ| + ε), ĝ = g (bias-corrected moments).
  const adam = await stepOnce("adam", { lr: 0.01, lrMult: mult }, params(), g);
  adam.forEach((w, i) =>
    assertClose(w, before[i].map((v, j) => v - 0.01 * per[i] * g[i][j] / (Math.abs(g[i][j]) + 1e-8)), { atol: 1e-6 })
  );
  // The default is 1 for every group: the plain optimizer.
  const plain = await stepOnce("radam", { lr: 0.01 }, params(), g);
  const ones = await stepOnce("radam", { lr: 0.01, lrMult: { backbone: 1, head: 1, loss: 1 } }, params(), g);
  assert.deepEqual(ones, plain);
  const scaled = await stepOnce("radam", { lr: 0.01, lrMult: { head: 10 } }, params(), g);
  assert.deepEqual(scaled.slice(0, 2), plain.slice(0, 2));
  assert.notDeepEqual(scaled.slice(2, 4), plain.slice(2, 4));
  // A grouped step allocates nothing that outlives it (after the first, which creates the moments).
  const p = params();
  const all = [...p.backbone, ...p.head, ...p.loss];
  const grads = g.map((v, i) => tf.tensor(v, all[i].shape));
  const opt = await createRegistry().create<Optimizer>("optimizer", "adamw", { lrMult: mult }, { params: p });
  opt.step(all, grads, 0.01);
  await assertNoLeak(() => opt.step(all, grads, 0.01), "a grouped step");
});

Deno.test("lrMult is validated like every option, and a multiplier nothing reads is refused", async () => {
  const bad = async (sets: string[], re: RegExp) => {
    await assert.rejects(async () => {
      const { registry, recipe } = await toyRecipe(sets);
      await assemble(recipe, registry);
    }, (e: Error) => e instanceof DmlError && re.test(e.message));
  };
  await bad(
    [...MLP, "optimizer.lrMult={haed: 10}"],
    /optimizer\.lrMult\.haed: unknown option \(did you mean 'head'\?\)/,
  );
  await bad([...MLP, "optimizer.lrMult={head: -1}"], /optimizer\.lrMult\.head: expected a number >= 0, got -1/);
  await bad([...MLP, "optimizer.lrMult=10"], /optimizer\.lrMult: expected a mapping, got 10/);
  await bad([...MLP, "optimizer.lrMult={loss: 2}"], /optimizer\.lrMult\.loss: 2 scales the loss's own weights.*none/);
  // The toy backbone names no head.
  await bad(["optimizer.lrMult={head: 10}"], /optimizer\.lrMult\.head: 10 scales the embedding head.*none/);
  const { recipe } = await toyRecipe([...MLP, "optimizer.lrMult={head: 10}"]);
  assert.deepEqual((recipe.optimizer as Record<string, unknown>).lrMult, { backbone: 1, head: 10, loss: 1 });
});

Deno.test("the groups ride in the optimizer's state; a checkpoint with other groups is refused", async () => {
  const params = () => {
    const [a, h, p] = vars(new Rng(2), [[2, 2], [2, 3], [3]]);
    return { backbone: [a], head: [h], loss: [p] };
  };
  const make = (lrMult: Record<string, number>, p = params()) =>
    createRegistry().create<Optimizer>("optimizer", "adam", { lrMult }, { path: "optimizer", params: p });
  const opt = await make({ head: 10 });
  const p0 = params();
  opt.step([...p0.backbone, ...p0.head, ...p0.loss], [tf.ones([2, 2]), tf.ones([2, 3]), tf.ones([3])], 0.1);
  const s = await opt.state() as Record<string, State>;
  assert.deepEqual(s.groups, { backbone: [1, 1], head: [10, 1], loss: [1, 1] });
  (await make({ head: 10 })).load(s);
  await assert.rejects(async () => (await make({ head: 5 })).load(s), /optimizer group 'head' was .*\[10,1\].*\[5,1\]/);
  const noLoss = { ...params(), loss: [] };
  await assert.rejects(async () => (await make({ head: 10 }, noLoss)).load(s), /group 'loss'/);
  // A checkpoint from before groups (no `groups`) loads when every multiplier is 1.
  const old = { ...s };
  delete old.groups;
  (await make({})).load(old);
  await assert.rejects(async () => (await make({ head: 10 })).load(old), /group 'head'/);
});

Deno.test("with lrMult, two epochs straight equal one epoch plus a resumed one, exactly", async () => {
  const out = await Deno.makeTempDir();
  const run = async (sets: string[], resumeDir?: string) => {
    const registry = createRegistry();
    const raw = await loadRecipe(resumeDir ? `${resumeDir}/recipe.yaml` : TOY, [`output=${out}`, ...sets]);
    const recipe = await resolveRecipe(raw, registry, FIXTURES);
    return await train(recipe, registry, { quiet: true, resumeDir });
  };
  const sets = [...MLP, "optimizer.lrMult={head: 10, backbone: 0.5}"];
  const straight = await run([...sets, "train.epochs=2"]);
  const first = await run([...sets, "train.epochs=1"]);
  const resumed = await run(["train.epochs=2"], first.runDir);
  assert.deepEqual([...first.losses, ...resumed.losses], straight.losses);
  assert.deepEqual(resumed.metrics, straight.metrics);
  // And the multipliers change the run (they are read).
  const plain = await run([...MLP, "train.epochs=2"]);
  assert.notDeepEqual(plain.losses, straight.losses);
});
