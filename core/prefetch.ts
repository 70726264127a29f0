/**
 * Batches with their inputs loading ahead: for a dataset that decodes files (`loadBatch`), the
 * next `ahead` batches are already being decoded while the current one trains, so the device is
 * not left waiting. Loads are started in batch order, so a dataset's augmentation draws are the
 * same as with `batch`. A dataset without `loadBatch` gets `x: null` and its indices one at a time
 * (the caller builds the batch itself, exactly as before).
 *
 * ```ts
 * for await (const { indices, x } of loadAhead(sampler.batches(epoch, rng), data.train, { augment: true, rng }, { ahead: 2, limit: Infinity })) {
 *   const input = x ?? data.train.batch(indices, { augment: true, rng });
 *   // ... train on input, then dispose x
 * }
 * ```
 */
import type { Tensor } from "@tensorflow/tfjs-core";
import type { Dataset } from "./types.ts";
import type { Rng } from "./rng.ts";

export interface LoadedBatch {
  indices: Int32Array;
  /** The loaded input (the caller disposes it), or null when the dataset loads synchronously. */
  x: Tensor | null;
}

/**
 * Yields at most `limit` batches of `batches`, each with its input loaded `ahead` batches early
 * (0: loaded when it is needed). Batches loaded but not consumed (an early stop) are disposed.
 */
export async function* loadAhead(
  batches: Iterable<Int32Array>,
  split: Dataset,
  opts: { augment: boolean; rng: Rng },
  o: { ahead: number; limit: number },
): AsyncGenerator<LoadedBatch> {
  const source = batches[Symbol.iterator]();
  let pulled = 0;
  const next = (): Int32Array | null => {
    if (pulled >= o.limit) return null;
    const r = source.next();
    if (r.done) return null;
    pulled++;
    return r.value;
  };
  if (!split.loadBatch) {
    for (let indices = next(); indices; indices = next()) yield { indices, x: null };
    return;
  }
  const queue: Array<{ indices: Int32Array; x: Promise<Tensor> }> = [];
  const fill = () => {
    while (queue.length <= o.ahead) {
      const indices = next();
      if (!indices) return;
      const x = split.loadBatch!(indices, opts);
      // A failure surfaces when its batch is awaited; until then it must not count as unhandled.
      x.catch(() => {});
      queue.push({ indices, x });
    }
  };
  try {
    fill();
    while (queue.length > 0) {
      const head = queue.shift()!;
      const x = await head.x;
      yield { indices: head.indices, x };
      fill();
    }
  } finally {
    for (const q of queue) q.x.then((t) => t.dispose(), () => {});
  }
}
