/**
 * The divide-and-conquer loss: any loss, applied to the learner block of the cluster the batch
 * came from. K independent instances of the base loss (one per learner, D/K dims each, as the
 * official `crit[k]`), and one on the full D dims for the full-embedding and fine-tuning stages.
 *
 * ```
 * learners stage:  loss = base_k( L2norm(e[:, k·D/K : (k+1)·D/K]), y )     k = the batch's cluster
 * full, finetune:  loss = base_full( L2norm(unit blocks of e), y )
 * at test time:    e -> the concatenation of unit blocks (ranking = mean per-block cosine)
 * ```
 *
 * ```ts
 * const loss = new LearnerLoss(clustering, learners, full, true);
 * loss.compute(e, y); // during a training step, after the sampler's onEpochStart
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { DmlError } from "../../core/errors.ts";
import type { Hooks, Loss, Reference, State, TrainContext } from "../../core/types.ts";
import type { Clustering } from "./clustering.ts";
import { fullEmbedding, learnerBlock } from "./blocks.ts";

export class LearnerLoss implements Loss, Hooks {
  private last: Loss;

  /**
   * @param clustering the sampler's shared clustering: the current stage and the batch's cluster
   * @param learners the base loss of each learner (D/K dims)
   * @param full the base loss of the full embedding (D dims)
   * @param normalize L2-normalise each block (and the full vector) before the base loss, as the official model
   */
  constructor(
    private clustering: Clustering,
    private learners: Loss[],
    private full: Loss,
    private normalize: boolean,
  ) {
    this.last = full;
  }

  get clusters(): number {
    return this.learners.length;
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    const k = this.clusters;
    if (this.clustering.stage !== "learners") {
      this.last = this.full;
      return tf.tidy(() => {
        const r = ref && { ...ref, e: fullEmbedding(ref.e, k, this.normalize) };
        return this.full.compute(fullEmbedding(e, k, this.normalize), y, r);
      });
    }
    const c = this.clustering.currentCluster();
    this.last = this.learners[c];
    return tf.tidy(() => {
      const r = ref && { ...ref, e: learnerBlock(ref.e, c, k, this.normalize) };
      return this.learners[c].compute(learnerBlock(e, c, k, this.normalize), y, r);
    });
  }

  /** Test time: every block a unit vector, the whole scaled to unit norm (rank-equal to the official concatenation). */
  evalTransform(e: Tensor2D): Tensor2D {
    return fullEmbedding(e, this.clusters, this.normalize);
  }

  get trainableWeights(): Variable[] {
    return this.bases().flatMap((l) => l.trainableWeights ?? []);
  }

  get stateWeights(): Variable[] {
    return this.bases().flatMap((l) => l.stateWeights ?? []);
  }

  /** Every distinct base instance (with K = 1 the learner is the full loss). */
  private bases(): (Loss & Hooks)[] {
    return [...new Set([...this.learners, this.full])];
  }

  // The trainer calls hooks on the recipe's components only: pass them on to the bases
  // (e.g. the margin loss keeps its sampling stream in its state, for exact resume).
  async onTrainStart(ctx: TrainContext): Promise<void> {
    for (const b of this.bases()) await b.onTrainStart?.(ctx);
  }

  async onEpochStart(ctx: TrainContext): Promise<void> {
    for (const b of this.bases()) await b.onEpochStart?.(ctx);
  }

  async afterStep(ctx: TrainContext): Promise<void> {
    for (const b of this.bases()) await b.afterStep?.(ctx);
  }

  async onEpochEnd(ctx: TrainContext): Promise<void> {
    for (const b of this.bases()) await b.onEpochEnd?.(ctx);
  }

  saveState(): State {
    return this.bases().map((b) => b.saveState?.() ?? null);
  }

  loadState(s: State): void {
    const bases = this.bases();
    if (!Array.isArray(s) || s.length !== bases.length) {
      throw new DmlError(
        `loss: the checkpoint holds ${Array.isArray(s) ? s.length : 0} base states, ` +
          `this run has ${bases.length}`,
      );
    }
    bases.forEach((b, i) => {
      if (s[i] !== null) b.loadState?.(s[i]);
    });
  }

  get usesReference(): boolean {
    return this.full.usesReference ?? true;
  }

  terms(): Record<string, Scalar> {
    return this.last.terms?.() ?? {};
  }
}
