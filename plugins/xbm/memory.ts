/**
 * XBM — Cross-Batch Memory (Wang et al., CVPR 2020), as the official trainer runs it:
 *
 * ```
 * for each step:
 *   Z = model(X)
 *   if step >= start: enqueue(stopgrad(Z), y)            # before the loss: Z meets its own copy
 *   L = batchLoss ? loss(Z, y) : 0
 *   if step >= start: L += weight * loss(Z, y, memory)   # memory side is constant
 * ```
 *
 * The queue is a true FIFO ({@link RingBuffer}), without the official code's wrap-around,
 * label-0 and fixed-128-d bugs; each anchor's own copy is removed by slot index, not by a
 * similarity threshold.
 *
 * ```ts
 * const memory = new CrossBatchMemory({ size: 8192, start: 1000, weight: 1, batchLoss: true, order: "before-loss" });
 * memory.update(e, y, step);          // inside the trainer's tf.variableGrads
 * const ref = memory.reference();     // null before `start`
 * if (ref) loss = tf.add(loss, tf.mul(memory.weight, lossFn.compute(e, y, ref)));
 * ```
 */
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { DmlError } from "../../core/errors.ts";
import { RingBuffer } from "../../core/ring_buffer.ts";
import type { Memory, Reference, State } from "../../core/types.ts";

export interface XbmOptions {
  /** Entries kept. */
  size: number;
  /** First step (as the trainer counts) at which the memory is filled and used. */
  start: number;
  /** Weight of the loss against the memory. */
  weight: number;
  /** Keep the batch-vs-batch loss beside the memory loss (official code: yes; paper pseudo-code: no). */
  batchLoss: boolean;
  /** Enqueue before the loss (official code) or after the optimizer step. */
  order: "before-loss" | "after-step";
  /** Embedding dim, when known ahead; else taken from the first batch. */
  dim?: number;
  /** Recipe path for error messages. */
  path?: string;
}

export class CrossBatchMemory implements Memory {
  readonly weight: number;
  readonly batchLoss: boolean;
  readonly order: "before-loss" | "after-step";
  private ring: RingBuffer | null = null;
  /** Slots of this step's anchors' own copies (enqueued before the loss), else null. */
  private selfSlots: Int32Array | null = null;
  private readonly path: string;

  constructor(private readonly opts: XbmOptions) {
    this.weight = opts.weight;
    this.batchLoss = opts.batchLoss;
    this.order = opts.order;
    this.path = opts.path ?? "memory";
    if (opts.dim !== undefined) this.ring = new RingBuffer(opts.size, opts.dim, this.path);
  }

  /** Entries stored now. */
  get count(): number {
    return this.ring?.count ?? 0;
  }

  update(e: Tensor2D, y: Tensor1D, step: number, items?: Int32Array): void {
    this.selfSlots = null;
    if (step < this.opts.start) return;
    const slots = this.buffer(e.shape[1]).enqueue(e, y, undefined, items);
    if (this.order === "before-loss") this.selfSlots = slots;
  }

  reference(): Reference | null {
    return this.ring?.reference(this.selfSlots) ?? null;
  }

  stored(): { e: Tensor2D; items: Int32Array } | null {
    return this.ring?.stored() ?? null;
  }

  async state(): Promise<State> {
    return { method: "xbm", ring: this.ring ? { ...await this.ring.state() } : null };
  }

  load(s: State): void {
    const o = s as Record<string, State> | null;
    if (o === null || typeof o !== "object" || o.method !== "xbm") {
      const held = o && typeof o === "object" && "method" in o ? `an ${String(o.method)}` : "no xbm";
      throw new DmlError(`${this.path}: the checkpoint holds ${held} memory state but the recipe asks for xbm`);
    }
    this.selfSlots = null;
    if (o.ring === null) {
      this.ring?.dispose();
      this.ring = this.opts.dim !== undefined ? new RingBuffer(this.opts.size, this.opts.dim, this.path) : null;
      return;
    }
    const dim = (o.ring as Record<string, State>).dim;
    this.buffer(this.opts.dim ?? (typeof dim === "number" ? dim : 1)).load(o.ring);
  }

  dispose(): void {
    this.ring?.dispose();
    this.ring = null;
  }

  private buffer(dim: number): RingBuffer {
    this.ring ??= new RingBuffer(this.opts.size, dim, this.path);
    return this.ring;
  }
}
