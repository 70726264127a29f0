/**
 * What every cross-batch memory (XBM, XBN) does the same way: a {@link RingBuffer} sized from
 * the first batch (or from `dim` when known ahead), the step it starts at, its loss weight, and
 * the slots of this step's own copies, so that a loss drops each anchor's self-pair by index.
 * A memory extends it with what it writes on `update` and with the rest of its checkpoint state.
 *
 * ```ts
 * class MyMemory extends RingMemory {
 *   update(e, y, step, items) { this.selfSlots = null; if (step >= this.opts.start) ... }
 *   async state() { return { method: "mine", ring: await this.ringState() }; }
 *   load(s) { this.restoreRing(this.checkMethod(s, "mine").ring); }
 * }
 * ```
 */
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { DmlError } from "./errors.ts";
import { RingBuffer } from "./ring_buffer.ts";
import type { Memory, Reference, State } from "./types.ts";

export interface RingMemoryOptions {
  /** Entries kept. */
  size: number;
  /** First step (as the trainer counts) at which the memory is filled and used. */
  start: number;
  /** Weight of the loss against the memory. */
  weight: number;
  /** Keep the batch-vs-batch loss beside the memory loss. */
  batchLoss: boolean;
  /** Enqueue before the loss (the anchors meet their own copies) or after the optimizer step. */
  order: "before-loss" | "after-step";
  /** Embedding dim, when known ahead; else taken from the first batch. */
  dim?: number;
  /** Recipe path for error messages. */
  path?: string;
}

export abstract class RingMemory implements Memory {
  readonly weight: number;
  readonly batchLoss: boolean;
  readonly order: "before-loss" | "after-step";
  protected ring: RingBuffer | null = null;
  /** Slots of this step's anchors' own copies (enqueued before the loss), else null. */
  protected selfSlots: Int32Array | null = null;
  protected readonly path: string;

  constructor(protected readonly opts: RingMemoryOptions) {
    this.weight = opts.weight;
    this.batchLoss = opts.batchLoss;
    this.order = opts.order;
    this.path = opts.path ?? "memory";
    if (opts.dim !== undefined) this.ring = new RingBuffer(opts.size, opts.dim, this.path);
  }

  abstract update(e: Tensor2D, y: Tensor1D, step: number, items?: Int32Array): void;
  abstract state(): Promise<State>;
  abstract load(s: State): void;

  /** Entries stored now. */
  get count(): number {
    return this.ring?.count ?? 0;
  }

  reference(): Reference | null {
    return this.ring?.reference(this.selfSlots) ?? null;
  }

  /** The stored entries (as the loss sees them) and the train rows they came from. */
  stored(): { e: Tensor2D; items: Int32Array } | null {
    return this.ring?.stored() ?? null;
  }

  dispose(): void {
    this.ring?.dispose();
    this.ring = null;
  }

  /** The ring, created at the first batch's `dim` if it does not exist yet. */
  protected buffer(dim: number): RingBuffer {
    this.ring ??= new RingBuffer(this.opts.size, dim, this.path);
    return this.ring;
  }

  /** The ring's checkpoint state, or null before anything was stored. */
  protected async ringState(): Promise<State> {
    return this.ring ? { ...await this.ring.state() } : null;
  }

  /** A checkpoint's memory state as a record, refused unless saved by `method`; a loaded state has no self slots. */
  protected checkMethod(s: State, method: string): Record<string, State> {
    const o = s as Record<string, State> | null;
    if (o === null || typeof o !== "object" || o.method !== method) {
      const held = o && typeof o === "object" && "method" in o ? `an ${String(o.method)}` : `no ${method}`;
      throw new DmlError(`${this.path}: the checkpoint holds ${held} memory state but the recipe asks for ${method}`);
    }
    this.selfSlots = null;
    return o;
  }

  /** The dim a checkpoint's ring state was saved with (`opts.dim` wins when given). */
  protected savedDim(ring: State): number | undefined {
    const dim = ring && typeof ring === "object" ? (ring as Record<string, State>).dim : undefined;
    return this.opts.dim ?? (typeof dim === "number" ? dim : undefined);
  }

  /** Restores the ring from {@link ringState}'s output (null: empty again). */
  protected restoreRing(ring: State): void {
    if (ring === null) {
      this.ring?.dispose();
      this.ring = this.opts.dim !== undefined ? new RingBuffer(this.opts.size, this.opts.dim, this.path) : null;
      return;
    }
    this.buffer(this.savedDim(ring) ?? 1).load(ring);
  }
}
