/**
 * Embedding a whole split in batches without gradient: what evaluation, reports and
 * divide-and-conquer's re-clustering use.
 *
 * ```ts
 * const split = await embedSplit(data.test, backbone, loss, { batch: 256 });
 * ```
 */
import { tf } from "./tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";
import type { Backbone, Dataset, Loss, Split } from "./types.ts";
import { l2normalize } from "./pairs.ts";
import { Rng } from "./rng.ts";
import { loadAhead } from "./prefetch.ts";
import { columnMean, subtractMean } from "./retrieval.ts";

/** A file-backed split decodes one batch ahead while the current one is embedded. */
const ahead = { ahead: 1, limit: Infinity };

/** The split's items in consecutive batches of `batch`. */
function* inOrder(size: number, batch: number): Iterable<Int32Array> {
  for (let start = 0; start < size; start += batch) {
    yield Int32Array.from({ length: Math.min(batch, size - start) }, (_, i) => start + i);
  }
}

/** Test-time embeddings (loss.evalTransform applied when given), or pre-head features. */
export async function embedSplit(
  split: Dataset,
  backbone: Backbone,
  loss: Loss | undefined,
  o: { batch: number; features?: boolean; normalize?: boolean },
): Promise<Split> {
  const rng = new Rng(0); // unused: no augmentation at test time
  let data: Float32Array | null = null;
  let dim = 0;
  const opts = { augment: false, rng };
  for await (const { indices: idx, x: loaded } of loadAhead(inOrder(split.size, o.batch), split, opts, ahead)) {
    const start = idx[0];
    const out = tf.tidy(() => {
      const x = loaded ?? split.batch(idx, opts);
      let e: Tensor2D = o.features && backbone.features ? backbone.features(x, false) : backbone.embed(x, false);
      if (!o.features && loss?.evalTransform) e = loss.evalTransform(e);
      return o.normalize ? l2normalize(e) : e;
    });
    loaded?.dispose();
    const values = await out.data() as Float32Array;
    dim = out.shape[1];
    out.dispose();
    data ??= new Float32Array(split.size * dim);
    data.set(values, start * dim);
  }
  return { data: data ?? new Float32Array(0), n: split.size, dim, labels: split.labels };
}

/** Raw pixels, flattened and centred by their mean: the baseline every embedding must beat. */
export async function rawPixels(split: Dataset, batch: number): Promise<Split> {
  const rng = new Rng(0);
  const dim = split.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(split.size * dim);
  const opts = { augment: false, rng };
  for await (const { indices: idx, x: loaded } of loadAhead(inOrder(split.size, batch), split, opts, ahead)) {
    const x = loaded ?? split.batch(idx, opts);
    data.set(await x.data() as Float32Array, idx[0] * dim);
    x.dispose();
  }
  const pixels = { data, n: split.size, dim, labels: split.labels };
  return subtractMean(pixels, columnMean(pixels)); // in place: an image set's pixels may be large
}
