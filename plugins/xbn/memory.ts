/**
 * XBN / AXBN — (Adaptive) Cross Batch Normalization (Ajanthan et al., arXiv 2303.17127): a
 * cross-batch memory whose stored embeddings are re-standardised, every step, to the current
 * batch's per-dimension mean and standard deviation, correcting the drift of stale entries.
 *
 * ```
 * for each step (from `start` on):
 *   Z  = l2normalize(model(X))                  # the paper's space (option `normalize`)
 *   μ, σ = mean, std of Z per dimension          # AXBN: Kalman-filtered estimates instead
 *   M ← (M − E[M]) / σ[M] · σ + μ                 # every stored entry, written back (cumulative)
 *   enqueue(stopgrad(Z), y)                       # the new entries are adapted from the next step on
 *   L = weight · loss(Z, y, M)  (+ loss(Z, y) with batchLoss)
 * ```
 *
 * Stored values stay as adapted and `reference()` returns them so (they are
 * no longer unit-norm); cosine losses normalise inside the similarity.
 *
 * ```ts
 * const memory = new CrossBatchNorm({ size: 8192, start: 0, weight: 1, batchLoss: false,
 *   order: "before-loss", normalize: true, eps: 1e-6, kalman: { q: 1, p0: 1, r: 0.01, gainInterval: 100 } });
 * memory.update(e, y, step);
 * const ref = memory.reference();
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { l2normalize } from "../../core/pairs.ts";
import { RingMemory, type RingMemoryOptions } from "../../core/ring_memory.ts";
import type { State } from "../../core/types.ts";
import { type KalmanOptions, MomentFilter } from "./kalman.ts";
import { columnMoments, matchMoments } from "./moments.ts";

export interface XbnOptions extends RingMemoryOptions {
  /** L2-normalise embeddings before the moments and before storing them (the paper's space). */
  normalize: boolean;
  /** Guards the division by a constant memory column. */
  eps: number;
  /** AXBN: filter the batch moments with these Kalman settings; plain XBN when absent. */
  kalman?: KalmanOptions;
}

export class CrossBatchNorm extends RingMemory {
  readonly filter: MomentFilter | null;

  constructor(protected override readonly opts: XbnOptions) {
    super(opts);
    this.filter = opts.kalman ? new MomentFilter(opts.kalman) : null;
  }

  update(e: Tensor2D, y: Tensor1D, step: number, items?: Int32Array): void {
    this.selfSlots = null;
    if (step < this.opts.start) return;
    const ring = this.buffer(e.shape[1]);
    // Refuse a bad batch before it touches the stored entries.
    ring.checkBatch(e, y);
    const ok = ring.guard.check(e);
    const b = e.shape[0];
    tf.tidy(() => {
      const z = this.opts.normalize ? l2normalize(e) : e;
      // With one row the batch has no spread to match (its std is 0).
      if (b >= 2) {
        const batch = columnMoments(z);
        const target = this.filter ? this.filter.observe(batch.mean, batch.std, b, ok) : batch;
        if (ring.count >= 2) {
          const stored = ring.view()!;
          ring.replaceFilled(matchMoments(stored.e, target.mean, target.std, this.opts.eps), ok);
        }
      }
      const slots = ring.enqueue(z, y, ok, items);
      if (this.order === "before-loss") this.selfSlots = slots;
    });
    ok?.dispose();
  }

  async state(): Promise<State> {
    return {
      method: this.filter ? "axbn" : "xbn",
      ring: await this.ringState(),
      kalman: this.filter ? await this.filter.state() : null,
    };
  }

  load(s: State): void {
    const o = this.checkMethod(s, this.filter ? "axbn" : "xbn");
    // The Kalman state is checked against the ring's dim before the ring is touched.
    if (this.filter) this.filter.load(o.kalman ?? null, this.savedDim(o.ring), this.path);
    this.restoreRing(o.ring);
  }

  override dispose(): void {
    super.dispose();
    this.filter?.dispose();
  }
}
