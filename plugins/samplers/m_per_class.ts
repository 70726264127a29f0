/**
 * The class-balanced sampler: each batch holds `classes` distinct classes with `perClass` items each.
 *
 * What an epoch is: exactly `batchesPerEpoch` batches. By default that is
 * floor(split size / (classes × perClass)), so an epoch shows as many images as the split holds,
 * though not each image once. Within an epoch classes are drawn from shuffled rounds of all
 * classes (every class comes up before any repeats) and each class's items from shuffled rounds
 * of its items, so coverage is even. A class with fewer than `perClass` items gives all of them
 * plus draws with replacement.
 *
 * ```ts
 * const s = new MPerClassSampler(labels, { classes: 8, perClass: 4, batchesPerEpoch: 0 });
 * for (const batch of s.batches(epoch, rng)) { ... } // Int32Array(32) of dataset indices
 * ```
 */
import type { Sampler } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";

export interface MPerClassOptions {
  classes: number;
  perClass: number;
  /** 0: floor(size / batchSize). */
  batchesPerEpoch: number;
}

export class MPerClassSampler implements Sampler {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private readonly members: Int32Array[];

  constructor(labels: Int32Array, readonly options: MPerClassOptions, path = "sampler") {
    const byClass = new Map<number, number[]>();
    labels.forEach((y, i) => {
      const list = byClass.get(y);
      if (list) list.push(i);
      else byClass.set(y, [i]);
    });
    this.members = [...byClass.keys()].sort((a, b) => a - b).map((y) => Int32Array.from(byClass.get(y)!));
    if (this.members.length < options.classes) {
      throw new DmlError(
        `${path}.classes: ${options.classes} classes per batch, but the training split has only ${this.members.length}; ` +
          `set ${path}.classes <= ${this.members.length} (a batch is classes × perClass items)`,
      );
    }
    this.batchSize = options.classes * options.perClass;
    this.batchesPerEpoch = options.batchesPerEpoch > 0
      ? options.batchesPerEpoch
      : Math.max(1, Math.floor(labels.length / this.batchSize));
  }

  epochLength(_epoch: number): number {
    return this.batchesPerEpoch;
  }

  /** The epoch's batches, all drawn from `rng` (the epoch number itself does not change them). */
  *batches(_epoch: number, rng: Rng): Iterable<Int32Array> {
    const classRounds = new ShuffledRounds(this.members.length, rng);
    const itemRounds = this.members.map((m) => new ShuffledRounds(m.length, rng));
    const { classes, perClass } = this.options;
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const batch = new Int32Array(this.batchSize);
      const chosen = classRounds.takeDistinct(classes);
      chosen.forEach((c, k) => {
        const items = this.members[c];
        const picks = items.length >= perClass ? itemRounds[c].takeDistinct(perClass) : [
          ...itemRounds[c].takeDistinct(items.length),
          ...drawWithReplacement(items.length, perClass - items.length, rng),
        ];
        picks.forEach((p, j) => batch[k * perClass + j] = items[p]);
      });
      yield batch;
    }
  }
}

/**
 * An endless stream of shuffled rounds of 0..n-1. `takeDistinct(k)` (k <= n) returns k distinct
 * values in stream order; a value that would repeat within one take waits for the next take.
 */
class ShuffledRounds {
  private round: number[] = [];
  private pos = 0;
  private waiting: number[] = [];

  constructor(private readonly n: number, private readonly rng: Rng) {}

  takeDistinct(k: number): number[] {
    const out: number[] = [];
    const taken = new Set<number>();
    const deferred: number[] = [];
    const take = (v: number) => {
      if (taken.has(v)) deferred.push(v);
      else {
        taken.add(v);
        out.push(v);
      }
    };
    while (out.length < k && this.waiting.length > 0) take(this.waiting.shift()!);
    while (out.length < k) {
      // The round is shuffled when first needed, so a class never drawn costs no random numbers.
      if (this.pos === this.round.length) {
        this.round = this.rng.shuffle(Array.from({ length: this.n }, (_, i) => i));
        this.pos = 0;
      }
      take(this.round[this.pos++]);
    }
    this.waiting = [...deferred, ...this.waiting];
    return out;
  }
}

function drawWithReplacement(n: number, k: number, rng: Rng): number[] {
  return Array.from({ length: k }, () => rng.int(n));
}
