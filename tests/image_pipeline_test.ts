import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import sharp from "sharp";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import {
  centerCropBox,
  planTransform,
  randomResizedCropBox,
  resizedSize,
  roundHalfEven,
  type TransformSpec,
} from "../core/images/transform.ts";
import { ImageFileDataset, type ImageItems } from "../plugins/image-datasets/image_file_dataset.ts";
import type { PixelSpec } from "../core/images/decode_protocol.ts";
import { closeDecodePool } from "../core/images/decode_pool.ts";
import { assertClose, assertNoLeak } from "./util.ts";
import { fakeJpeg } from "./image_fixtures.ts";

const SPEC: TransformSpec = {
  size: 16,
  resize: 20,
  augment: "random-resized-crop",
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  flip: true,
  squash: false,
};
const IDENTITY: PixelSpec = { mean: [0, 0, 0], std: [1, 1, 1], range: 255, bgr: false };

Deno.test("random-resized-crop boxes stay inside the image with torchvision's area and ratio ranges", () => {
  const rng = new Rng(11);
  let inRange = 0;
  for (let i = 0; i < 500; i++) {
    const [w, h] = [50 + rng.int(400), 50 + rng.int(400)];
    const b = randomResizedCropBox(w, h, [0.08, 1], [3 / 4, 4 / 3], rng);
    assert(
      b.left >= 0 && b.top >= 0 && b.left + b.width <= w && b.top + b.height <= h,
      `box ${JSON.stringify(b)} in ${w}×${h}`,
    );
    const area = (b.width * b.height) / (w * h), ratio = b.width / b.height;
    // Rounding to whole pixels moves area and ratio a little; the fallback (rare) is the clamped centre crop.
    if (area >= 0.07 && area <= 1 && ratio >= 0.7 && ratio <= 1.4) inRange++;
  }
  assert(inRange >= 490, `${inRange}/500 boxes within the ranges`);
  // A 10:1 strip cannot hold a 4:3 crop in 10 tries with scale 1: the fallback clamps the ratio.
  assertEquals(randomResizedCropBox(1000, 100, [1, 1], [3 / 4, 4 / 3], new Rng(0)), {
    left: 433,
    top: 0,
    width: 133,
    height: 100,
  });
});

Deno.test("test-time geometry is torchvision's Resize(shorter side) + CenterCrop", () => {
  assertEquals(resizedSize(500, 375, 256, false), [341, 256]);
  assertEquals(resizedSize(375, 500, 256, false), [256, 341]);
  assertEquals(resizedSize(500, 375, 256, true), [256, 256]);
  assertEquals(centerCropBox(341, 256, 224), { left: 58, top: 16, width: 224, height: 224 });
  assertEquals(roundHalfEven(2.5), 2);
  assertEquals(roundHalfEven(3.5), 4);
  assertEquals(roundHalfEven(-0.5), -0);
  const plan = planTransform({ ...SPEC, size: 224, resize: 256 }, "test", 500, 375, null);
  assertEquals(plan, {
    crop: null,
    resize: [341, 256],
    after: { left: 58, top: 16, width: 224, height: 224 },
    flip: false,
  });
  // random-crop: resize, then a crop anywhere in the resized image.
  const rc = planTransform(
    { ...SPEC, augment: "random-crop", size: 224, resize: 256, squash: true },
    "train",
    500,
    375,
    new Rng(3),
  );
  assertEquals(rc.resize, [256, 256]);
  assert(rc.after!.left <= 32 && rc.after!.top <= 32 && rc.after!.width === 224);
});

async function gradientPng(dir: string, name: string, size: number): Promise<string> {
  // Red rises left to right, green top to bottom: a mirror or a crop offset shows in the values.
  const raw = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) raw.set([x * 4, y * 4, 100], (y * size + x) * 3);
  }
  const path = `${dir}/${name}.png`;
  await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
  return path;
}

function items(paths: string[]): ImageItems {
  return { paths, labels: Int32Array.from(paths, (_, i) => i % 2), boxes: null, classNames: ["a", "b"] };
}

Deno.test("decoding is exact on a lossless image: whole-image crops are the image or its mirror", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await gradientPng(dir, "g", 16);
    const spec: TransformSpec = { ...SPEC, scale: [1, 1], ratio: [1, 1] };
    const ds = new ImageFileDataset("test", items([path, path, path, path, path, path]), spec, IDENTITY, {
      workers: 1,
    });
    const x = ds.batch(Int32Array.from([0, 1, 2, 3, 4, 5]), { augment: true, rng: new Rng(5) });
    const v = await x.data();
    x.dispose();
    let mirrored = 0;
    for (let b = 0; b < 6; b++) {
      const red0 = v[b * 16 * 16 * 3]; // pixel (0, 0), red
      const flip = red0 === 60;
      if (flip) mirrored++;
      for (let y = 0; y < 16; y += 5) {
        for (let xx = 0; xx < 16; xx += 5) {
          const o = b * 768 + (y * 16 + xx) * 3;
          assertEquals([v[o], v[o + 1], v[o + 2]], [(flip ? 15 - xx : xx) * 4, y * 4, 100]);
        }
      }
    }
    assert(mirrored > 0 && mirrored < 6, `${mirrored} of 6 mirrored`);
    // Normalisation: ((v/255)·range − mean) / std per channel, mean and std in RGB order; then BGR order.
    const norm: PixelSpec = { mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2], range: 1, bgr: true };
    const t = new ImageFileDataset("test", items([path]), { ...spec, size: 16, resize: 16 }, norm, { workers: 1 });
    const y = t.batch(Int32Array.of(0), { augment: false, rng: new Rng(0) });
    const p = (await y.data()).slice(3 * (2 * 16 + 3), 3 * (2 * 16 + 3) + 3); // pixel (x 3, y 2): R 12, G 8, B 100
    y.dispose();
    assertClose(p, [100 / 255 / 2, (8 / 255 - 0.25) / 0.25, (12 / 255 - 0.5) / 0.5], { atol: 1e-6 });
    // Caffe-style input: [0, 255] less the mean, unscaled, RGB.
    const caffe: PixelSpec = { mean: [120, 110, 100], std: [1, 1, 1], range: 255, bgr: false };
    const u = new ImageFileDataset("test", items([path]), { ...spec, size: 16, resize: 16 }, caffe, { workers: 1 });
    const z = u.batch(Int32Array.of(0), { augment: false, rng: new Rng(0) });
    assertClose((await z.data()).slice(3 * (2 * 16 + 3), 3 * (2 * 16 + 3) + 3), [12 - 120, 8 - 110, 100 - 100], {
      atol: 1e-4,
    });
    z.dispose();
  } finally {
    closeDecodePool();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("augmentation is deterministic under a seed, whatever the call form or the number of workers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths: string[] = [];
    for (let i = 0; i < 6; i++) {
      paths.push(`${dir}/${i}.jpg`);
      await Deno.writeFile(paths[i], await fakeJpeg(40 + i * 7, 30 + i * 5, i));
    }
    const one = new ImageFileDataset("test", items(paths), SPEC, IDENTITY, { workers: 1 });
    const two = new ImageFileDataset("test", items(paths), SPEC, IDENTITY, { workers: 2 });
    const idx = Int32Array.of(5, 0, 3, 3, 1);
    await assertNoLeak(async () => {
      const a = one.batch(idx, { augment: true, rng: new Rng(7) });
      const b = await two.loadBatch(idx, { augment: true, rng: new Rng(7) });
      const c = one.batch(idx, { augment: true, rng: new Rng(8) });
      assertEquals(a.shape, [5, 16, 16, 3]);
      assertEquals(await a.data(), await b.data());
      const [da, dc] = [await a.data(), await c.data()];
      assert(da.some((v, i) => v !== dc[i]), "another seed gave the same batch");
      // The same image twice in a batch gets two different augmentations.
      const n = 16 * 16 * 3;
      assert(da.slice(2 * n, 3 * n).some((v, i) => v !== da[3 * n + i]));
      for (const t of [a, b, c]) t.dispose();
    }, "augmented batches");
    // Test time draws nothing from the rng and ignores it.
    const rng = new Rng(1), before = rng.state();
    const t1 = one.batch(idx, { augment: false, rng });
    assertEquals(rng.state(), before);
    const t2 = await one.loadBatch(idx, { augment: false, rng: new Rng(99) });
    assertEquals(await t1.data(), await t2.data());
    t1.dispose();
    t2.dispose();
    // One seed per image, drawn in call order: loads made ahead give what sequential batches give.
    const r1 = new Rng(4), r2 = new Rng(4);
    const p1 = one.loadBatch(Int32Array.of(0, 1), { augment: true, rng: r1 });
    const p2 = one.loadBatch(Int32Array.of(2, 3), { augment: true, rng: r1 });
    const [x1, x2] = await Promise.all([p1, p2]);
    const s1 = one.batch(Int32Array.of(0, 1), { augment: true, rng: r2 });
    const s2 = one.batch(Int32Array.of(2, 3), { augment: true, rng: r2 });
    assertEquals(await x1.data(), await s1.data());
    assertEquals(await x2.data(), await s2.data());
    for (const t of [x1, x2, s1, s2]) t.dispose();
    const img = await one.image(2);
    assertEquals([img.width, img.height, img.channels, img.data.length], [16, 16, 3, 768]);
  } finally {
    closeDecodePool();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a listed file that is absent or not an image fails the batch with one line naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/ok.jpg`, await fakeJpeg(20, 20, 1));
    await Deno.writeTextFile(`${dir}/bad.jpg`, "this is not a JPEG");
    const ds = new ImageFileDataset(
      "test",
      items([`${dir}/ok.jpg`, `${dir}/gone.jpg`, `${dir}/bad.jpg`]),
      SPEC,
      IDENTITY,
      { workers: 1 },
    );
    throws(
      () => ds.batch(Int32Array.of(0, 1), { augment: false, rng: new Rng(0) }),
      (e: Error) =>
        e instanceof DmlError && e.message.includes(`${dir}/gone.jpg: no such file`) && !e.message.includes("\n"),
    );
    await rejects(
      ds.loadBatch(Int32Array.of(2), { augment: true, rng: new Rng(0) }),
      (e: Error) => e instanceof DmlError && e.message.includes(`${dir}/bad.jpg: not a readable image`),
    );
    const before = tf.memory().numTensors;
    const x = ds.batch(Int32Array.of(0), { augment: false, rng: new Rng(0) });
    x.dispose();
    assertEquals(tf.memory().numTensors, before);
  } finally {
    closeDecodePool();
    await Deno.remove(dir, { recursive: true });
  }
});
