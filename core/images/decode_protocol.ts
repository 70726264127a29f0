/**
 * The messages between the main thread and the decoding workers. Results travel through shared
 * memory, not messages, so the main thread may block on them (`Atomics.wait`) inside a synchronous
 * `Dataset.batch` while the workers decode.
 *
 * A request's `control` is an Int32Array over a SharedArrayBuffer: [0] jobs left (the worker that
 * finishes the last one notifies), [1] 1 once a job failed, [2] byte length of the first failure's
 * message, which is written as UTF-8 into `message`.
 *
 * ```ts
 * const control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
 * control[0] = jobs.length;
 * worker.postMessage({ kind: "decode", jobs, ... } satisfies DecodeRequest);
 * ```
 */
import type { TransformSpec } from "./transform.ts";

/**
 * How decoded 8-bit RGB becomes network input: ((v / 255) * range - mean) / std per channel, then
 * the channels in RGB or BGR order. `mean` and `std` are given in RGB order either way.
 */
export interface PixelSpec {
  /** Per channel, R, G, B. */
  mean: [number, number, number];
  /** Per channel, R, G, B. */
  std: [number, number, number];
  /** 1: values in [0, 1] before mean/std (torchvision); 255: [0, 255] (Caffe-converted weights). */
  range: number;
  /** Channel order BGR (Caffe-converted weights) instead of RGB. */
  bgr: boolean;
  /** RGB (0..255) to composite transparent images on; without it the alpha channel is dropped. */
  background?: [number, number, number];
}

/** One image to decode into slot `slot` of the output. */
export interface DecodeJob {
  path: string;
  /** [x1, y1, x2, y2] in source pixels, cropped first; null for the whole image. */
  box: number[] | null;
  /** Seed of the image's augmentation; null at test time (resize + centre crop). */
  seed: number | null;
  slot: number;
}

export interface DecodeRequest {
  kind: "decode";
  jobs: DecodeJob[];
  transform: TransformSpec;
  pixels: PixelSpec;
  /** float32: normalised network input; uint8: the transformed RGB pixels (reports). */
  output: "float32" | "uint8";
  /** [B, size, size, 3] float32 or uint8. */
  out: SharedArrayBuffer;
  control: SharedArrayBuffer;
  message: SharedArrayBuffer;
  /** Images in flight at once in this worker (sharp decodes on background threads). */
  concurrency: number;
}

/** Decodes each file fully once; status[i] becomes 1 (readable) or 2 (missing or unreadable). */
export interface VerifyRequest {
  kind: "verify";
  paths: string[];
  /** Index of paths[0] in `status`. */
  offset: number;
  status: SharedArrayBuffer;
  control: SharedArrayBuffer;
  message: SharedArrayBuffer;
  concurrency: number;
}

export type WorkerRequest = DecodeRequest | VerifyRequest;

export const CONTROL_BYTES = 16;
export const MESSAGE_BYTES = 4096;

/** Records the first failure of a request (later ones are dropped). */
export function reportFailure(control: Int32Array, message: Uint8Array, text: string): void {
  if (Atomics.compareExchange(control, 1, 0, 1) !== 0) return;
  const bytes = new TextEncoder().encode(text).subarray(0, message.length);
  message.set(bytes);
  Atomics.store(control, 2, bytes.length);
}

/** The first failure's text, or null. */
export function readFailure(control: Int32Array, message: Uint8Array): string | null {
  if (Atomics.load(control, 1) === 0) return null;
  const n = Atomics.load(control, 2);
  // TextDecoder refuses views of shared memory: copy first.
  return new TextDecoder().decode(message.slice(0, n));
}

/** Marks one job done; the last one wakes the waiting thread. */
export function finishJob(control: Int32Array): void {
  if (Atomics.sub(control, 0, 1) === 1) Atomics.notify(control, 0);
}
