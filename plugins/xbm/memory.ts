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
import { RingMemory, type RingMemoryOptions } from "../../core/ring_memory.ts";
import type { State } from "../../core/types.ts";

/** size, start, weight, batchLoss (official code: true; the paper's pseudo-code: false), order, dim, path. */
export type XbmOptions = RingMemoryOptions;

export class CrossBatchMemory extends RingMemory {
  update(e: Tensor2D, y: Tensor1D, step: number, items?: Int32Array): void {
    this.selfSlots = null;
    if (step < this.opts.start) return;
    const slots = this.buffer(e.shape[1]).enqueue(e, y, undefined, items);
    if (this.order === "before-loss") this.selfSlots = slots;
  }

  async state(): Promise<State> {
    return { method: "xbm", ring: await this.ringState() };
  }

  load(s: State): void {
    this.restoreRing(this.checkMethod(s, "xbm").ring);
  }
}
