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
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { CompositeLoss } from "../../core/composite_loss.ts";
import type { Hooks, Loss, Reference } from "../../core/types.ts";
import type { Clustering } from "./clustering.ts";
import { fullEmbedding, learnerBlock } from "./blocks.ts";

export class LearnerLoss extends CompositeLoss {
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
    super();
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

  /** Every distinct base instance (with K = 1 the learner is the full loss); hooks and state go to them. */
  protected parts(): (Loss & Hooks)[] {
    return [...new Set([...this.learners, this.full])];
  }

  get usesReference(): boolean {
    return this.full.usesReference ?? true;
  }

  terms(): Record<string, Scalar> {
    return this.last.terms?.() ?? {};
  }
}
