/**
 * The plain sampler: each epoch is one shuffled pass over the split in disjoint batches of
 * `batchSize`; the last partial batch is dropped, so an epoch is floor(size / batchSize) batches.
 *
 * ```ts
 * const s = new RandomSampler(data.train.size, { batchSize: 64 });
 * for (const batch of s.batches(epoch, rng)) { ... } // Int32Array(64) of dataset indices
 * ```
 */
import type { Sampler } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";

export class RandomSampler implements Sampler {
  readonly batchSize: number;

  constructor(readonly size: number, options: { batchSize: number }, path = "sampler") {
    if (options.batchSize > size) {
      throw new DmlError(
        `${path}.batchSize: ${options.batchSize} is larger than the training split (${size} items); no full batch exists`,
      );
    }
    this.batchSize = options.batchSize;
  }

  epochLength(_epoch: number): number {
    return Math.floor(this.size / this.batchSize);
  }

  /** One pass in the order of a shuffle drawn from `rng`. */
  *batches(_epoch: number, rng: Rng): Iterable<Int32Array> {
    const order = Int32Array.from({ length: this.size }, (_, i) => i);
    rng.shuffle(order);
    const n = this.epochLength(0);
    for (let b = 0; b < n; b++) yield order.slice(b * this.batchSize, (b + 1) * this.batchSize);
  }
}
