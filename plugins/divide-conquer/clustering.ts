/**
 * The run's current clustering, which the divide-and-conquer sampler and loss share through
 * `ctx.shared` (key {@link SHARED_KEY}). The sampler owns it and drives it from its hooks:
 *
 * ```
 * at the start of epoch e:
 *   if e >= finetuneFrom:         one cluster holding all the data
 *   elif e % reclusterEvery == 0: X = L2norm(features of the training set)     (or the embedding)
 *                                 C = kmeans(X, K); C = relabelToMatch(C_prev, C)   (Hungarian)
 *                                 drop singletons (a class's only sample in a cluster)
 *   order = round-robin of the clusters' batch counts
 * each step s of the epoch: the batch comes from cluster order[s]; the loss trains learner order[s]
 * ```
 *
 * ```ts
 * const state = new Clustering(options, dataset.labels, seed);
 * await state.startEpoch(ctx);     // in the sampler's onEpochStart
 * state.currentCluster();          // in the loss, during the step
 * state.advance();                 // in the sampler's afterStep
 * ```
 */
import { kmeans } from "../../core/kmeans.ts";
import { DmlError } from "../../core/errors.ts";
import type { State, TrainContext } from "../../core/types.ts";
import { relabelToMatch } from "./relabel.ts";
import { dropSingletons } from "./singletons.ts";
import { batchesOf, clusterGroups, cycleTo, mergeOrder } from "./batches.ts";
import { reclusterDue, type Stage, stageAt, type StageOptions } from "./schedule.ts";

/** The key of the shared clustering in `ctx.shared`. */
export const SHARED_KEY = "divide-conquer";

/** `clusteredAt` once the fine-tuning stage has merged all data into one cluster. */
const FINETUNING = -2;

export interface ClusteringOptions extends StageOptions {
  /** K: clusters, and learners (blocks of D/K dims). */
  clusters: number;
  classes: number;
  perClass: number;
  merge: "over" | "under";
  clusterOn: "penultimate" | "embedding";
  kmeansIters: number;
  dropSingletons: boolean;
  /** Steps an epoch, cycling the round-robin order; 0 = the official count (K × max_k |cluster k| // B). */
  batchesPerEpoch: number;
}

export class Clustering {
  /** Cluster of each training sample for the sampler (−1: left out), or null before the first clustering. */
  assignments: Int32Array | null = null;
  /** The k-means labels after relabelling, before singleton filtering: what the next matching compares with. */
  raw: Int32Array | null = null;
  /** The epoch of the last clustering (−1: none yet; {@link FINETUNING}: all data is one cluster). */
  clusteredAt = -1;
  /** The epoch `startEpoch` last prepared, its stage, and the cluster of each of its steps. */
  epoch = -1;
  stage: Stage = "learners";
  order: number[] = [];
  /** For each cluster of this epoch, the indices of each class in it. */
  groups: Int32Array[][] = [];
  private cursor = 0;

  constructor(readonly options: ClusteringOptions, readonly labels: Int32Array, readonly seed: number) {}

  get batchSize(): number {
    return this.options.classes * this.options.perClass;
  }

  /** Prepares epoch `ctx.epoch`: re-clusters when due, then lays out the order of its steps. */
  async startEpoch(ctx: TrainContext): Promise<void> {
    const e = ctx.epoch;
    this.stage = stageAt(e, this.options);
    if (this.stage === "finetune") {
      this.groups = clusterGroups(new Int32Array(this.labels.length), this.labels, 1);
      if (this.clusteredAt !== FINETUNING) {
        ctx.say(`divide-conquer: epoch ${e}: fine-tuning the full embedding on all data`);
      }
      this.clusteredAt = FINETUNING;
    } else {
      if ((reclusterDue(e, this.options) && this.clusteredAt !== e) || this.assignments === null) {
        await this.recluster(ctx);
      }
      this.groups = clusterGroups(this.assignments!, this.labels, this.options.clusters);
    }
    const order = mergeOrder(this.groups.map((g) => batchesOf(g, this.batchSize)), this.options.merge);
    this.order = cycleTo(order, this.options.batchesPerEpoch);
    this.epoch = e;
    this.cursor = 0;
  }

  /** Clusters the training set afresh and keeps each learner on the cluster that overlaps its old one. */
  async recluster(ctx: TrainContext): Promise<void> {
    const { clusters: k, clusterOn, kmeansIters } = this.options;
    const t0 = performance.now();
    let curr: Int32Array;
    let inertia = 0, iters = 0;
    if (k === 1) {
      curr = new Int32Array(this.labels.length); // K = 1: plain training, nothing to cluster
    } else {
      const features = clusterOn === "penultimate" && ctx.backbone.features !== undefined;
      if (clusterOn === "penultimate" && !features && this.clusteredAt === -1) {
        ctx.say("divide-conquer: the backbone has no pre-head features; clustering the embedding instead");
      }
      const x = await ctx.embedAll(ctx.data.train, { features, normalize: true });
      const km = await kmeans(x.data, x.n, x.dim, k, { seed: this.kmeansSeed(ctx.epoch), iters: kmeansIters });
      curr = km.assignments;
      inertia = km.inertia;
      iters = km.iters;
    }
    let moved = 0;
    if (this.raw) {
      curr = relabelToMatch(this.raw, curr, k);
      moved = countMoved(this.raw, curr);
    }
    this.raw = curr;
    this.assignments = this.options.dropSingletons ? dropSingletons(curr, this.labels) : curr.slice();
    this.clusteredAt = ctx.epoch;
    this.report(ctx, { inertia, iters, moved, seconds: (performance.now() - t0) / 1000 });
  }

  /** The cluster (= learner) of the current step. */
  currentCluster(): number {
    if (this.epoch < 0) {
      throw new Error("divide-conquer: no clustering yet (the trainer must call the sampler's onEpochStart)");
    }
    if (this.cursor >= this.order.length) {
      throw new Error(`divide-conquer: step ${this.cursor} is past the epoch's ${this.order.length} steps`);
    }
    return this.order[this.cursor];
  }

  /** Moves to the next step of the epoch. */
  advance(): void {
    this.cursor++;
  }

  /** What a checkpoint keeps: the clustering, so that a resumed run continues with the same one. */
  save(): State {
    const s: Record<string, State> = { clusteredAt: this.clusteredAt, seed: this.seed };
    if (this.assignments) s.assignments = this.assignments;
    if (this.raw) s.raw = this.raw;
    return s;
  }

  load(s: State): void {
    const o = s as Record<string, State>;
    if (typeof o?.clusteredAt !== "number") {
      throw new DmlError("sampler: the checkpoint's divide-conquer state has no clustering");
    }
    const n = this.labels.length;
    for (const key of ["assignments", "raw"] as const) {
      const v = o[key];
      if (v !== undefined && (!(v instanceof Int32Array) || v.length !== n)) {
        throw new DmlError(`sampler: the checkpoint's cluster ${key} do not fit a training set of ${n} samples`);
      }
    }
    this.clusteredAt = o.clusteredAt;
    this.assignments = (o.assignments as Int32Array | undefined) ?? null;
    this.raw = (o.raw as Int32Array | undefined) ?? null;
    this.epoch = -1;
  }

  private kmeansSeed(epoch: number): number {
    return (this.seed + Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  }

  private report(ctx: TrainContext, r: { inertia: number; iters: number; moved: number; seconds: number }): void {
    const { clusters: k, classes } = this.options;
    const groups = clusterGroups(this.assignments!, this.labels, k);
    const sizes = groups.map((g) => g.reduce((s, c) => s + c.length, 0));
    const classCounts = groups.map((g) => g.length);
    const dropped = this.assignments!.reduce((s, c) => s + (c < 0 ? 1 : 0), 0);
    ctx.log({
      type: "clusters",
      epoch: ctx.epoch,
      step: ctx.step,
      sizes,
      classes: classCounts,
      dropped,
      moved: r.moved,
      inertia: r.inertia,
      kmeansIters: r.iters,
      seconds: r.seconds,
    });
    if (k > 1) {
      ctx.say(
        `divide-conquer: epoch ${ctx.epoch}: ${k} clusters of ${sizes.join("/")} samples, ` +
          `${classCounts.join("/")} classes; ${r.moved} moved, ${dropped} singletons left out (${
            r.seconds.toFixed(1)
          } s)`,
      );
    }
    // The spec's fallback for a cluster too small for a batch: classes with replacement.
    classCounts.forEach((c, i) => {
      if (c === 0) ctx.say(`divide-conquer: cluster ${i} is empty after singleton filtering; it is skipped`);
      else if (c < classes) {
        ctx.say(
          `divide-conquer: cluster ${i} has ${c} class${c === 1 ? "" : "es"}, fewer than the ${classes} a batch ` +
            `needs: its batches draw classes with replacement${c === 1 ? " (and have no negatives)" : ""}`,
        );
      }
    });
  }
}

function countMoved(prev: Int32Array, curr: Int32Array): number {
  let moved = 0;
  for (let n = 0; n < prev.length; n++) if (prev[n] !== curr[n]) moved++;
  return moved;
}
