/**
 * What a loss built from other losses owes them: the trainer calls hooks and saves state on the
 * recipe's components only, so a composite passes both on to its parts (e.g. the margin loss's
 * sampling stream, kept for exact resume), and offers their weights as its own. The
 * divide-and-conquer learner loss and the `sum` loss extend it.
 *
 * ```ts
 * class Twice extends CompositeLoss {
 *   constructor(private inner: Loss) { super(); }
 *   protected parts() { return [this.inner]; }
 *   compute(e, y, ref) { return tf.mul(2, this.inner.compute(e, y, ref)); }
 * }
 * ```
 */
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { DmlError } from "./errors.ts";
import type { Hooks, Loss, Reference, State, TrainContext } from "./types.ts";

export abstract class CompositeLoss implements Loss, Hooks {
  /** Every distinct part, in a fixed order (the order of the saved states). */
  protected abstract parts(): (Loss & Hooks)[];
  abstract compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar;

  get trainableWeights(): Variable[] {
    return this.parts().flatMap((l) => l.trainableWeights ?? []);
  }

  get stateWeights(): Variable[] {
    return this.parts().flatMap((l) => l.stateWeights ?? []);
  }

  async onTrainStart(ctx: TrainContext): Promise<void> {
    for (const p of this.parts()) await p.onTrainStart?.(ctx);
  }

  async onEpochStart(ctx: TrainContext): Promise<void> {
    for (const p of this.parts()) await p.onEpochStart?.(ctx);
  }

  async afterStep(ctx: TrainContext): Promise<void> {
    for (const p of this.parts()) await p.afterStep?.(ctx);
  }

  async onEpochEnd(ctx: TrainContext): Promise<void> {
    for (const p of this.parts()) await p.onEpochEnd?.(ctx);
  }

  saveState(): State {
    return this.parts().map((p) => p.saveState?.() ?? null);
  }

  loadState(s: State): void {
    const parts = this.parts();
    if (!Array.isArray(s) || s.length !== parts.length) {
      throw new DmlError(
        `loss: the checkpoint holds ${Array.isArray(s) ? s.length : 0} part states, this run has ${parts.length}`,
      );
    }
    parts.forEach((p, i) => {
      if (s[i] !== null) p.loadState?.(s[i]);
    });
  }
}
