/**
 * Where to crop and how to resize one image: the field's augmentations as pure geometry, so the
 * decoding worker and the tests compute the same boxes. Randomness comes from an {@link Rng} seeded
 * per image (one 32-bit draw of the batch's rng on the main thread), so a batch is the same
 * whichever worker decodes which image.
 *
 * - `random-resized-crop` (torchvision `RandomResizedCrop`): a box of random area fraction `scale`
 *   and aspect ratio `ratio` (log-uniform), 10 tries, else the central crop clamped to `ratio`;
 *   then resized to size × size.
 * - `random-crop`: resize (shorter side to `resize`, or `resize` × `resize` with `squash`), then a
 *   random size × size crop (the Caffe-era BN-Inception / GoogLeNet set-up).
 * - test time (and `none`): resize as above, then the centre size × size crop (torchvision
 *   `Resize` + `CenterCrop`).
 * Each training mode then mirrors left-right with probability 1/2 when `flip` is set.
 *
 * ```ts
 * const plan = planTransform(spec, "train", 500, 375, new Rng(seed));
 * // { crop: {left, top, width, height}, resize: [224, 224], after: null, flip: true }
 * ```
 */
import type { Rng } from "../rng.ts";

export type AugmentMode = "random-resized-crop" | "random-crop" | "none";

/** How a dataset turns files into network inputs. */
export interface TransformSpec {
  /** Side of the square network input. */
  size: number;
  /** Shorter side (or both sides with `squash`) before a centre or random crop. */
  resize: number;
  /** The training augmentation. */
  augment: AugmentMode;
  /** random-resized-crop: range of the crop's area as a fraction of the image. */
  scale: [number, number];
  /** random-resized-crop: range of the crop's aspect ratio (width / height). */
  ratio: [number, number];
  /** Mirror left-right with probability 1/2 in training. */
  flip: boolean;
  /** Resize to resize × resize, ignoring the aspect ratio (Caffe style), instead of the shorter side. */
  squash: boolean;
}

/** A pixel rectangle. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * One image's geometry: `crop` (on the source) then `resize` to [width, height], then `after`
 * (a crop of the resized image, or null), then a left-right mirror when `flip`.
 */
export interface TransformPlan {
  crop: Rect | null;
  resize: [number, number];
  after: Rect | null;
  flip: boolean;
}

/** Python's round(): halves go to the even neighbour (torchvision computes crop sizes with it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `RandomResizedCrop.get_params` on a width × height image. */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): Rect {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + rng.uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logRatio[0] + rng.uniform() * (logRatio[1] - logRatio[0]));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  // Fallback: the central crop, clamped to the allowed aspect ratios.
  const inRatio = width / height;
  let w = width, h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** The resized size: shorter side to `resize` keeping the aspect (torchvision `Resize(int)`), or a square. */
export function resizedSize(width: number, height: number, resize: number, squash: boolean): [number, number] {
  if (squash) return [resize, resize];
  if (width <= height) return [resize, Math.max(1, Math.trunc((resize * height) / width))];
  return [Math.max(1, Math.trunc((resize * width) / height)), resize];
}

/** torchvision `CenterCrop(size)` of a width × height image (padding is never needed: resize >= size). */
export function centerCropBox(width: number, height: number, size: number): Rect {
  const w = Math.min(size, width), h = Math.min(size, height);
  return {
    left: roundHalfEven((width - w) / 2),
    top: roundHalfEven((height - h) / 2),
    width: w,
    height: h,
  };
}

/** The geometry of one image; `rng` is consulted only in training with an augmentation. */
export function planTransform(
  spec: TransformSpec,
  phase: "train" | "test",
  width: number,
  height: number,
  rng: Rng | null,
): TransformPlan {
  const mode = phase === "train" && rng ? spec.augment : "none";
  if (mode === "random-resized-crop") {
    const crop = randomResizedCropBox(width, height, spec.scale, spec.ratio, rng!);
    const flip = spec.flip && rng!.uniform() < 0.5;
    return { crop, resize: [spec.size, spec.size], after: null, flip };
  }
  const resize = resizedSize(width, height, Math.max(spec.resize, spec.size), spec.squash);
  if (mode === "random-crop") {
    const top = rng!.int(resize[1] - spec.size + 1);
    const left = rng!.int(resize[0] - spec.size + 1);
    const flip = spec.flip && rng!.uniform() < 0.5;
    return { crop: null, resize, after: { left, top, width: spec.size, height: spec.size }, flip };
  }
  return { crop: null, resize, after: centerCropBox(resize[0], resize[1], spec.size), flip: false };
}

/** A box [x1, y1, x2, y2] clipped to the image and rounded outward to whole pixels; null if empty. */
export function boxRect(box: ArrayLike<number>, width: number, height: number): Rect | null {
  const x1 = Math.max(0, Math.floor(Math.min(box[0], box[2])));
  const y1 = Math.max(0, Math.floor(Math.min(box[1], box[3])));
  const x2 = Math.min(width, Math.ceil(Math.max(box[0], box[2])));
  const y2 = Math.min(height, Math.ceil(Math.max(box[1], box[3])));
  if (x2 - x1 < 1 || y2 - y1 < 1) return null;
  return { left: x1, top: y1, width: x2 - x1, height: y2 - y1 };
}
