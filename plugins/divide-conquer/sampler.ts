/**
 * The divide-and-conquer sampler: every batch comes from one cluster (classes × perClass of its
 * samples), clusters taking turns. It owns the run's {@link Clustering} and drives it from its
 * hooks: re-clustering at the start of an epoch when due, one step forward after each step, and
 * the clustering in every checkpoint.
 *
 * ```ts
 * const sampler = new ClusterSampler(clustering);
 * await sampler.onEpochStart(ctx);
 * for (const batch of sampler.batches(ctx.epoch, rng)) { ...; await sampler.afterStep(); }
 * ```
 */
import type { Hooks, Sampler, State, TrainContext } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import type { Clustering } from "./clustering.ts";
import { ClusterBatches } from "./batches.ts";

export class ClusterSampler implements Sampler, Hooks {
  /** @param clustering the shared clustering this sampler drives */
  constructor(readonly clustering: Clustering) {}

  get batchSize(): number {
    return this.clustering.batchSize;
  }

  /** The epoch's length once prepared; before that an estimate (the whole set in batches). */
  epochLength(epoch: number): number {
    if (this.clustering.options.batchesPerEpoch > 0) return this.clustering.options.batchesPerEpoch;
    if (this.clustering.epoch === epoch) return this.clustering.order.length;
    return Math.max(1, Math.floor(this.clustering.labels.length / this.batchSize));
  }

  async onEpochStart(ctx: TrainContext): Promise<void> {
    await this.clustering.startEpoch(ctx);
  }

  afterStep(): void {
    this.clustering.advance();
  }

  *batches(epoch: number, rng: Rng): Iterable<Int32Array> {
    const c = this.clustering;
    if (c.epoch !== epoch) {
      throw new Error(`divide-conquer sampler: epoch ${epoch} was not prepared (onEpochStart must run first)`);
    }
    const { classes, perClass } = c.options;
    const draws = c.groups.map((g) => (g.length > 0 ? new ClusterBatches(g, classes, perClass, rng) : null));
    for (const k of c.order) yield draws[k]!.next();
  }

  saveState(): State {
    return this.clustering.save();
  }

  loadState(s: State): void {
    this.clustering.load(s);
  }
}
