/**
 * One split of an image dataset on disk as a {@link Dataset}: a list of files with labels (and
 * optional boxes), decoded by the shared worker pool into float32 [B, size, size, 3].
 *
 * `batch` blocks until the workers are done; `loadBatch` is its asynchronous form, which the
 * trainer calls a few batches ahead so decoding overlaps training. Both draw one 32-bit seed per
 * image from `rng` at call time (only when augmenting), so the same calls in the same order give
 * the same pixels, whichever form and however many workers.
 *
 * ```ts
 * const ds = new ImageFileDataset("cub200", items, transform, pixels, { workers: 0 });
 * const x = ds.batch(Int32Array.of(0, 1), { augment: true, rng }); // [2, 224, 224, 3]
 * const y = await ds.loadBatch(Int32Array.of(2, 3), { augment: false, rng });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor4D } from "@tensorflow/tfjs-core";
import type { Dataset } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";
import type { DecodeJob, PixelSpec } from "../../core/images/decode_protocol.ts";
import type { TransformSpec } from "../../core/images/transform.ts";
import { decodePool, type Pending } from "../../core/images/decode_pool.ts";

/** The files of one split. */
export interface ImageItems {
  paths: string[];
  /** 0..classes-1. */
  labels: Int32Array;
  /** Per item [x1, y1, x2, y2] to crop first, or null; the whole list null when no box is used. */
  boxes: (number[] | null)[] | null;
  /** Name of each label. */
  classNames: string[];
}

/** Reusable shared buffers by byte size, so batches do not allocate and zero fresh memory. */
const spareBuffers = new Map<number, SharedArrayBuffer[]>();

function takeBuffer(bytes: number): SharedArrayBuffer {
  return spareBuffers.get(bytes)?.pop() ?? new SharedArrayBuffer(bytes);
}

function giveBack(buffer: SharedArrayBuffer): void {
  const list = spareBuffers.get(buffer.byteLength) ?? [];
  if (list.length < 4) list.push(buffer);
  spareBuffers.set(buffer.byteLength, list);
}

export class ImageFileDataset implements Dataset {
  readonly size: number;
  readonly labels: Int32Array;
  readonly classes: number;
  readonly shape: number[];
  readonly classNames: string[];

  /**
   * @param name the dataset's name, for error messages
   * @param items the split's files
   * @param transform geometry and augmentation
   * @param pixels normalisation
   * @param o workers: decoding workers (0 = auto)
   */
  constructor(
    readonly name: string,
    readonly items: ImageItems,
    readonly transform: TransformSpec,
    readonly pixels: PixelSpec,
    readonly o: { workers: number },
  ) {
    this.size = items.paths.length;
    this.labels = items.labels;
    this.classNames = items.classNames;
    this.classes = items.classNames.length;
    this.shape = [transform.size, transform.size, 3];
  }

  batch(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Tensor4D {
    const request = this.submit(indices, opts, "float32");
    request.pending.waitSync();
    return this.finish(request);
  }

  async loadBatch(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Promise<Tensor4D> {
    const request = this.submit(indices, opts, "float32");
    await request.pending.wait();
    return this.finish(request);
  }

  /** Item i as the network sees it at test time, as 8-bit RGB. */
  async image(i: number): Promise<{ width: number; height: number; channels: number; data: Uint8Array }> {
    const request = this.submit(Int32Array.of(i), { augment: false, rng: null }, "uint8");
    await request.pending.wait();
    const failure = request.pending.failure();
    if (failure) throw this.decodeError(failure);
    const data = new Uint8Array(request.out).slice();
    return { width: this.transform.size, height: this.transform.size, channels: 3, data };
  }

  private submit(indices: Int32Array, opts: { augment: boolean; rng: Rng | null }, output: "float32" | "uint8") {
    const augment = opts.augment && opts.rng !== null && this.transform.augment !== "none";
    const jobs: DecodeJob[] = new Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (!(i >= 0 && i < this.size)) throw new RangeError(`dataset index ${i} is outside 0..${this.size - 1}`);
      // Drawn here, in call order: the batch does not depend on which worker finishes first.
      const seed = augment ? opts.rng!.nextUint32() : null;
      jobs[k] = { path: this.items.paths[i], box: this.items.boxes?.[i] ?? null, seed, slot: k };
    }
    const pixelsPerItem = this.transform.size * this.transform.size * 3;
    const out = takeBuffer(indices.length * pixelsPerItem * (output === "float32" ? 4 : 1));
    const pending = decodePool(this.o.workers).decode(jobs, this.transform, this.pixels, output, out);
    return { pending, out, n: indices.length };
  }

  private finish(request: { pending: Pending; out: SharedArrayBuffer; n: number }): Tensor4D {
    const failure = request.pending.failure();
    if (failure) {
      giveBack(request.out);
      throw this.decodeError(failure);
    }
    // tfjs may keep the array it is given: hand it a private copy, and reuse the shared one.
    const values = new Float32Array(request.out).slice();
    giveBack(request.out);
    const s = this.transform.size;
    return tf.tensor4d(values, [request.n, s, s, 3]);
  }

  private decodeError(failure: string): DmlError {
    const hint = /--allow-ffi|sharp could not load/.test(failure)
      ? ""
      : ` (set data.verify: decode and data.skipBad: true to drop unreadable images before training)`;
    return new DmlError(`data: ${this.name}: ${failure}${hint}`);
  }
}
