import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor2D } from "@tensorflow/tfjs-core";
import { DmlError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import { Rng } from "../core/rng.ts";
import type { Memory, State } from "../core/types.ts";
import xbmPlugin, { CrossBatchMemory } from "../plugins/xbm/mod.ts";
import xbnPlugin from "../plugins/xbn/mod.ts";
import { assertClose, assertNoLeak, numericGrad, randLabels, randn } from "./util.ts";
import { contrastive, contrastive64, rows, toyRun } from "./memory_util.ts";

function registry(): Registry {
  const r = new Registry();
  r.register(xbmPlugin);
  r.register(xbnPlugin);
  return r;
}

const xbm = (o: Partial<ConstructorParameters<typeof CrossBatchMemory>[0]> = {}) =>
  new CrossBatchMemory({ size: 16, start: 0, weight: 1, batchLoss: true, order: "before-loss", ...o });

function feed(m: Memory, e: number[][], y: number[], step: number): void {
  tf.tidy(() => m.update(tf.tensor2d(e), tf.tensor1d(y, "int32"), step));
}

Deno.test("xbm: registry fills the official defaults and refuses bad options in one line", async () => {
  const r = registry();
  const resolved = r.resolve("memory", { use: "xbm" });
  assert.deepEqual(resolved, {
    use: "xbm",
    size: 8192,
    start: 1000,
    weight: 1,
    batchLoss: true,
    order: "before-loss",
  });
  const m = await r.create<Memory>("memory", "xbm", { size: 64 }, { dim: 4, batchSize: 64, path: "memory" });
  assert.equal(m.weight, 1);
  assert.equal(m.batchLoss, true);
  assert.equal(m.order, "before-loss");
  m.dispose?.();
  await assert.rejects(
    r.create("memory", "xbm", { size: 32 }, { batchSize: 64, path: "memory" }),
    (e: Error) =>
      e instanceof DmlError &&
      e.message === "memory.size: 32 is smaller than the batch (64); the memory must hold at least one batch",
  );
  await assert.rejects(
    r.create("memory", "xbm", { start: -1 }, { path: "memory" }),
    (e: Error) => e instanceof DmlError && e.message === "memory.start: expected an integer >= 0, got -1",
  );
  await assert.rejects(r.create("memory", "xbm", { order: "later" }, { path: "memory" }), /memory\.order/);
});

Deno.test("xbm: spec §4.1 — official contrastive on the memory is 1.2 (hinge 0.7), gradient [0.1, -0.1]", () => {
  const m = xbm({ size: 4 });
  feed(m, [[0.6, 0.8], [0.8, 0.6]], [0, 1], 0);
  const anchors = tf.variable(tf.tensor2d([[1, 0], [0, 1]]));
  const y = tf.tensor1d([0, 1], "int32");
  const losses: number[] = [];
  const { grads } = tf.variableGrads(() => {
    const e = tf.mul(anchors, 1) as Tensor2D;
    m.update(e, y, 1);
    const ref = m.reference()!;
    // Memory after enqueue: [0.6,0.8](0), [0.8,0.6](1), a1(0), a2(1); the anchors' copies are slots 2, 3.
    assert.deepEqual(Array.from(ref.selfIndex!), [2, 3]);
    losses.push(contrastive(e, y, ref, 0.5, false).dataSync()[0]);
    return contrastive(e, y, ref, 0.5, true);
  }, [anchors]);
  assertClose(losses[0], 0.7);
  assertClose(grads[anchors.name].dataSync(), [0.1, -0.1, -0.1, 0.1]);
  const official = tf.tidy(() => {
    const ref = m.reference()!;
    return contrastive(anchors as unknown as Tensor2D, y, ref, 0.5, true).dataSync()[0];
  });
  assertClose(official, 1.2);
  tf.dispose([anchors, y, grads[anchors.name]]);
  m.dispose();
});

Deno.test("xbm: gradients reach only the anchors (float64 reference with the memory held constant)", () => {
  const rng = new Rng(17);
  const dim = 4, b = 6;
  const m = xbm({ size: 11 });
  const history = [0, 1].map(() => ({ e: randn(rng, b, dim), y: randLabels(rng, b, 3) }));
  history.forEach((h, t) => feed(m, h.e, h.y, t));
  const a0 = randn(rng, b, dim).map((r) => r.map((v) => 0.5 * v));
  const ya = randLabels(rng, b, 3);
  const w = tf.variable(tf.tensor2d(a0));
  let refRows: number[][] = [], refLabels: number[] = [], selfIndex: Int32Array | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const e = tf.mul(w, 1) as Tensor2D;
    const y = tf.tensor1d(ya, "int32");
    m.update(e, y, 2);
    const ref = m.reference()!;
    refRows = rows(ref.e);
    refLabels = Array.from(ref.y.dataSync());
    selfIndex = ref.selfIndex;
    return contrastive(e, y, ref, 0.3) as Scalar;
  }, [w]);
  // 6 + 6 + 6 entries through a memory of 11: a wrap-around, and the anchors' copies are stored.
  assert.equal(refRows.length, 11);
  const f = (flat: number[]) => {
    const a = Array.from({ length: b }, (_, i) => flat.slice(i * dim, (i + 1) * dim));
    return contrastive64(a, ya, refRows, refLabels, selfIndex!, 0.3);
  };
  assertClose(value.dataSync()[0], f(a0.flat()), { atol: 1e-5 });
  assertClose(grads[w.name].dataSync(), numericGrad(f, a0.flat(), 1e-4), { atol: 2e-3, rtol: 1e-2 });
  tf.dispose([value, grads[w.name], w]);
  m.dispose();
});

Deno.test("xbm: before `start` the memory is neither filled nor used; after-step order has no self copies", () => {
  const rng = new Rng(2);
  const m = xbm({ size: 8, start: 3 });
  for (let step = 0; step < 3; step++) {
    feed(m, randn(rng, 2, 3), [0, 1], step);
    assert.equal(m.reference(), null, `step ${step}`);
  }
  feed(m, randn(rng, 2, 3), [0, 1], 3);
  tf.tidy(() => assert.equal(m.reference()!.e.shape[0], 2));
  m.dispose();

  const late = xbm({ size: 8, order: "after-step" });
  assert.equal(late.order, "after-step");
  feed(late, randn(rng, 2, 3), [0, 1], 0);
  tf.tidy(() => {
    const ref = late.reference()!;
    assert.equal(ref.e.shape[0], 2);
    assert.equal(ref.selfIndex, undefined);
  });
  late.dispose();
});

Deno.test("xbm: checkpoint round trip continues identically; another dim, size or method is refused", async () => {
  const rng = new Rng(4);
  const a = xbm({ size: 10, dim: 3 });
  for (let t = 0; t < 4; t++) feed(a, randn(rng, 3, 3), randLabels(rng, 3, 2), t);
  const saved = structuredClone(await a.state());
  const b = xbm({ size: 10 }); // dim unknown ahead: taken from the checkpoint
  b.load(saved);
  const batch = randn(rng, 3, 3), labels = randLabels(rng, 3, 2);
  feed(a, batch, labels, 4);
  feed(b, batch, labels, 4);
  tf.tidy(() => {
    const [ra, rb] = [a.reference()!, b.reference()!];
    assert.deepEqual(rows(rb.e), rows(ra.e));
    assert.deepEqual(Array.from(rb.y.dataSync()), Array.from(ra.y.dataSync()));
    assert.deepEqual(rb.selfIndex, ra.selfIndex);
  });
  const fresh = xbm({ size: 10, dim: 3 });
  fresh.load(structuredClone(await xbm({ size: 10 }).state())); // an empty memory's state
  assert.equal(fresh.reference(), null);
  assert.throws(
    () => xbm({ size: 10, dim: 5 }).load(saved),
    (e: Error) => e instanceof DmlError && /holds 3-d embeddings but the model's embedding dim is 5/.test(e.message),
  );
  // A checkpoint loaded before the model's dim is known: the first batch says so.
  const lazy = xbm({ size: 10 });
  lazy.load(saved);
  assert.throws(() => feed(lazy, randn(rng, 2, 5), [0, 1], 9), /memory holds 3-d embeddings but the model gives 5-d/);
  assert.throws(() => xbm({ size: 12, dim: 3 }).load(saved), /holds 10 entries but memory\.size is 12/);
  assert.throws(
    () => xbm({ size: 10, dim: 3 }).load({ method: "xbn", ring: null, kalman: null } as State),
    /holds an xbn memory state but the recipe asks for xbm/,
  );
  // A memory state that lost its ring is refused in one line, not with a TypeError.
  const ringless = xbm({ size: 10 });
  assert.throws(
    () => ringless.load({ method: "xbm" } as State),
    (e: Error) => e instanceof DmlError && /memory state is unusable/.test(e.message),
  );
  [a, b, fresh, lazy, ringless].forEach((m) => m.dispose());
});

Deno.test("xbm: a NaN batch is refused in one line and the memory keeps its entries", () => {
  const m = xbm({ size: 6 });
  feed(m, [[1, 0], [0, 1]], [0, 1], 0);
  assert.throws(
    () => feed(m, [[NaN, 0], [0, 1]], [0, 1], 1),
    (e: Error) => e instanceof DmlError && /NaN or Infinity; refusing to write them into the memory/.test(e.message),
  );
  tf.tidy(() => assert.deepEqual(rows(m.reference()!.e), [[1, 0], [0, 1]]));
  assert.throws(() => feed(m, randn(new Rng(1), 7, 2), [0, 1, 2, 3, 4, 5, 6], 2), /memory\.size: 6 is smaller/);
  m.dispose();
});

Deno.test("xbm: a short training run — the memory changes the loss from `start` on", () => {
  const start = 4;
  const m = xbm({ size: 32, start });
  const run = toyRun(m, { steps: 10 });
  for (const r of run.records) {
    if (r.step < start) {
      assert.equal(r.memory, null);
      assertClose(r.total, r.batch);
    } else {
      assert.ok(r.memory !== null && r.memory > 0, `step ${r.step}: memory loss ${r.memory}`);
      assertClose(r.total, r.batch + r.memory!, { msg: `step ${r.step}` });
    }
  }
  assert.deepEqual(run.counts, [0, 0, 0, 0, 8, 16, 24, 32, 32, 32]);
  const plain = toyRun(null, { steps: 10 });
  assert.ok(plain.final.flat().some((v, i) => Math.abs(v - run.final.flat()[i]) > 1e-4), "the memory changed training");
  // Memory-only (the paper's form): the loss is the memory loss alone.
  const paper = xbm({ size: 32, start: 0, batchLoss: false, weight: 0.5 });
  for (const r of toyRun(paper, { steps: 3 }).records) assertClose(r.total, 0.5 * r.memory!);
  [m, paper].forEach((x) => x.dispose());
});

Deno.test("xbm: a training step with a full memory leaves the tensor count unchanged", async () => {
  const rng = new Rng(8);
  const m = xbm({ size: 12, dim: 4 }); // allocated up front: steps add nothing
  const w = tf.variable(tf.tensor2d(randn(rng, 6, 4)));
  const y = tf.tensor1d([0, 0, 1, 1, 2, 2], "int32");
  for (let step = 0; step < 5; step++) {
    await assertNoLeak(() =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const e = tf.mul(w, 1) as Tensor2D;
          m.update(e, y, step);
          return tf.add(contrastive(e, y), contrastive(e, y, m.reference()!)) as Scalar;
        }, [w]);
        w.assign(tf.sub(w, tf.mul(0.1, grads[w.name])));
      }), `step ${step}`);
  }
  tf.dispose([w, y]);
  m.dispose();
});
