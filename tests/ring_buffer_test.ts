import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { DmlError } from "../core/errors.ts";
import { RingBuffer } from "../core/ring_buffer.ts";
import { Rng } from "../core/rng.ts";
import type { State } from "../core/types.ts";
import { assertClose, assertNoLeak, onBackend, randLabels, randn, testBackends } from "./util.ts";
import { FifoModel, rows } from "./memory_util.ts";

function enqueueRows(ring: RingBuffer, e: number[][], y: number[]): Int32Array {
  return tf.tidy(() => ring.enqueue(tf.tensor2d(e, [e.length, ring.dim]), tf.tensor1d(y, "int32")));
}

function contents(ring: RingBuffer): { e: number[][]; y: number[] } | null {
  const v = ring.view();
  if (!v) return null;
  const out = { e: rows(v.e), y: Array.from(v.y.dataSync()) };
  tf.dispose([v.e, v.y]);
  return out;
}

Deno.test("ring buffer: spec §4.2 — K=5, batches of 2 give [F, B, C, D, E], count 5, ptr 1", () => {
  const ring = new RingBuffer(5, 1);
  // A..F are 1..6; labels equal the letters' index, label 0 included.
  enqueueRows(ring, [[1], [2]], [0, 1]);
  enqueueRows(ring, [[3], [4]], [2, 3]);
  const slots = enqueueRows(ring, [[5], [6]], [4, 5]);
  assert.deepEqual(Array.from(slots), [4, 0]);
  assert.deepEqual(contents(ring), { e: [[6], [2], [3], [4], [5]], y: [5, 1, 2, 3, 4] });
  assert.equal(ring.count, 5);
  assert.equal(ring.ptr, 1);
  ring.dispose();
});

Deno.test("ring buffer: matches a float64 FIFO across wrap-arounds for any size, batch size and dim", () => {
  const rng = new Rng(11);
  for (const [size, dim] of [[7, 3], [13, 5], [16, 2]]) {
    const ring = new RingBuffer(size, dim);
    const model = new FifoModel(size);
    for (let t = 0; t < 15; t++) {
      const b = 1 + rng.int(size);
      const e = randn(rng, b, dim);
      const y = randLabels(rng, b, 3); // label 0 is common: it must not matter
      const slots = enqueueRows(ring, e, y);
      assert.deepEqual(Array.from(slots), model.enqueue(e, y), `slots, size ${size} step ${t}`);
      const got = contents(ring)!;
      assert.equal(ring.count, model.count);
      assertClose(got.e.flat(), model.rows().flat(), { msg: `rows, size ${size} step ${t}` });
      assert.deepEqual(got.y, model.labels.slice(0, model.count));
      // The reference's selfIndex points at each anchor's own copy.
      tf.tidy(() => {
        const ref = ring.reference(slots)!;
        const stored = rows(ref.e);
        e.forEach((row, i) => assertClose(stored[ref.selfIndex![i]], row));
      });
    }
    ring.dispose();
  }
});

Deno.test("ring buffer: no gradient reaches stored entries, even when enqueued inside variableGrads", () => {
  const rng = new Rng(3);
  const ring = new RingBuffer(6, 3);
  const old = randn(rng, 2, 3);
  enqueueRows(ring, old, [0, 1]);
  const w = tf.variable(tf.tensor2d(randn(rng, 3, 3)));
  const { grads } = tf.variableGrads(() => {
    const e = tf.mul(w, 2) as Tensor2D;
    ring.enqueue(e, tf.tensor1d([0, 1, 2], "int32"));
    const ref = ring.reference()!;
    return tf.sum(tf.matMul(e, ref.e, false, true));
  }, [w]);
  // d/dw sum_ij (2w_i)·r_j = 2 Σ_j r_j with the stored rows r (old rows and the copies of 2w) held constant.
  const stored = [...old, ...(w.arraySync() as number[][]).map((r) => r.map((v) => 2 * v))];
  const colSum = [0, 1, 2].map((k) => stored.reduce((a, r) => a + r[k], 0));
  assertClose(grads[w.name].dataSync(), [0, 1, 2].flatMap(() => colSum.map((v) => 2 * v)));
  tf.dispose(grads);
  w.dispose();
  ring.dispose();
});

Deno.test("ring buffer: state round trip (partly filled and full) continues identically", async () => {
  const rng = new Rng(5);
  for (const first of [2, 9]) {
    const a = new RingBuffer(8, 4);
    enqueueRows(a, randn(rng, Math.min(first, 8), 4), randLabels(rng, Math.min(first, 8), 3));
    if (first > 8) enqueueRows(a, randn(rng, 3, 4), randLabels(rng, 3, 3));
    const saved = structuredClone(await a.state()) as unknown as State;
    const b = new RingBuffer(8, 4);
    b.load(saved);
    assert.deepEqual(contents(b), contents(a));
    assert.equal(b.ptr, a.ptr);
    assert.equal(b.count, a.count);
    const e = randn(rng, 5, 4), y = randLabels(rng, 5, 3);
    assert.deepEqual(enqueueRows(b, e, y), enqueueRows(a, e, y));
    assert.deepEqual(contents(b), contents(a));
    a.dispose();
    b.dispose();
  }
});

Deno.test("ring buffer: bad input is a one-line DmlError and leaves the buffer untouched", async () => {
  const ring = new RingBuffer(4, 2, "memory");
  enqueueRows(ring, [[1, 2], [3, 4]], [0, 1]);
  const before = contents(ring);
  assert.throws(() => enqueueRows(ring, [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]], [0, 0, 0, 0, 0]), (e: Error) => {
    return e instanceof DmlError && /memory\.size: 4 is smaller than the batch \(5\)/.test(e.message);
  });
  assert.throws(() => enqueueRows(ring, [[NaN, 1]], [0]), (e: Error) => e instanceof DmlError && /NaN/.test(e.message));
  assert.throws(() => enqueueRows(ring, [[1, Infinity]], [0]), DmlError);
  assert.throws(
    () => tf.tidy(() => ring.enqueue(tf.zeros([1, 3]) as Tensor2D, tf.tensor1d([0], "int32"))),
    (e: Error) => e instanceof DmlError && /2-d embeddings but the model gives 3-d/.test(e.message),
  );
  assert.deepEqual(contents(ring), before);
  assert.equal(ring.ptr, 2);
  const saved = (await ring.state()) as unknown as State;
  const wrongDim = new RingBuffer(4, 3);
  assert.throws(() => wrongDim.load(saved), /3-d|2-d embeddings/);
  const wrongSize = new RingBuffer(5, 2);
  assert.throws(() => wrongSize.load(saved), /holds 4 entries but memory\.size is 5/);
  const broken = { ...(saved as object), ptr: 3 } as unknown as State;
  assert.throws(() => new RingBuffer(4, 2).load(broken), /unusable/);
  [ring, wrongDim, wrongSize].forEach((r) => r.dispose());
});

Deno.test("ring buffer: enqueue, reference and state leak no tensors", async () => {
  const rng = new Rng(9);
  const ring = new RingBuffer(10, 3);
  for (let t = 0; t < 4; t++) {
    await assertNoLeak(async () => {
      tf.tidy(() => {
        const slots = ring.enqueue(tf.tensor2d(randn(rng, 4, 3)), tf.tensor1d(randLabels(rng, 4, 2), "int32"));
        ring.reference(slots);
      });
      await ring.state();
    }, `step ${t}`);
  }
  ring.dispose();
});

Deno.test("ring buffer: cpu and webgpu agree", async () => {
  const rng = new Rng(21);
  const batches = Array.from({ length: 6 }, () => ({ e: randn(rng, 5, 4), y: randLabels(rng, 5, 3) }));
  const results: { e: number[]; y: number[] }[] = [];
  for (const backend of await testBackends()) {
    results.push(
      await onBackend(backend, async () => {
        const ring = new RingBuffer(13, 4);
        for (const b of batches) enqueueRows(ring, b.e, b.y);
        const v = ring.view()!;
        // WebGPU under Deno reads only asynchronously.
        const out = { e: Array.from(await v.e.data()), y: Array.from(await v.y.data()) };
        tf.dispose([v.e, v.y]);
        ring.dispose();
        return out;
      }),
    );
  }
  for (const r of results.slice(1)) {
    assertClose(r.e, results[0].e);
    assert.deepEqual(r.y, results[0].y);
  }
});

Deno.test("ring buffer: on webgpu a NaN batch is masked on the device and refused at the next call", async () => {
  if (!(await testBackends()).includes("webgpu")) return;
  await onBackend("webgpu", async () => {
    const ring = new RingBuffer(4, 2);
    enqueueRows(ring, [[1, 2], [3, 4]], [0, 1]);
    enqueueRows(ring, [[NaN, 1], [5, 6]], [2, 3]);
    const v = ring.view()!;
    // The refused rows keep what the slots held (zeros here): nothing non-finite was written.
    assert.deepEqual(Array.from(await v.e.data()), [1, 2, 3, 4, 0, 0, 0, 0]);
    tf.dispose([v.e, v.y]);
    await new Promise((r) => setTimeout(r, 0));
    assert.throws(() => enqueueRows(ring, [[1, 1]], [0]), (e: Error) => e instanceof DmlError && /NaN/.test(e.message));
    ring.dispose();
  });
});
