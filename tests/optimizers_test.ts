/** Optimizers against float64 references written from the papers / PyTorch's documented updates. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Optimizer } from "../core/types.ts";
import { blas } from "../core/blas.ts";
import { assertClose, assertNoLeak, onBackend } from "./util.ts";

type Ref = (w: number[], g: number[], t: number, lr: number) => number[];

function adamRef(o: { b1: number; b2: number; eps: number; wd: number; decoupled: boolean }): Ref {
  let m: number[] = [], v: number[] = [];
  return (w, g, t, lr) => {
    if (t === 1) m = w.map(() => 0), v = w.map(() => 0);
    return w.map((wi, i) => {
      const gi = o.decoupled ? g[i] : g[i] + o.wd * wi;
      m[i] = o.b1 * m[i] + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i] + (1 - o.b2) * gi * gi;
      const mh = m[i] / (1 - o.b1 ** t), vh = v[i] / (1 - o.b2 ** t);
      return wi - lr * (mh / (Math.sqrt(vh) + o.eps) + (o.decoupled ? o.wd * wi : 0));
    });
  };
}

function sgdRef(o: { mu: number; nesterov: boolean; wd: number }): Ref {
  const b: number[] = [];
  return (w, g, t, lr) =>
    w.map((wi, i) => {
      let d = g[i] + o.wd * wi;
      if (o.mu > 0) {
        b[i] = t === 1 ? d : o.mu * b[i] + d;
        d = o.nesterov ? d + o.mu * b[i] : b[i];
      }
      return wi - lr * d;
    });
}

function radamRef(o: { b1: number; b2: number; eps: number; wd: number }): Ref {
  let m: number[] = [], v: number[] = [];
  const rhoInf = 2 / (1 - o.b2) - 1;
  return (w, g, t, lr) => {
    if (t === 1) m = w.map(() => 0), v = w.map(() => 0);
    const rho = rhoInf - (2 * t * o.b2 ** t) / (1 - o.b2 ** t);
    return w.map((wi, i) => {
      const gi = g[i] + o.wd * wi;
      m[i] = o.b1 * m[i] + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i] + (1 - o.b2) * gi * gi;
      const mh = m[i] / (1 - o.b1 ** t);
      if (rho <= 5) return wi - lr * mh;
      const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
      return wi - lr * r * mh / (Math.sqrt(v[i] / (1 - o.b2 ** t)) + o.eps);
    });
  };
}

const cases: Array<[string, Record<string, unknown>, Ref]> = [
  ["adam", { lr: 0.01, weightDecay: 0.1 }, adamRef({ b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, decoupled: false })],
  ["adamw", { lr: 0.01, weightDecay: 0.1 }, adamRef({ b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, decoupled: true })],
  ["sgd", { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, sgdRef({ mu: 0.9, nesterov: false, wd: 0.01 })],
  ["sgd", { lr: 0.1, momentum: 0.9, nesterov: true }, sgdRef({ mu: 0.9, nesterov: true, wd: 0 })],
  ["sgd", { lr: 0.1 }, sgdRef({ mu: 0, nesterov: false, wd: 0 })],
  ["radam", { lr: 0.01, weightDecay: 0.01 }, radamRef({ b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01 })],
];

// cpu runs the tfjs ops; blas and wasm run Adam as one fused kernel (core/host_kernels.ts).
const backends = ["cpu", "wasm", ...(blas() ? ["blas"] : [])];

for (const [name, options, ref] of cases) {
  for (const backend of backends) {
    Deno.test(`${name} ${JSON.stringify(options)} on ${backend} follows its float64 reference for 8 steps`, () =>
      onBackend(backend, () => followsReference(name, options, ref)));
  }
}

async function followsReference(name: string, options: Record<string, unknown>, ref: Ref): Promise<void> {
  const rng = new Rng(7);
  const opt = await createRegistry().create<Optimizer>("optimizer", name, options);
  let w = Array.from({ length: 6 }, () => rng.normal());
  const v = tf.variable(tf.tensor2d(w, [2, 3]));
  for (let t = 1; t <= 8; t++) {
    const g = Array.from({ length: 6 }, () => rng.normal());
    const gt = tf.tensor2d(g, [2, 3]);
    // The first step creates the slots; later steps must leave the tensor count unchanged.
    if (t === 1) opt.step([v], [gt], 0.5 * (options.lr as number));
    else await assertNoLeak(() => opt.step([v], [gt], 0.5 * (options.lr as number)), `${name} step`);
    gt.dispose();
    w = ref(w, g, t, 0.5 * (options.lr as number));
    assertClose(await v.data(), w, { atol: 1e-5, rtol: 1e-4, msg: `${name} step ${t}` });
  }
  v.dispose();
}

Deno.test("optimizer state round-trips: a reloaded optimizer continues identically", async () => {
  const reg = createRegistry();
  const a = await reg.create<Optimizer>("optimizer", "adam", { lr: 0.1 });
  const va = tf.variable(tf.tensor1d([1, 2, 3]));
  const g = tf.tensor1d([0.5, -1, 2]);
  a.step([va], [g], 0.1);
  const b = await reg.create<Optimizer>("optimizer", "adam", { lr: 0.1 });
  b.load(await a.state());
  const vb = tf.variable(va.clone());
  a.step([va], [g], 0.1);
  b.step([vb], [g], 0.1);
  assertEquals(Array.from(va.dataSync()), Array.from(vb.dataSync()));
  tf.dispose([va, vb, g]);
});

Deno.test("nesterov without momentum is refused", async () => {
  await createRegistry().create("optimizer", "sgd", { nesterov: true }).then(
    () => {
      throw new Error("accepted");
    },
    (e) => assertEquals(e.message, "optimizer.nesterov: needs momentum > 0"),
  );
});
