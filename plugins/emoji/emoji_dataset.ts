/**
 * One split of the emoji benchmark as a {@link Dataset}: drawings held in the vendors' decoded
 * sets (no copy), labels 0..classes-1, batches as float32 [B, size, size, 3] with pixels
 * v / 255 − mean[channel] (the training split's mean; 0 without normalisation). Augmentation draws
 * one transform per image from the call's `rng`, in batch order (augment.ts).
 *
 * ```ts
 * const split = new EmojiDataset(images, { set: [0, 1], row: [5, 5] }, labels, names, options);
 * split.batch(Int32Array.of(0, 1), { augment: true, rng }); // [2, 32, 32, 3]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor4D } from "@tensorflow/tfjs-core";
import type { Dataset } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import type { ImageSet } from "../../core/images/image_cache.ts";
import { type AugmentRanges, drawTransform, IDENTITY, warpImage } from "./augment.ts";

export interface EmojiDatasetOptions {
  /** Per channel, subtracted after scaling to [0, 1]. */
  mean: [number, number, number];
  /** Whether batch({ augment: true }) augments at all. */
  augment: boolean;
  ranges: AugmentRanges;
  /** Grey level 0..255 the images were composited on (fills what a shift uncovers). */
  background: number;
}

/** Where each item's pixels are: set[i] is an index into the sets, row[i] a row of that set. */
export interface ItemRows {
  set: Int32Array;
  row: Int32Array;
}

export class EmojiDataset implements Dataset {
  readonly size: number;
  readonly classes: number;
  readonly shape: number[];
  private readonly side: number;
  private readonly itemBytes: number;

  constructor(
    private readonly sets: ImageSet[],
    private readonly items: ItemRows,
    readonly labels: Int32Array,
    readonly classNames: string[],
    readonly options: EmojiDatasetOptions,
  ) {
    this.size = items.row.length;
    this.classes = classNames.length;
    this.side = sets[0].height;
    this.shape = [this.side, this.side, 3];
    this.itemBytes = this.side * this.side * 3;
  }

  batch(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Tensor4D {
    const out = new Float32Array(indices.length * this.itemBytes);
    const augment = opts.augment && this.options.augment;
    const mean = this.options.mean;
    const toFloat = (v: number, c: number) => v / 255 - mean[c];
    for (let j = 0; j < indices.length; j++) {
      const src = this.pixels(indices[j]);
      const t = augment ? drawTransform(opts.rng, this.options.ranges, this.side) : IDENTITY;
      if (!augment) {
        for (let p = 0; p < this.itemBytes; p++) out[j * this.itemBytes + p] = toFloat(src[p], p % 3);
        continue;
      }
      warpImage(src, this.side, t, this.options.background, out, j * this.itemBytes, toFloat);
    }
    return tf.tensor4d(out, [indices.length, this.side, this.side, 3]);
  }

  image(i: number): Promise<{ width: number; height: number; channels: number; data: Uint8Array }> {
    return Promise.resolve({ width: this.side, height: this.side, channels: 3, data: this.pixels(i).slice() });
  }

  /** Item i's bytes (a view into its set). */
  pixels(i: number): Uint8Array {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`dataset index ${i} is outside 0..${this.size - 1}`);
    const offset = this.items.row[i] * this.itemBytes;
    return this.sets[this.items.set[i]].pixels.subarray(offset, offset + this.itemBytes);
  }
}

/** The mean of each channel in [0, 1] over the items. */
export function channelMeans(data: EmojiDataset): [number, number, number] {
  const sums = [0, 0, 0];
  for (let i = 0; i < data.size; i++) {
    const px = data.pixels(i);
    for (let p = 0; p < px.length; p++) sums[p % 3] += px[p];
  }
  const n = Math.max(1, data.size * data.shape[0] * data.shape[1]) * 255;
  return [sums[0] / n, sums[1] / n, sums[2] / n];
}
