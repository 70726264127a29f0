/**
 * The image pipeline alone (plugins/image-datasets): read JPEG files, decode and resize with sharp
 * in the worker pool, crop / mirror / normalise into a float32 [B, 224, 224, 3] tensor. No network.
 * Images/s = batch size / the time per iteration deno bench reports.
 *
 * The images are 96 synthetic 500×375 JPEGs (CUB's typical size, quality 90, noisy so they do not
 * compress away), written to a temporary folder under .cache/dml first and removed at the end. The benches are:
 * - `train`: a batch of 32 with random-resized-crop + flip (what a training step asks for);
 * - `test`: a batch of 32 with resize 256 + centre crop 224 (evaluation);
 * - `ahead`: four batches of 32 requested at once (the trainer's prefetch keeps several loading);
 * each with 1 and with 2 workers (the pool's default is a quarter of the cores, 1 to 4).
 *
 * ```sh
 * deno task bench bench/image_pipeline_bench.ts
 * ```
 */
import sharp from "sharp";
import { Rng } from "../core/rng.ts";
import { ImageFileDataset } from "../plugins/image-datasets/image_file_dataset.ts";
import type { TransformSpec } from "../core/images/transform.ts";
import type { PixelSpec } from "../core/images/decode_protocol.ts";

const COUNT = 96, BATCH = 32;
// Under .cache: the bench task may write there only.
await Deno.mkdir(".cache/dml", { recursive: true });
const dir = await Deno.makeTempDir({ dir: ".cache/dml", prefix: "image-bench-" });
const paths: string[] = [];
const noise = new Rng(0);
for (let i = 0; i < COUNT; i++) {
  const [w, h] = [500, 375];
  const raw = new Uint8Array(w * h * 3);
  for (let p = 0; p < raw.length; p += 3) {
    const x = (p / 3) % w, y = Math.floor(p / 3 / w);
    raw[p] = (x + i * 9) & 255;
    raw[p + 1] = (y * 2 + i) & 255;
    raw[p + 2] = ((x ^ y) + noise.int(48)) & 255;
  }
  paths.push(`${dir}/${i}.jpg`);
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(paths[i]);
}
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const transform: TransformSpec = {
  size: 224,
  resize: 256,
  augment: "random-resized-crop",
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  flip: true,
  squash: false,
};
const pixels: PixelSpec = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], range: 1, bgr: false };
const items = { paths, labels: new Int32Array(COUNT), boxes: null, classNames: ["all"] };

function batchAt(k: number): Int32Array {
  return Int32Array.from({ length: BATCH }, (_, i) => (k * BATCH + i) % COUNT);
}

for (const workers of [1, 2]) {
  const ds = new ImageFileDataset("bench", items, transform, pixels, { workers });
  const rng = new Rng(1);
  let k = 0;
  Deno.bench(`train: ${BATCH} JPEGs 500×375 -> random-resized-crop 224 + flip, ${workers} worker(s)`, {
    group: "train",
    warmup: 2,
  }, () => {
    ds.batch(batchAt(k++), { augment: true, rng }).dispose();
  });
  Deno.bench(`test: ${BATCH} JPEGs 500×375 -> resize 256 + centre crop 224, ${workers} worker(s)`, {
    group: "test",
    warmup: 2,
  }, () => {
    ds.batch(batchAt(k++), { augment: false, rng }).dispose();
  });
  Deno.bench(`ahead: 4 × ${BATCH} JPEGs requested at once (prefetch), ${workers} worker(s)`, {
    group: "ahead",
    warmup: 1,
  }, async () => {
    const loads = [0, 1, 2, 3].map(() => ds.loadBatch(batchAt(k++), { augment: true, rng }));
    for (const t of await Promise.all(loads)) t.dispose();
  });
}
