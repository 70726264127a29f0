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
 * Stored values stay as adapted and {@link CrossBatchNorm.reference} returns them so (they are
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
import { DmlError } from "../../core/errors.ts";
import { l2normalize } from "../../core/pairs.ts";
import { RingBuffer } from "../../core/ring_buffer.ts";
import type { Memory, Reference, State } from "../../core/types.ts";
import { type KalmanOptions, MomentFilter } from "./kalman.ts";
import { columnMoments, matchMoments } from "./moments.ts";

export interface XbnOptions {
  /** Entries kept. */
  size: number;
  /** First step (as the trainer counts) at which the memory is filled, adapted and used. */
  start: number;
  /** Weight of the loss against the memory. */
  weight: number;
  /** Keep the batch-vs-batch loss beside the memory loss (the paper: no). */
  batchLoss: boolean;
  /** Adapt and enqueue before the loss (the paper) or after the optimizer step. */
  order: "before-loss" | "after-step";
  /** L2-normalise embeddings before the moments and before storing them (the paper's space). */
  normalize: boolean;
  /** Guards the division by a constant memory column. */
  eps: number;
  /** AXBN: filter the batch moments with these Kalman settings; plain XBN when absent. */
  kalman?: KalmanOptions;
  /** Embedding dim, when known ahead; else taken from the first batch. */
  dim?: number;
  /** Recipe path for error messages. */
  path?: string;
}

export class CrossBatchNorm implements Memory {
  readonly weight: number;
  readonly batchLoss: boolean;
  readonly order: "before-loss" | "after-step";
  readonly filter: MomentFilter | null;
  private ring: RingBuffer | null = null;
  private selfSlots: Int32Array | null = null;
  private readonly path: string;

  constructor(private readonly opts: XbnOptions) {
    this.weight = opts.weight;
    this.batchLoss = opts.batchLoss;
    this.order = opts.order;
    this.path = opts.path ?? "memory";
    this.filter = opts.kalman ? new MomentFilter(opts.kalman) : null;
    if (opts.dim !== undefined) this.ring = new RingBuffer(opts.size, opts.dim, this.path);
  }

  /** Entries stored now. */
  get count(): number {
    return this.ring?.count ?? 0;
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

  reference(): Reference | null {
    return this.ring?.reference(this.selfSlots) ?? null;
  }

  /** The entries as adapted so far (what the loss compares with), and their train rows. */
  stored(): { e: Tensor2D; items: Int32Array } | null {
    return this.ring?.stored() ?? null;
  }

  async state(): Promise<State> {
    return {
      method: this.filter ? "axbn" : "xbn",
      ring: this.ring ? { ...await this.ring.state() } : null,
      kalman: this.filter ? await this.filter.state() : null,
    };
  }

  load(s: State): void {
    const o = s as Record<string, State> | null;
    const want = this.filter ? "axbn" : "xbn";
    if (o === null || typeof o !== "object" || o.method !== want) {
      const held = o && typeof o === "object" && "method" in o ? `an ${String(o.method)}` : `no ${want}`;
      throw new DmlError(`${this.path}: the checkpoint holds ${held} memory state but the recipe asks for ${want}`);
    }
    this.selfSlots = null;
    const ring = o.ring as Record<string, State> | null;
    const dim = this.opts.dim ?? (ring && typeof ring.dim === "number" ? ring.dim : undefined);
    if (this.filter) this.filter.load(o.kalman ?? null, dim, this.path);
    if (ring === null) {
      this.ring?.dispose();
      this.ring = this.opts.dim !== undefined ? new RingBuffer(this.opts.size, this.opts.dim, this.path) : null;
      return;
    }
    this.buffer(dim ?? 1).load(ring);
  }

  dispose(): void {
    this.ring?.dispose();
    this.ring = null;
    this.filter?.dispose();
  }

  private buffer(dim: number): RingBuffer {
    this.ring ??= new RingBuffer(this.opts.size, dim, this.path);
    return this.ring;
  }
}
