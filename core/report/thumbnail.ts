/**
 * A dataset item as a small 8-bit picture for a report: the dataset's own `image(i)` when it has
 * one, else its network input rescaled to 0..255 (an image-shaped dataset without `image`), else
 * nothing (vectors, e.g. the toy blobs).
 *
 * ```ts
 * const p = await thumbnail(data.test, 17);   // Pixels no larger than 96 × 96, or null
 * ```
 */
import type { Dataset } from "../types.ts";
import { Rng } from "../rng.ts";
import type { Pixels } from "./png.ts";

/** Item `i` of `split` as pixels whose larger side is at most `maxSide`, or null when it is not an image. */
export async function thumbnail(split: Dataset, i: number, maxSide = 96): Promise<Pixels | null> {
  const p = split.image ? await split.image(i) : await fromInput(split, i);
  return p ? shrink(p, maxSide) : null;
}

/** The network's input for item i (normalised, so min-max rescaled for display). */
async function fromInput(split: Dataset, i: number): Promise<Pixels | null> {
  const [height, width, channels] = split.shape;
  if (split.shape.length !== 3 || (channels !== 1 && channels !== 3)) return null;
  const x = split.batch(Int32Array.of(i), { augment: false, rng: new Rng(0) });
  const v = await x.data() as Float32Array;
  x.dispose();
  let lo = Infinity, hi = -Infinity;
  for (const a of v) lo = Math.min(lo, a), hi = Math.max(hi, a);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const data = Uint8Array.from(v, (a) => Math.round((a - lo) * scale));
  return { width, height, channels, data };
}

/** Area-averaged by a whole factor until the larger side fits `maxSide`. */
export function shrink(p: Pixels, maxSide: number): Pixels {
  const f = Math.ceil(Math.max(p.width, p.height) / maxSide);
  if (f <= 1) return p;
  const width = Math.floor(p.width / f), height = Math.floor(p.height / f), ch = p.channels;
  const data = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        let s = 0;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) s += p.data[((y * f + dy) * p.width + x * f + dx) * ch + c];
        }
        data[(y * width + x) * ch + c] = Math.round(s / (f * f));
      }
    }
  }
  return { width, height, channels: ch, data };
}
