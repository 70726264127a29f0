import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor2D } from "@tensorflow/tfjs-core";
import { DmlError } from "../core/errors.ts";
import { loadCheckpoint, saveCheckpoint } from "../core/checkpoint.ts";
import { Registry } from "../core/registry.ts";
import { Rng } from "../core/rng.ts";
import type { Memory, State } from "../core/types.ts";
import xbnPlugin, {
  columnMoments,
  CrossBatchNorm,
  kalmanGain,
  type KalmanOptions,
  matchMoments,
  MomentFilter,
} from "../plugins/xbn/mod.ts";
import { assertClose, assertNoLeak, onBackend, randLabels, randn, testBackends } from "./util.ts";
import { contrastive, rows, toyRun, xbn } from "./memory_util.ts";

const M = [[1, 0], [1, 4], [3, 0], [3, 4]];
const Bt = [[10, -1], [14, 1]];

const kalman = (o: Partial<KalmanOptions> = {}): KalmanOptions => ({ q: 1, p0: 1, r: 0.01, gainInterval: 100, ...o });

function feed(m: Memory, e: number[][], y: number[], step: number): void {
  tf.tidy(() => m.update(tf.tensor2d(e), tf.tensor1d(y, "int32"), step));
}

function stored(m: Memory): number[][] {
  return tf.tidy(() => rows(m.reference()!.e));
}

/** Per-column mean and population std, float64. */
function moments64(x: number[][]): { mean: number[]; std: number[] } {
  const d = x[0].length, n = x.length;
  const mean = Array.from({ length: d }, (_, j) => x.reduce((a, r) => a + r[j], 0) / n);
  const std = mean.map((mu, j) => Math.sqrt(x.reduce((a, r) => a + (r[j] - mu) ** 2, 0) / n));
  return { mean, std };
}

function normalize64(x: number[][]): number[][] {
  return x.map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
}

/** A state whose memory holds `M` and whose filter holds the spec's prior μ̂₀, σ̂₀ (§4.4). */
function priorState(): State {
  return {
    method: "axbn",
    ring: {
      size: 6,
      dim: 2,
      ptr: 4,
      count: 4,
      feats: new Float32Array(M.flat()),
      labels: new Int32Array([0, 1, 0, 1]),
    },
    kalman: { p: 1, gain: 1, updates: 0, mean: new Float32Array([11, 0.5]), std: new Float32Array([1.5, 1]) },
  };
}

Deno.test("xbn: registry fills the paper's defaults (q 1, p0 1, r 0.01, interval 100) and refuses bad options", async () => {
  const r = new Registry();
  r.register(xbnPlugin);
  assert.deepEqual(r.resolve("memory", { use: "xbn" }), {
    use: "xbn",
    size: 8192,
    start: 0,
    weight: 1,
    batchLoss: false,
    order: "before-loss",
    normalize: true,
    adaptive: false,
    q: 1,
    p0: 1,
    r: 0.01,
    gainInterval: 100,
    eps: 1e-6,
  });
  const m = await r.create<CrossBatchNorm>("memory", "xbn", { size: 64, adaptive: true }, { dim: 8, batchSize: 64 });
  assert.ok(m.filter !== null);
  assert.equal(m.batchLoss, false);
  m.dispose();
  await assert.rejects(r.create("memory", "xbn", { size: 8 }, { batchSize: 16, path: "memory" }), /memory\.size: 8 is/);
  await assert.rejects(
    r.create("memory", "xbn", { start: -3 }, { path: "memory" }),
    /memory\.start: expected an integer >= 0/,
  );
  await assert.rejects(r.create("memory", "xbn", { gainInterval: 0 }, { path: "memory" }), /memory\.gainInterval/);
});

Deno.test("xbn: spec §4.3 — the memory is re-standardised to the batch's moments", () => {
  const adapted = tf.tidy(() => {
    const batch = columnMoments(tf.tensor2d(Bt));
    assertClose(batch.mean.dataSync(), [12, 0]);
    assertClose(batch.std.dataSync(), [2, 1]);
    return rows(matchMoments(tf.tensor2d(M), batch.mean, batch.std, 1e-6));
  });
  assertClose(adapted.flat(), [[10, -1], [10, 1], [14, -1], [14, 1]].flat());

  // The component, in the raw space: adapt the stored M, write it back, then enqueue the batch.
  const m = xbn({ size: 6, normalize: false });
  feed(m, M, [0, 1, 0, 1], 0); // an empty memory: nothing to adapt
  assertClose(stored(m).flat(), M.flat());
  feed(m, Bt, [0, 1], 1);
  tf.tidy(() => {
    const ref = m.reference()!;
    assertClose(rows(ref.e).flat(), [[10, -1], [10, 1], [14, -1], [14, 1], ...Bt].flat());
    assert.deepEqual(Array.from(ref.selfIndex!), [4, 5]);
  });
  m.dispose();
});

Deno.test("xbn: adapted memory has the (normalised) batch's mean and std, keeps each column's order, and stays adapted", () => {
  const rng = new Rng(31);
  const m = xbn({ size: 40 });
  const old = [0, 1, 2].map(() => randn(rng, 9, 5));
  old.forEach((e, t) => feed(m, e, randLabels(rng, 9, 4), t));
  const before = stored(m); // 27 entries, adapted twice already
  const e = randn(rng, 9, 5).map((r) => r.map((v) => v + 0.3));
  feed(m, e, randLabels(rng, 9, 4), 3);
  const after = stored(m);
  // Float64 reference of Eq. 6 in the normalised space.
  const z = normalize64(e);
  const target = moments64(z), mem = moments64(before);
  const expected = before.map((r) =>
    r.map((v, j) => (v - mem.mean[j]) / (mem.std[j] + 1e-6) * target.std[j] + target.mean[j])
  );
  assertClose(after.slice(0, 27).flat(), expected.flat(), { atol: 1e-5 });
  const got = moments64(after.slice(0, 27));
  assertClose(got.mean, target.mean, { atol: 1e-5 });
  assertClose(got.std, target.std, { atol: 1e-5 });
  for (let j = 0; j < 5; j++) {
    const order = (x: number[][]) => x.map((r, i) => [r[j], i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
    assert.deepEqual(order(after.slice(0, 27)), order(before), `column ${j}`);
  }
  // The new entries are stored normalised and raw; the adapted ones are no longer unit-norm.
  assertClose(after.slice(27).flat(), z.flat(), { atol: 1e-6 });
  assert.ok(after.slice(0, 27).some((r) => Math.abs(Math.hypot(...r) - 1) > 1e-3));
  m.dispose();
});

Deno.test("xbn: spec §4.4 — Kalman gain and one AXBN step", async () => {
  const g = kalmanGain(1, 1, 0.5);
  assertClose([g.gain, g.p], [0.8, 0.4], { atol: 1e-12 });
  const small = kalmanGain(1, 1, 0.005);
  assertClose([small.gain, small.p], [0.99750623, 0.00498753], { atol: 1e-8 });
  assert.equal(kalmanGain(0, 0, 0).gain, 1); // r = 0: trust the batch, as XBN does

  // R = r / |B| = 1 / 2: K = 0.8, μ̂₁ = [11.8, 0.1], σ̂₁ = [1.9, 1.0], and the memory follows.
  const m = xbn({ size: 6, normalize: false, kalman: kalman({ r: 1, gainInterval: 1 }) });
  m.load(priorState());
  feed(m, Bt, [0, 1], 1);
  assertClose(stored(m).flat(), [[9.9, -0.9], [9.9, 1.1], [13.7, -0.9], [13.7, 1.1], ...Bt].flat(), { atol: 1e-5 });
  const k = (await m.state()) as { kalman: { p: number; gain: number; mean: Float32Array; std: Float32Array } };
  assertClose([k.kalman.gain, k.kalman.p], [0.8, 0.4], { atol: 1e-7 });
  assertClose(k.kalman.mean, [11.8, 0.1], { atol: 1e-6 });
  assertClose(k.kalman.std, [1.9, 1.0], { atol: 1e-6 });
  m.dispose();

  // The paper's r = 0.01 with |B| = 2.
  const paper = xbn({ size: 6, normalize: false, kalman: kalman({ gainInterval: 1 }) });
  paper.load(priorState());
  feed(paper, Bt, [0, 1], 1);
  const s = (await paper.state()) as { kalman: { p: number; gain: number; mean: Float32Array; std: Float32Array } };
  assertClose([s.kalman.gain, s.kalman.p], [0.99750623, 0.00498753], { atol: 1e-8 });
  assertClose(s.kalman.mean, [11.99750623, 0.00124688], { atol: 1e-5 });
  assertClose(s.kalman.std, [1.99875312, 1.0], { atol: 1e-5 });
  paper.dispose();
});

Deno.test("xbn: Kalman gain sequence, gain interval, and r = 0 is XBN exactly", () => {
  // p0 = 1, q = 1, R = 1.5625e-4 (r = 0.01, |B| = 64): K₁ = 0.99992188, then the fixed point 0.99984380.
  const gains = (interval: number) => {
    const f = new MomentFilter(kalman({ gainInterval: interval }));
    const out: number[] = [];
    tf.tidy(() => {
      for (let t = 0; t < 6; t++) {
        f.observe(tf.tensor1d([t]), tf.tensor1d([1]), 64);
        out.push(f.gain);
      }
    });
    f.dispose();
    return out.slice(1); // the first observation initialises the estimates
  };
  assertClose(gains(1), [0.99992188, 0.99984380, 0.99984380, 0.99984380, 0.99984380], { atol: 1e-8 });
  assertClose(gains(3), [0.99992188, 0.99992188, 0.99992188, 0.99984380, 0.99984380], { atol: 1e-8 });

  const rng = new Rng(12);
  const plain = xbn({ size: 20 }), zeroNoise = xbn({ size: 20, kalman: kalman({ r: 0, gainInterval: 1 }) });
  for (let t = 0; t < 5; t++) {
    const e = randn(rng, 6, 3), y = randLabels(rng, 6, 3);
    feed(plain, e, y, t);
    feed(zeroNoise, e, y, t);
  }
  assertClose(stored(zeroNoise).flat(), stored(plain).flat(), { atol: 1e-6 });
  [plain, zeroNoise].forEach((m) => m.dispose());
});

Deno.test("xbn: checkpoint round trip (with the Kalman state) continues identically; mismatches are refused", async () => {
  const rng = new Rng(40);
  const a = xbn({ size: 10, kalman: kalman({ gainInterval: 2 }) });
  for (let t = 0; t < 4; t++) feed(a, randn(rng, 4, 3), randLabels(rng, 4, 2), t);
  const saved = structuredClone(await a.state());
  const b = xbn({ size: 10, dim: 3, kalman: kalman({ gainInterval: 2 }) });
  b.load(saved);
  for (let t = 4; t < 7; t++) {
    const e = randn(rng, 4, 3), y = randLabels(rng, 4, 2);
    feed(a, e, y, t);
    feed(b, e, y, t);
  }
  assertClose(stored(b).flat(), stored(a).flat(), { atol: 0 });
  assert.deepEqual(await b.state(), await a.state());
  assert.throws(
    () => xbn({ size: 10, dim: 4, kalman: kalman() }).load(saved),
    (e: Error) => e instanceof DmlError && /3-d but the model's embedding dim is 4/.test(e.message),
  );
  assert.throws(() => xbn({ size: 10, dim: 3 }).load(saved), /holds an axbn memory state but the recipe asks for xbn/);
  [a, b].forEach((m) => m.dispose());
});

Deno.test("xbn: the memory state survives a checkpoint on disk", async () => {
  const rng = new Rng(41);
  const a = xbn({ size: 9, kalman: kalman() });
  for (let t = 0; t < 3; t++) feed(a, randn(rng, 4, 3), randLabels(rng, 4, 2), t);
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/epoch-0001`, { memory: await a.state() });
    const back = await loadCheckpoint(`${dir}/epoch-0001`) as { memory: State };
    const b = xbn({ size: 9, dim: 3, kalman: kalman() });
    b.load(back.memory);
    assert.deepEqual(await b.state(), await a.state());
    b.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    a.dispose();
  }
});

Deno.test("xbn: a NaN batch is refused before it adapts or enters the memory", async () => {
  const m = xbn({ size: 8, normalize: false, kalman: kalman() });
  feed(m, M, [0, 1, 0, 1], 0);
  const before = structuredClone(await m.state());
  assert.throws(
    () => feed(m, [[NaN, 1], [2, 3]], [0, 1], 1),
    (e: Error) => e instanceof DmlError && /NaN or Infinity; refusing/.test(e.message),
  );
  assert.deepEqual(await m.state(), before);
  m.dispose();
});

Deno.test("xbn: cpu and webgpu agree on a sequence of AXBN updates", async () => {
  const rng = new Rng(50);
  const batches = Array.from({ length: 5 }, () => ({ e: randn(rng, 6, 4), y: randLabels(rng, 6, 3) }));
  const results: number[][] = [];
  for (const backend of await testBackends()) {
    results.push(
      await onBackend(backend, async () => {
        const m = xbn({ size: 14, kalman: kalman({ r: 5, gainInterval: 1 }) });
        for (const [t, b] of batches.entries()) feed(m, b.e, b.y, t);
        const ref = m.reference()!;
        const out = Array.from(await ref.e.data()); // WebGPU under Deno reads only asynchronously
        tf.dispose([ref.e, ref.y]);
        m.dispose();
        return out;
      }),
    );
  }
  for (const r of results.slice(1)) assertClose(r, results[0], { atol: 1e-5 });
});

Deno.test("xbn: a short training run — the memory changes the loss from `start` on (XBN and AXBN)", () => {
  for (const adaptive of [false, true]) {
    const start = 3;
    const m = xbn({ size: 32, start, kalman: adaptive ? kalman({ gainInterval: 1 }) : undefined });
    const run = toyRun(m, { steps: 8 });
    for (const r of run.records) {
      if (r.step < start) {
        assert.equal(r.memory, null);
        assertClose(r.total, r.batch);
      } else {
        // Memory-only loss (the paper's form); it differs from the batch loss it replaces.
        assertClose(r.total, r.memory!);
        assert.ok(Math.abs(r.total - r.batch) > 1e-3, `step ${r.step}: ${r.total} vs batch ${r.batch}`);
      }
    }
    assert.deepEqual(run.counts, [0, 0, 0, 8, 16, 24, 32, 32]);
    m.dispose();
  }
});

Deno.test("xbn: a training step with a full adaptive memory leaves the tensor count unchanged", async () => {
  const rng = new Rng(8);
  const m = xbn({ size: 12, dim: 4, kalman: kalman() });
  const w = tf.variable(tf.tensor2d(randn(rng, 6, 4)));
  const y = tf.tensor1d([0, 0, 1, 1, 2, 2], "int32");
  feed(m, randn(rng, 6, 4), [0, 1, 2, 0, 1, 2], 0); // the filter's estimates are allocated here
  for (let step = 1; step < 5; step++) {
    await assertNoLeak(() =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const e = tf.mul(w, 1) as Tensor2D;
          m.update(e, y, step);
          return contrastive(e, y, m.reference()!) as Scalar;
        }, [w]);
        w.assign(tf.sub(w, tf.mul(0.1, grads[w.name])));
      }), `step ${step}`);
  }
  tf.dispose([w, y]);
  m.dispose();
});
