/**
 * One split of an 8-bit image set as a {@link Dataset}: chosen rows of a shared {@link ImageSet}
 * (no copy), labels remapped to 0..classes-1, batches built as float32 [B, H, W, C].
 *
 * Pixels become v / 255 - mean, with `mean` the training split's mean pixel (0 without
 * normalisation). Augmentation, when on, shifts each image by up to `shift` pixels in each
 * direction (zero padding, then a crop back to size) and mirrors it left-right with
 * probability 1/2 where `flip` is set; the draws come from the `rng` of the call only.
 *
 * ```ts
 * const split = new ImageSplit(set, plan.items, plan.classIds, names, { mean: 0.29, augment: true, flip: true, shift: 2 });
 * const x = split.batch(Int32Array.of(0, 5, 9), { augment: true, rng }); // [3, 28, 28, 1]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor4D } from "@tensorflow/tfjs-core";
import type { Dataset } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import type { ImageSet } from "../../core/images/image_cache.ts";

export interface ImageSplitOptions {
  /** Subtracted after scaling to [0, 1]. */
  mean: number;
  /** Whether batch({ augment: true }) augments at all. */
  augment: boolean;
  /** Whether augmentation mirrors left-right. */
  flip: boolean;
  /** Largest shift in pixels. */
  shift: number;
}

export class ImageSplit implements Dataset {
  readonly size: number;
  readonly labels: Int32Array;
  readonly classes: number;
  readonly shape: number[];
  readonly classNames: string[];
  private readonly itemPixels: number;
  private readonly toFloat = new Float32Array(256);

  /**
   * @param set the shared image set
   * @param sourceRows the rows of `set` in this split, in split order
   * @param classIds the original class ids of this split, ascending: label k is classIds[k]
   */
  constructor(
    private readonly set: ImageSet,
    readonly sourceRows: Int32Array,
    readonly classIds: number[],
    allClassNames: string[],
    readonly options: ImageSplitOptions,
  ) {
    this.size = sourceRows.length;
    this.classes = classIds.length;
    this.shape = [set.height, set.width, set.channels];
    this.itemPixels = set.height * set.width * set.channels;
    this.classNames = classIds.map((c) => allClassNames[c]);
    const remap = new Map(classIds.map((c, k) => [c, k]));
    this.labels = Int32Array.from(sourceRows, (r) => remap.get(set.labels[r])!);
    for (let v = 0; v < 256; v++) this.toFloat[v] = v / 255 - options.mean;
  }

  batch(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Tensor4D {
    const [h, w, ch] = this.shape;
    const out = new Float32Array(indices.length * this.itemPixels);
    const augment = opts.augment && this.options.augment;
    for (let j = 0; j < indices.length; j++) {
      const src = this.rowOffset(indices[j]);
      const dst = j * this.itemPixels;
      if (!augment) {
        for (let p = 0; p < this.itemPixels; p++) out[dst + p] = this.toFloat[this.set.pixels[src + p]];
        continue;
      }
      const s = this.options.shift;
      const dy = opts.rng.int(2 * s + 1) - s;
      const dx = opts.rng.int(2 * s + 1) - s;
      const mirror = this.options.flip && opts.rng.uniform() < 0.5;
      const background = this.toFloat[0];
      for (let y = 0; y < h; y++) {
        const sy = y - dy;
        for (let x = 0; x < w; x++) {
          const sx = (mirror ? w - 1 - x : x) - dx;
          const o = dst + (y * w + x) * ch;
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          for (let c = 0; c < ch; c++) {
            out[o + c] = inside ? this.toFloat[this.set.pixels[src + (sy * w + sx) * ch + c]] : background;
          }
        }
      }
    }
    return tf.tensor4d(out, [indices.length, h, w, ch]);
  }

  image(i: number): Promise<{ width: number; height: number; channels: number; data: Uint8Array }> {
    const src = this.rowOffset(i);
    return Promise.resolve({
      width: this.set.width,
      height: this.set.height,
      channels: this.set.channels,
      data: this.set.pixels.slice(src, src + this.itemPixels),
    });
  }

  private rowOffset(i: number): number {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`dataset index ${i} is outside 0..${this.size - 1}`);
    return this.sourceRows[i] * this.itemPixels;
  }
}

/** The mean pixel in [0, 1] of `rows` of `set`. */
export function meanPixel(set: ImageSet, rows: Int32Array): number {
  const n = set.height * set.width * set.channels;
  let sum = 0;
  for (const r of rows) {
    for (let p = r * n; p < (r + 1) * n; p++) sum += set.pixels[p];
  }
  return rows.length === 0 ? 0 : sum / (rows.length * n * 255);
}
