/**
 * The fused training BatchNorm (core/batch_norm.ts) against a float64 reference written here: its
 * output and moments, and its gradients against central differences of that reference, on every
 * backend (the two-pass kernels on blas and wasm, the closed form in tfjs ops on cpu and webgpu).
 */
import { tf } from "../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { blas } from "../core/blas.ts";
import { batchNormTraining } from "../core/batch_norm.ts";
import { assertClose, assertNoLeak, numericGrad, onBackend, testBackends } from "./util.ts";

const EPS = 1e-5;

/** Float64 BatchNorm over the last axis of x (flat, `channels` innermost), then max(0, ·) when relu. */
function batchNorm64(x: number[], gamma: number[], beta: number[], relu: boolean) {
  const c = gamma.length, rows = x.length / c;
  const mean = gamma.map((_, j) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * c + j];
    return s / rows;
  });
  const variance = gamma.map((_, j) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += (x[r * c + j] - mean[j]) ** 2;
    return s / rows;
  });
  const z = x.map((v, i) => gamma[i % c] * (v - mean[i % c]) / Math.sqrt(variance[i % c] + EPS) + beta[i % c]);
  return { y: relu ? z.map((v) => Math.max(0, v)) : z, z, mean, variance };
}

async function backends(): Promise<string[]> {
  return [...await testBackends(), "wasm", ...(blas() ? ["blas"] : [])];
}

const SHAPES = [[7, 3], [2, 3, 3, 4], [1, 5, 4, 2]];

for (const relu of [false, true]) {
  Deno.test(`fused BatchNorm${relu ? " + ReLU" : ""}: values, moments and gradients match float64 on every backend`, async () => {
    for (const shape of SHAPES) {
      const c = shape[shape.length - 1], n = shape.reduce((p, k) => p * k, 1);
      // A fresh draw, away from the ReLU's kink so that central differences are exact there.
      let seed = 1, x: number[], gamma: number[], beta: number[], w: number[];
      for (;; seed++) {
        const rng = new Rng(seed);
        // Offsets and scales per channel, so the mean is far from zero and the spreads differ.
        x = Array.from({ length: n }, (_, i) => 3 + (i % c) + (1 + (i % c)) * rng.normal());
        gamma = Array.from({ length: c }, () => 0.5 + rng.uniform());
        beta = Array.from({ length: c }, () => rng.normal() * 0.5);
        w = Array.from({ length: n }, () => rng.normal());
        if (!relu || batchNorm64(x, gamma, beta, true).z.every((v) => Math.abs(v) > 1e-2)) break;
      }
      const ref = batchNorm64(x, gamma, beta, relu);
      // L = Σ w·y: its gradients are the backward pass with upstream gradient w.
      const loss = (xs: number[], gs: number[], bs: number[]) =>
        batchNorm64(xs, gs, bs, relu).y.reduce((s, v, i) => s + v * w[i], 0);
      const dx = numericGrad((v) => loss(v, gamma, beta), x, 1e-5);
      const dgamma = numericGrad((v) => loss(x, v, beta), gamma, 1e-5);
      const dbeta = numericGrad((v) => loss(x, gamma, v), beta, 1e-5);

      for (const backend of await backends()) {
        const msg = `${backend} ${JSON.stringify(shape)}`;
        await onBackend(backend, async () => {
          const [xt, gt, bt, wt] = [tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor(w, shape)];
          const forward = tf.tidy(() => {
            const r = batchNormTraining(xt, gt, bt, { epsilon: EPS, relu });
            return [r.y, r.mean, r.variance];
          });
          const [y, mean, variance] = await Promise.all(forward.map((t) => t.data()));
          assertClose(y, ref.y, { atol: 2e-5, rtol: 1e-4, msg: `${msg} y` });
          assertClose(mean, ref.mean, { atol: 1e-5, rtol: 1e-5, msg: `${msg} mean` });
          assertClose(variance, ref.variance, { atol: 1e-5, rtol: 1e-4, msg: `${msg} variance` });
          tf.dispose(forward);

          const f = (a: Tensor, g: Tensor, b: Tensor) =>
            tf.sum(tf.mul(batchNormTraining(a, g, b, { epsilon: EPS, relu }).y, wt));
          const [gx, gg, gb] = await assertNoLeak(async () => {
            const grads = tf.grads(f)([xt, gt, bt]);
            const values = await Promise.all(grads.map((t) => t.data()));
            tf.dispose(grads);
            return values;
          }, `${msg} gradient`);
          assertClose(gx, dx, { atol: 1e-4, rtol: 1e-3, msg: `${msg} dx` });
          assertClose(gg, dgamma, { atol: 1e-4, rtol: 1e-3, msg: `${msg} dgamma` });
          assertClose(gb, dbeta, { atol: 1e-4, rtol: 1e-3, msg: `${msg} dbeta` });
          tf.dispose([xt, gt, bt, wt]);
        });
      }
    }
  });
}

Deno.test("fused BatchNorm: a large mean against a small spread keeps its variance (shifted float64 sums)", async () => {
  const rng = new Rng(3);
  const n = 4096, c = 2;
  const x = Array.from({ length: n * c }, () => 1000 + 0.01 * rng.normal());
  const ref = batchNorm64(x, [1, 1], [0, 0], false);
  for (const backend of await backends()) {
    await onBackend(backend, async () => {
      const xt = tf.tensor(x, [n, c]);
      const variance = tf.tidy(() =>
        batchNormTraining(xt, tf.ones([c]), tf.zeros([c]), { epsilon: 0, relu: false }).variance
      );
      // float32 inputs round 1000 + δ to about 6e-5, so the variance (1e-4) is exact to a few percent.
      assertClose(await variance.data(), ref.variance, { atol: 0, rtol: 0.05, msg: `${backend} variance` });
      tf.dispose([xt, variance]);
    });
  }
});
