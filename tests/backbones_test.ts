import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor, Tensor2D } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { Backbone } from "../core/types.ts";
import backbones from "../plugins/backbones/mod.ts";
import { addRelu, batchNorm, BN_EPSILON, BN_MOMENTUM, createBatchNorm } from "../plugins/backbones/layers.ts";
import { blas } from "../core/blas.ts";
import { assertClose, assertNoLeak, onBackend, randn, testBackends } from "./util.ts";

type Net = Backbone & { dispose(): void };

async function make(name: string, options: Record<string, unknown>, inputShape: number[], seed = 0): Promise<Net> {
  const r = new Registry();
  r.register(backbones);
  return await r.create<Net>("backbone", name, options, { inputShape, rng: new Rng(seed) });
}

function input(rng: Rng, shape: number[]): Tensor {
  return tf.tensor(randn(rng, 1, shape.reduce((a, b) => a * b, 1))[0], shape);
}

function rowNorms(e: Tensor2D): number[] {
  const v = e.arraySync();
  return v.map((row) => Math.hypot(...row));
}

Deno.test("backbones: embed and features have the documented shapes; normalize gives unit rows", async () => {
  const x = input(new Rng(1), [3, 28, 28, 1]);
  const cases: [string, Record<string, unknown>, number][] = [
    ["mlp", {}, 256],
    ["mlp", { hidden: [64], dim: 32, batchNorm: true }, 64],
    ["convnet", { channels: [4, 8], dim: 16 }, 8],
  ];
  for (const [name, o, featureDim] of cases) {
    const net = await make(name, o, [28, 28, 1]);
    const dim = (o.dim as number | undefined) ?? 128;
    assert.equal(net.dim, dim);
    for (const training of [true, false]) {
      const e = net.embed(x, training);
      const f = net.features!(x, training);
      assert.deepEqual(e.shape, [3, dim], `${name} embed`);
      assert.deepEqual(f.shape, [3, featureDim], `${name} features`);
      assertClose(rowNorms(e), [1, 1, 1], { atol: 1e-5, msg: `${name} norms` });
      tf.dispose([e, f]);
    }
    net.dispose();
  }
  const raw = await make("mlp", { hidden: [16], normalize: false }, [28, 28, 1]);
  const e = raw.embed(x, false);
  assert.ok(rowNorms(e).some((n) => Math.abs(n - 1) > 1e-3), "normalize: false leaves the norms alone");
  tf.dispose([e, x]);
  raw.dispose();
});

Deno.test("backbones: the same seed gives the same initial weights, another seed others", async () => {
  const values = (net: Net) => net.trainableWeights.map((v) => Array.from(v.dataSync()));
  for (const name of ["mlp", "convnet"]) {
    const o = name === "mlp" ? { hidden: [8], dim: 4, batchNorm: true } : { channels: [4, 6], dim: 4 };
    const [a, b, c] = [
      await make(name, o, [6, 6, 1], 7),
      await make(name, o, [6, 6, 1], 7),
      await make(name, o, [6, 6, 1], 8),
    ];
    assert.deepEqual(values(a), values(b));
    assert.notDeepEqual(values(a)[0], values(c)[0]);
    // He std for the first layer: sqrt(2 / fanIn), fanIn 36 (mlp) or 3*3*1 (convnet).
    const w = values(a)[0];
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    const he = Math.sqrt(2 / (name === "mlp" ? 36 : 9));
    assert.ok(std > 0.6 * he && std < 1.4 * he, `${name} first-layer std ${std} vs He ${he}`);
    [a, b, c].forEach((n) => n.dispose());
  }
});

/** BatchNorm in float64: batch statistics in training, then running moments. */
function bnReference(x: number[][], gamma: number[], beta: number[], mean: number[], variance: number[]): number[][] {
  return x.map((row) => row.map((v, c) => ((v - mean[c]) / Math.sqrt(variance[c] + BN_EPSILON)) * gamma[c] + beta[c]));
}

Deno.test("batchNorm: training uses batch moments and moves the running ones; eval uses the running moments", () => {
  const rng = new Rng(3);
  // NHWC [2, 2, 2, 3]: statistics per channel over 8 values.
  const rows = randn(rng, 8, 3).map((r) => r.map((v, c) => v * (c + 1) + c));
  const x = tf.tensor4d(rows.flat(), [2, 2, 2, 3]);
  const bn = createBatchNorm(3, "test/bn");
  const gamma = [0.5, 1.5, -1], beta = [0.1, -0.2, 0.3];
  bn.gamma.assign(tf.tensor1d(gamma));
  bn.beta.assign(tf.tensor1d(beta));
  const mean = [0, 1, 2].map((c) => rows.reduce((s, r) => s + r[c], 0) / 8);
  const biased = [0, 1, 2].map((c) => rows.reduce((s, r) => s + (r[c] - mean[c]) ** 2, 0) / 8);

  const yTrain = batchNorm(x, bn, true);
  assertClose(yTrain.dataSync(), bnReference(rows, gamma, beta, mean, biased).flat(), { atol: 1e-4, msg: "train" });
  const m = BN_MOMENTUM;
  const runMean = mean.map((v) => (1 - m) * v);
  const runVar = biased.map((v) => m * 1 + (1 - m) * v * 8 / 7);
  assertClose(bn.runningMean.dataSync(), runMean, { atol: 1e-5, msg: "running mean" });
  assertClose(bn.runningVar.dataSync(), runVar, { atol: 1e-5, msg: "running var (unbiased)" });

  const yEval = batchNorm(x, bn, false);
  assertClose(yEval.dataSync(), bnReference(rows, gamma, beta, runMean, runVar).flat(), { atol: 1e-4, msg: "eval" });
  assert.equal(bn.runningMean.trainable, false);
  assert.equal(bn.runningVar.trainable, false);
  tf.dispose([x, yTrain, yEval, bn.gamma, bn.beta, bn.runningMean, bn.runningVar]);
});

Deno.test("backbones: BatchNorm nets keep running moments as stateWeights; eval output does not depend on the batch", async () => {
  const net = await make("convnet", { channels: [4, 6], dim: 8 }, [8, 8, 1]);
  assert.equal(net.stateWeights?.length, 4);
  assert.ok(net.stateWeights!.every((v) => !v.trainable));
  const x = input(new Rng(2), [4, 8, 8, 1]);
  const first = tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 1]);
  const before = Array.from(net.stateWeights![0].dataSync());
  tf.dispose(net.embed(x, true));
  assert.notDeepEqual(Array.from(net.stateWeights![0].dataSync()), before, "training moved the running mean");
  const alone = net.embed(first, false), inBatch = net.embed(x, false);
  assertClose(alone.dataSync(), tf.slice(inBatch, [0, 0], [1, 8]).dataSync(), { atol: 1e-5 });
  const trainAlone = net.embed(tf.concat([first, first]), true);
  assert.ok(Math.abs(trainAlone.dataSync()[0] - alone.dataSync()[0]) > 1e-4, "training uses batch statistics");
  tf.dispose([x, first, alone, inBatch, trainAlone]);
  net.dispose();
});

Deno.test("backbones: a forward+backward step reaches every trainable weight and leaks no tensor", async () => {
  for (
    const [name, o] of [["mlp", { hidden: [16, 8], dim: 6, batchNorm: true }], ["convnet", {
      channels: [4, 6],
      dim: 6,
    }]] as const
  ) {
    const net = await make(name, o, [8, 8, 1]);
    const x = input(new Rng(4), [6, 8, 8, 1]);
    const w = tf.tensor2d(randn(new Rng(5), 6, 6));
    await assertNoLeak(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(net.embed(x, true), w)), net.trainableWeights);
      for (const v of net.trainableWeights) {
        const g = grads[v.name].dataSync();
        assert.ok(g.some((gi) => Math.abs(gi) > 1e-7), `${name}: zero gradient for ${v.name}`);
      }
      tf.dispose([value, ...Object.values(grads)]);
    }, `${name} train step`);
    await assertNoLeak(() => tf.dispose(net.embed(x, false)), `${name} eval`);
    tf.dispose([x, w]);
    net.dispose();
  }
});

Deno.test("backbones: cpu and webgpu agree on a forward pass from the same seed", async () => {
  const backends = await testBackends();
  const xs = randn(new Rng(6), 1, 2 * 8 * 8)[0];
  const outputs: Record<string, number[][]> = {};
  for (const b of backends) {
    outputs[b] = await onBackend(b, async () => {
      const res: number[][] = [];
      for (
        const [name, o] of [["mlp", { hidden: [16], dim: 8, batchNorm: true }], ["convnet", {
          channels: [4, 8],
          dim: 8,
        }]] as const
      ) {
        const net = await make(name, o, [8, 8, 1], 11);
        const x = tf.tensor4d(xs, [2, 8, 8, 1]);
        const train = net.embed(x, true), evalOut = net.embed(x, false);
        res.push(Array.from(await train.data()), Array.from(await evalOut.data()));
        tf.dispose([x, train, evalOut]);
        net.dispose();
      }
      return res;
    });
  }
  for (const b of backends.slice(1)) {
    outputs[b].forEach((o, i) => assertClose(o, outputs.cpu[i], { atol: 2e-4, rtol: 1e-3, msg: `${b} output ${i}` }));
  }
});

Deno.test("convnet: non-image items are a DmlError that suggests mlp", async () => {
  await assert.rejects(
    () => make("convnet", {}, [784]),
    (e: Error) => e instanceof DmlError && /^backbone\.use: convnet needs image items .* use mlp$/.test(e.message),
  );
});

Deno.test("addRelu: values and gradients are max(0, a + b) and its mask, in float64, on every backend; no leak", async () => {
  const rng = new Rng(21);
  const shape = [2, 3, 3, 5], n = 90;
  const a = Array.from({ length: n }, () => rng.normal()), b = Array.from({ length: n }, () => rng.normal());
  const dy = Array.from({ length: n }, () => rng.normal());
  const sum = a.map((v, i) => v + b[i]);
  const y = sum.map((v) => Math.max(0, v));
  const g = dy.map((v, i) => (sum[i] > 0 ? v : 0));
  const backends = [...await testBackends(), "wasm", ...(blas() ? ["blas"] : [])];
  for (const backend of backends) {
    await onBackend(backend, async () => {
      const [at, bt, dyt] = [tf.tensor(a, shape), tf.tensor(b, shape), tf.tensor(dy, shape)];
      const [out, ga, gb] = await assertNoLeak(async () => {
        const ts = [
          addRelu(at, bt),
          ...tf.grads((x: Tensor, z: Tensor) => tf.sum(tf.mul(addRelu(x, z), dyt)))([at, bt]),
        ];
        const values = await Promise.all(ts.map((t) => t.data()));
        tf.dispose(ts);
        return values;
      }, `addRelu on ${backend}`);
      assertClose(out, y, { atol: 1e-6, msg: `${backend} value` });
      assertClose(ga, g, { atol: 1e-6, msg: `${backend} da` });
      assertClose(gb, g, { atol: 1e-6, msg: `${backend} db` });
      tf.dispose([at, bt, dyt]);
    });
  }
});
