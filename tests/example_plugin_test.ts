/**
 * The README's plugin example: its loss against a float64 reference written here, and its recipe
 * (which lives outside `plugins/` and loads the module by path) trained for a few steps.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { LiftedLoss } from "../examples/plugin/mod.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { Rng } from "../core/rng.ts";
import { assertClose, assertNoLeak, randLabels, randn } from "./util.ts";

const RECIPE = new URL("../examples/plugin/recipe.yaml", import.meta.url).pathname;

/** Generalised lifted structure (Hermans et al. eq. 5) in float64, self pairs removed by index. */
function liftedReference(
  e: number[][],
  y: number[],
  ref: { e: number[][]; y: number[]; self: number[] } | null,
  margin: number,
): number {
  const unit = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const a = e.map(unit);
  const r = ref ? ref.e.map(unit) : a;
  const ry = ref ? ref.y : y;
  const self = ref ? ref.self : y.map((_, i) => i);
  let sum = 0, count = 0;
  for (let i = 0; i < a.length; i++) {
    const pos: number[] = [], neg: number[] = [];
    for (let j = 0; j < r.length; j++) {
      if (j === self[i]) continue;
      const d = Math.hypot(...a[i].map((x, k) => x - r[j][k]));
      (ry[j] === y[i] ? pos : neg).push(d);
    }
    if (pos.length === 0 || neg.length === 0) continue;
    const lse = (xs: number[]) => {
      const m = Math.max(...xs);
      return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
    };
    sum += Math.max(0, lse(pos) + lse(neg.map((d) => margin - d)));
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

Deno.test("example plugin: the lifted loss matches a float64 reference, with and without a reference set", async () => {
  const rng = new Rng(11);
  const loss = new LiftedLoss(0.7);
  for (const [b, d, n] of [[8, 4, 0], [12, 16, 20], [6, 3, 9]]) {
    const e = randn(rng, b, d), y = randLabels(rng, b, 3);
    const refE = randn(rng, n, d), refY = randLabels(rng, n, 3);
    // Some anchors have their own copy in the reference set (as in a memory), the rest none.
    const self = y.map((_, i) => (n > 0 && i % 2 === 0 ? rng.int(n) : -1));
    self.forEach((s, i) => {
      if (s >= 0) {
        refE[s] = e[i].slice();
        refY[s] = y[i];
      }
    });
    const got = await assertNoLeak(() =>
      tf.tidy(() => {
        const et = tf.tensor2d(e) as Tensor2D, yt = tf.tensor1d(y, "int32") as Tensor1D;
        const ref = n > 0
          ? {
            e: tf.tensor2d(refE) as Tensor2D,
            y: tf.tensor1d(refY, "int32") as Tensor1D,
            selfIndex: Int32Array.from(self),
          }
          : undefined;
        return loss.compute(et, yt, ref).dataSync()[0];
      })
    );
    const want = liftedReference(e, y, n > 0 ? { e: refE, y: refY, self } : null, 0.7);
    assertClose(got, want, { atol: 1e-5, rtol: 1e-4, msg: `B ${b} D ${d} N ${n}` });
  }
});

Deno.test("example plugin: its recipe, outside plugins/, trains through the registry", async () => {
  const out = await Deno.makeTempDir();
  const registry = createRegistry();
  const sets = [
    `output=${out}`,
    "train.maxSteps=3",
    "data.limit=240",
    "data.testPerClass=30",
    "eval.baselines=false",
  ];
  const recipe = await resolveRecipe(await loadRecipe(RECIPE, sets), registry);
  assertEquals((recipe.loss as { use: string }).use, "lifted");
  const result = await train(recipe, registry, { quiet: true });
  assertEquals(result.steps, 3);
  if (!(result.metrics["recall@1"] > 0)) throw new Error(`no recall@1 in ${JSON.stringify(result.metrics)}`);
  await Deno.remove(out, { recursive: true });
});
