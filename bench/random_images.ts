/**
 * A bench-only dataset plugin: `bench-random-images`, random images of any size (ResNet-50 at
 * 224×224 without ImageNet on disk). Eight fixed random images are reused, so a batch costs a
 * copy, not a random-number draw; the train and test splits are both `size` items of `classes`
 * labels in turn (the test split is tiny by default, two items per class: the trainer evaluates
 * once at the end).
 *
 * ```ts
 * registry.register(randomImagesPlugin);
 * // data: { use: bench-random-images, side: 224, channels: 3, size: 256, classes: 8 }
 * ```
 */
import { tf } from "../core/tf.ts";
import type { Dataset, Plugin } from "../core/types.ts";
import { int } from "../core/options.ts";
import { Rng } from "../core/rng.ts";

const DISTINCT = 8;

function split(size: number, classes: number, shape: number[], images: Float32Array[]): Dataset {
  const pixels = shape.reduce((p, n) => p * n, 1);
  return {
    size,
    classes,
    shape,
    labels: Int32Array.from({ length: size }, (_, i) => i % classes),
    batch(indices) {
      const out = new Float32Array(indices.length * pixels);
      indices.forEach((k, r) => out.set(images[k % DISTINCT], r * pixels));
      return tf.tensor(out, [indices.length, ...shape]);
    },
  };
}

export const randomImagesPlugin: Plugin = {
  name: "bench-random-images",
  components: [{
    kind: "dataset",
    name: "bench-random-images",
    doc: "random images (standard normal pixels) for throughput benchmarks",
    options: {
      side: int(224, { min: 1, doc: "height and width" }),
      channels: int(3, { min: 1, doc: "channels" }),
      size: int(256, { min: 1, doc: "items in the train split" }),
      testSize: int(8, { min: 1, doc: "items in the test split" }),
      classes: int(8, { min: 2, doc: "labels, assigned in turn" }),
    },
    create(o, ctx) {
      const shape = [o.side, o.side, o.channels];
      const rng = new Rng(ctx.rng.int(1 << 30));
      const pixels = o.side * o.side * o.channels;
      const images = Array.from({ length: DISTINCT }, () => Float32Array.from({ length: pixels }, () => rng.normal()));
      return {
        train: split(o.size, o.classes, shape, images),
        // At least two items per test class, so that no query is lone.
        test: split(o.testSize, Math.max(1, Math.min(o.classes, Math.floor(o.testSize / 2))), shape, images),
        description: `${o.size} random ${o.side}×${o.side}×${o.channels} images`,
      };
    },
  }],
};
