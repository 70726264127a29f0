/**
 * How a dataset turns 8-bit pixels into network input, measured rather than looked up: for a few
 * items, `image(i)` (the test-time pixels) is compared with `batch([i])` (the network input), and
 * each input channel must be an exact affine map of one pixel channel, `(pixel - mean) / std`
 * (Fashion-MNIST's `v / 255 - mean`, ImageNet's per-channel mean/std, Caffe's BGR order all are).
 * An exported model then takes plain pixels and applies that map itself.
 *
 * ```ts
 * const map = await measurePixelMap(data.test); // { mean: [74.1], std: [255], source: [0], ... } or null
 * const x = applyPixelMap(bytesAsFloat, map);    // what data.test.batch would give
 * ```
 */
import { tf } from "../tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import type { Dataset } from "../types.ts";
import { Rng } from "../rng.ts";

/** Network input channel c = (pixel[source[c]] - mean[c]) / std[c], pixels 0..255. */
export interface PixelMap {
  /** [height, width, channels] of the pixels the model takes. */
  shape: number[];
  mean: number[];
  std: number[];
  /** The pixel channel each input channel reads (e.g. [2, 1, 0] for BGR weights). */
  source: number[];
}

/** Items looked at; more are taken while a channel shows a single value. */
const SAMPLE = 4, MAX_SAMPLE = 32;

/**
 * The dataset's pixel map, or null when it has no `image()` or its input is not such a map of
 * the pixels (the model then takes the network input as the dataset makes it).
 */
export async function measurePixelMap(split: Dataset): Promise<PixelMap | null> {
  if (!split.image || split.size === 0 || split.shape.length !== 3) return null;
  const count = Math.min(split.size, MAX_SAMPLE);
  const pixels: Uint8Array[] = [], inputs: Float32Array[] = [];
  const [h, w, c] = split.shape;
  for (let i = 0; i < count; i++) {
    const img = await split.image(i);
    if (img.height !== h || img.width !== w) return null;
    const x = split.batch(Int32Array.of(i), { augment: false, rng: new Rng(0) });
    inputs.push(x.dataSync() as Float32Array);
    x.dispose();
    pixels.push(img.data);
    const fit = fitMap(pixels, inputs, img.channels, c);
    if (fit === "mismatch") return null;
    if (fit && i + 1 >= Math.min(SAMPLE, count)) return { shape: [h, w, img.channels], ...fit };
  }
  return null;
}

/** Per input channel, the one pixel channel and affine map that give it exactly. */
function fitMap(
  pixels: Uint8Array[],
  inputs: Float32Array[],
  pc: number,
  ic: number,
): Omit<PixelMap, "shape"> | "mismatch" | null {
  const mean: number[] = [], std: number[] = [], source: number[] = [];
  for (let c = 0; c < ic; c++) {
    let found: [number, number, number] | null = null, undetermined = false;
    for (let s = 0; s < pc && !found; s++) {
      const fit = fitChannel(pixels, inputs, pc, ic, s, c);
      if (fit === null) undetermined = true;
      else if (fit !== "mismatch") found = [s, ...fit];
    }
    if (!found) return undetermined ? null : "mismatch";
    const [s, a, b] = found;
    // Seven significant digits: what a float32 fit can tell.
    source.push(s), std.push(Number((1 / a).toPrecision(7))), mean.push(Number((-b / a).toPrecision(7)));
  }
  return { mean, std, source };
}

/** [a, b] with input = a * pixel + b for every pixel of channel s into input channel c; null if one value only. */
function fitChannel(
  pixels: Uint8Array[],
  inputs: Float32Array[],
  pc: number,
  ic: number,
  s: number,
  c: number,
): [number, number] | "mismatch" | null {
  let lo = -1, hi = -1, flo = 0, fhi = 0;
  for (let k = 0; k < pixels.length; k++) {
    const p = pixels[k], x = inputs[k];
    if (p.length / pc !== x.length / ic) return "mismatch";
    for (let j = 0; j < x.length / ic; j++) {
      const v = p[j * pc + s];
      if (lo < 0 || v < lo) lo = v, flo = x[j * ic + c];
      if (hi < 0 || v > hi) hi = v, fhi = x[j * ic + c];
    }
  }
  if (lo === hi) return null;
  const a = (fhi - flo) / (hi - lo), b = flo - a * lo;
  if (!(a !== 0 && Number.isFinite(a))) return "mismatch";
  for (let k = 0; k < pixels.length; k++) {
    const p = pixels[k], x = inputs[k];
    for (let j = 0; j < x.length / ic; j++) {
      const want = x[j * ic + c], got = a * p[j * pc + s] + b;
      if (Math.abs(got - want) > 1e-5 * (1 + Math.abs(want))) return "mismatch";
    }
  }
  return [a, b];
}

/** [B, H, W, pixel channels] 0..255 -> the network input, with tf ops (so that an export traces them). */
export function applyPixelMap(pixels: Tensor, map: PixelMap): Tensor {
  return tf.tidy(() => {
    const identity = map.source.length === map.shape[2] && map.source.every((s, i) => s === i);
    const x = identity ? pixels : tf.gather(pixels, tf.tensor1d(map.source, "int32"), 3);
    return tf.div(tf.sub(x, tf.tensor1d(map.mean)), tf.tensor1d(map.std));
  });
}
