import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { Dataset, DatasetSplits, Sampler } from "../core/types.ts";
import samplers from "../plugins/samplers/mod.ts";

function registry(): Registry {
  const r = new Registry();
  r.register(samplers);
  return r;
}

/** A label-only split: `sizes[c]` items of class c, interleaved so indices are not grouped by class. */
function fakeData(sizes: number[]): DatasetSplits {
  const labels: number[] = [];
  const left = sizes.slice();
  while (left.some((n) => n > 0)) {
    left.forEach((n, c) => {
      if (n > 0) {
        labels.push(c);
        left[c]--;
      }
    });
  }
  const train = {
    size: labels.length,
    labels: Int32Array.from(labels),
    classes: sizes.length,
    shape: [1],
    batch: () => {
      throw new Error("not used");
    },
  } as Dataset;
  return { train };
}

function collect(s: Sampler, epoch: number, seed: number): Int32Array[] {
  return [...s.batches(epoch, new Rng(seed))];
}

Deno.test("m-per-class: every batch has exactly `classes` distinct classes with `perClass` items each", async () => {
  const data = fakeData([30, 12, 7, 50, 9, 20, 3, 15]);
  const s = await registry().create<Sampler>("sampler", "m-per-class", { classes: 5, perClass: 4 }, { data });
  assert.equal(s.batchSize, 20);
  const batches = collect(s, 0, 1);
  assert.equal(batches.length, Math.floor(146 / 20));
  assert.equal(s.epochLength?.(0), batches.length);
  for (const b of batches) {
    assert.equal(b.length, 20);
    const count = new Map<number, number>();
    for (const i of b) count.set(data.train.labels[i], (count.get(data.train.labels[i]) ?? 0) + 1);
    assert.equal(count.size, 5);
    for (const n of count.values()) assert.equal(n, 4);
    // Classes with at least perClass items never repeat an item within a batch.
    for (const [c, n] of count) {
      const items = [...b].filter((i) => data.train.labels[i] === c);
      if (c !== 6) assert.equal(new Set(items).size, n);
    }
  }
});

Deno.test("m-per-class: a class with fewer than perClass items is topped up with replacement", async () => {
  const data = fakeData([2, 10, 10]);
  const s = await registry().create<Sampler>(
    "sampler",
    "m-per-class",
    { classes: 3, perClass: 5, batchesPerEpoch: 4 },
    {
      data,
    },
  );
  for (const b of collect(s, 0, 3)) {
    const small = [...b].filter((i) => data.train.labels[i] === 0);
    assert.equal(small.length, 5);
    assert.equal(new Set(small).size, 2, "both items of the small class are used");
  }
});

Deno.test("m-per-class: classes and items are covered evenly within an epoch", async () => {
  const data = fakeData(Array(10).fill(8));
  const s = await registry().create<Sampler>(
    "sampler",
    "m-per-class",
    { classes: 5, perClass: 4, batchesPerEpoch: 4 },
    {
      data,
    },
  );
  const seen = new Map<number, number>();
  for (const b of collect(s, 0, 5)) for (const i of b) seen.set(i, (seen.get(i) ?? 0) + 1);
  // 4 batches × 5 classes = 2 rounds of 10 classes; 2 visits × 4 items = each class's 8 items once.
  assert.equal(seen.size, 80);
  for (const n of seen.values()) assert.equal(n, 1);
});

Deno.test("m-per-class: batchesPerEpoch defines the epoch; the default is size / batch size", async () => {
  const data = fakeData([25, 25, 25, 25]);
  const r = registry();
  const byDefault = await r.create<Sampler>("sampler", "m-per-class", { classes: 2, perClass: 5 }, { data });
  assert.equal(collect(byDefault, 0, 0).length, 10);
  const explicit = await r.create<Sampler>("sampler", "m-per-class", { classes: 2, perClass: 5, batchesPerEpoch: 37 }, {
    data,
  });
  assert.equal(collect(explicit, 0, 0).length, 37);
  assert.equal(explicit.epochLength?.(3), 37);
});

Deno.test("m-per-class: the same rng seed gives the same batches, another seed other batches", async () => {
  const data = fakeData([30, 12, 7, 50, 9, 20]);
  const s = await registry().create<Sampler>("sampler", "m-per-class", { classes: 4, perClass: 3 }, { data });
  assert.deepEqual(collect(s, 0, 42), collect(s, 0, 42));
  assert.notDeepEqual(collect(s, 0, 42), collect(s, 0, 43));
});

Deno.test("m-per-class: more classes per batch than the split has is a DmlError naming sampler.classes", async () => {
  const data = fakeData([10, 10, 10, 10, 10, 10]);
  await assert.rejects(
    () => registry().create("sampler", "m-per-class", { classes: 16, perClass: 4 }, { data }),
    (e: Error) => e instanceof DmlError && /^sampler\.classes: 16 .* only 6/.test(e.message),
  );
});

Deno.test("random: an epoch is disjoint full batches covering all but the dropped remainder", async () => {
  const data = fakeData([40, 27, 33]);
  const s = await registry().create<Sampler>("sampler", "random", { batchSize: 16 }, { data });
  const batches = collect(s, 0, 9);
  assert.equal(batches.length, 6);
  assert.equal(s.epochLength?.(0), 6);
  const all = batches.flatMap((b) => [...b]);
  assert.ok(batches.every((b) => b.length === 16));
  assert.equal(new Set(all).size, 96, "no index repeats");
  assert.ok(all.every((i) => i >= 0 && i < 100));
  // Across epochs (fresh shuffles) every index shows up.
  const rng = new Rng(9);
  const seen = new Set<number>();
  for (let epoch = 0; epoch < 10; epoch++) for (const b of s.batches(epoch, rng)) b.forEach((i) => seen.add(i));
  assert.equal(seen.size, 100);
});

Deno.test("random: the same seed gives the same order; a batch larger than the split is a DmlError", async () => {
  const data = fakeData([20, 20]);
  const r = registry();
  const s = await r.create<Sampler>("sampler", "random", { batchSize: 8 }, { data });
  assert.deepEqual(collect(s, 0, 1), collect(s, 0, 1));
  assert.notDeepEqual(collect(s, 0, 1), collect(s, 0, 2));
  await assert.rejects(
    () => r.create("sampler", "random", { batchSize: 64 }, { data }),
    (e: Error) => e instanceof DmlError && e.message.startsWith("sampler.batchSize: 64 is larger"),
  );
});
