/**
 * Per-group learning rates, the way PyTorch users give an optimizer param groups: each group of
 * weights (core/param_groups.ts) steps with `lr × lrMult[group]`. BIER's code, for one, trains
 * the randomly initialised embedding head at ten times the pretrained backbone's rate:
 *
 * ```yaml
 * optimizer: { use: adam, lr: 1.0e-5, lrMult: { head: 10 } }   # backbone and loss stay at 1
 * ```
 *
 * The multipliers and the size of each group go into the optimizer's checkpoint state, so a
 * resume checks it steps the same weights at the same rates.
 */
import type { Variable } from "@tensorflow/tfjs-core";
import type { ParamGroups, State } from "../../core/types.ts";
import { num, section } from "../../core/options.ts";
import { DmlError } from "../../core/errors.ts";
import { PARAM_GROUPS, type ParamGroup } from "../../core/param_groups.ts";

export type LrMult = Record<ParamGroup, number>;

const WHAT: Record<ParamGroup, string> = {
  backbone: "the backbone's body (all its trainable weights but the head)",
  head: "the embedding head (the backbone's headWeights)",
  loss: "the loss's own weights (proxies, attention, regressors)",
};

/** The `lrMult` option every optimizer takes. */
export const lrMultOption = section(
  Object.fromEntries(PARAM_GROUPS.map((g) => [g, num(1, { min: 0, doc: `learning-rate multiplier of ${WHAT[g]}` })])),
  "learning-rate multiplier per group of weights: backbone, head, loss (PyTorch's param groups)",
);

export class LrMultipliers {
  private readonly byVar = new Map<Variable, number>();
  private readonly sizes: Record<string, number> = {};

  /** A multiplier other than 1 on a group with no weights is refused: nothing would read it. */
  constructor(readonly mult: LrMult, params: ParamGroups | undefined, path: string) {
    for (const g of PARAM_GROUPS) {
      const vars = params?.[g] ?? [];
      this.sizes[g] = vars.length;
      if (mult[g] !== 1 && vars.length === 0) {
        const why = params ? "the run has none" : "the optimizer was built without the run's weights";
        throw new DmlError(`${path}.lrMult.${g}: ${mult[g]} scales ${WHAT[g]}, but ${why}`);
      }
      for (const v of vars) this.byVar.set(v, mult[g]);
    }
  }

  /** Every multiplier 1 (an optimizer built outside a run). */
  static none(): LrMultipliers {
    return new LrMultipliers({ backbone: 1, head: 1, loss: 1 }, undefined, "optimizer");
  }

  /** The learning rate of `v` when the schedule gives `lr`. */
  lr(v: Variable, lr: number): number {
    return lr * (this.byVar.get(v) ?? 1);
  }

  /** For the checkpoint: each group's [multiplier, number of weights]. */
  state(): State {
    return Object.fromEntries(PARAM_GROUPS.map((g) => [g, [this.mult[g], this.sizes[g]]]));
  }

  /** Refuses a checkpoint whose groups differ (a checkpoint from before groups existed had every multiplier 1). */
  check(saved: State | undefined): void {
    const now = this.state() as Record<string, number[]>;
    for (const g of PARAM_GROUPS) {
      const was = (saved as Record<string, State> | undefined)?.[g] as number[] | undefined;
      const same = was === undefined ? now[g][0] === 1 : Array.isArray(was) && was[0] === now[g][0] &&
        was[1] === now[g][1];
      if (!same) {
        throw new DmlError(
          `checkpoint: optimizer group '${g}' was [lrMult, weights] = ${JSON.stringify(was ?? [1, "?"])}, ` +
            `the run has ${JSON.stringify(now[g])}`,
        );
      }
    }
  }
}
