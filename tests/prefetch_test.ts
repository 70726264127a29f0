// core/prefetch.ts: the trainer's loadAhead keeps `ahead` batches loading while one is consumed, in batch order.
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import type { Tensor } from "@tensorflow/tfjs-core";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import type { Dataset } from "../core/types.ts";
import { loadAhead } from "../core/prefetch.ts";

/** A dataset whose loads settle only when the test says so; it records what was asked, in order. */
class SlowDataset implements Dataset {
  readonly size = 100;
  readonly labels = new Int32Array(100);
  readonly classes = 1;
  readonly shape = [2];
  readonly started: number[] = [];
  readonly seeds: number[] = [];
  private readonly settle = new Map<number, (fail: boolean) => void>();

  batch(indices: Int32Array, o: { augment: boolean; rng: Rng }): Tensor {
    this.seeds.push(o.rng.nextUint32());
    return tf.fill([indices.length, 2], indices[0]);
  }

  loadBatch(indices: Int32Array, o: { augment: boolean; rng: Rng }): Promise<Tensor> {
    // The draw happens at call time, as a file-backed dataset's does.
    this.seeds.push(o.rng.nextUint32());
    this.started.push(indices[0]);
    return new Promise((resolve, reject) => {
      this.settle.set(
        indices[0],
        (fail) =>
          fail ? reject(new Error(`batch ${indices[0]} failed`)) : resolve(tf.fill([indices.length, 2], indices[0])),
      );
    });
  }

  finish(first: number, fail = false): void {
    this.settle.get(first)!(fail);
  }
}

function* batches(n: number): Iterable<Int32Array> {
  for (let k = 0; k < n; k++) yield Int32Array.of(k * 10, k * 10 + 1);
}

/** Lets pending promise callbacks run. */
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("loadAhead starts the next `ahead` loads before the current batch is consumed, in batch order", async () => {
  const ds = new SlowDataset();
  const before = tf.memory().numTensors;
  const it = loadAhead(batches(6), ds, { augment: true, rng: new Rng(3) }, { ahead: 2, limit: Infinity });
  const first = it.next();
  await tick();
  // Batch 0 is being waited on, and batches 1 and 2 are already loading.
  assertEquals(ds.started, [0, 10, 20]);
  ds.finish(10); // a later batch may finish first: order is kept all the same
  ds.finish(0);
  const r0 = await first;
  assertEquals([...r0.value!.indices], [0, 1]);
  assertEquals((await r0.value!.x!.data())[0], 0);
  r0.value!.x!.dispose();
  const second = it.next();
  await tick();
  assertEquals(ds.started, [0, 10, 20, 30]);
  const r1 = await second;
  assertEquals((await r1.value!.x!.data())[0], 10);
  r1.value!.x!.dispose();
  // Stopping early disposes what was loaded ahead and never consumed.
  ds.finish(20);
  ds.finish(30);
  await tick();
  await it.return(undefined);
  await tick();
  assertEquals(tf.memory().numTensors, before);
  // The rng draws are those of the same batches asked for one by one.
  const seq = new Rng(3);
  assertEquals(ds.seeds, [0, 1, 2, 3].map(() => seq.nextUint32()));
});

Deno.test("loadAhead honours `limit`, surfaces a failed load at its own batch, and leaves sync datasets alone", async () => {
  const ds = new SlowDataset();
  const it = loadAhead(batches(10), ds, { augment: false, rng: new Rng(0) }, { ahead: 3, limit: 2 });
  const first = it.next();
  await tick();
  assertEquals(ds.started, [0, 10]); // never more than `limit` batches pulled
  ds.finish(10, true);
  ds.finish(0);
  const r0 = await first;
  r0.value!.x!.dispose();
  await rejects(it.next(), /batch 10 failed/);

  const sync: Dataset = {
    size: 4,
    labels: new Int32Array(4),
    classes: 1,
    shape: [1],
    batch: () => tf.zeros([1, 1]),
  };
  const got: number[] = [];
  for await (
    const { indices, x } of loadAhead(batches(3), sync, { augment: false, rng: new Rng(0) }, {
      ahead: 2,
      limit: Infinity,
    })
  ) {
    assert(x === null);
    got.push(indices[0]);
  }
  assertEquals(got, [0, 10, 20]);
});
