/**
 * Per-variable optimizer slots (moments, velocities) kept as non-trainable variables, with
 * the step count, and their checkpoint form. A loaded state becomes variables on first use,
 * where the variable's shape is known and checked.
 *
 * ```ts
 * const slots = new Slots(["m", "v"]);
 * const m = slots.get("m", i, variable); // zeros on first use, or the loaded values
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Variable } from "@tensorflow/tfjs-core";
import type { State } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";

export class Slots {
  step = 0;
  private vars = new Map<string, Variable[]>();
  private pending = new Map<string, Float32Array[]>();

  constructor(readonly names: string[]) {
    for (const n of names) this.vars.set(n, []);
  }

  /** Slot `name` of the i-th variable: the loaded values, else zeros of its shape. */
  get(name: string, i: number, like: Variable): Variable {
    const list = this.vars.get(name)!;
    if (list[i]) return list[i];
    const loaded = this.pending.get(name)?.[i];
    if (loaded) {
      if (loaded.length !== like.size) {
        throw new DmlError(
          `checkpoint: optimizer slot ${name}[${i}] has ${loaded.length} values, the model needs ${like.size}`,
        );
      }
      list[i] = tf.tidy(() => tf.variable(tf.tensor(loaded, like.shape), false));
    } else {
      list[i] = tf.tidy(() => tf.variable(tf.zerosLike(like), false));
    }
    return list[i];
  }

  async state(): Promise<State> {
    const out: Record<string, State> = { step: this.step };
    for (const [n, list] of this.vars) out[n] = await Promise.all(list.map((v) => v.data() as Promise<Float32Array>));
    return out;
  }

  load(s: State): void {
    const st = s as Record<string, State>;
    if (typeof st?.step !== "number") throw new DmlError("checkpoint: optimizer state has no step count");
    this.step = st.step;
    for (const n of this.names) {
      this.vars.get(n)!.forEach((v) => v.dispose());
      this.vars.set(n, []);
      const arrays = st[n] ?? [];
      if (!Array.isArray(arrays) || arrays.some((a) => !(a instanceof Float32Array))) {
        throw new DmlError(`checkpoint: optimizer slot ${n} is not a list of float32 arrays`);
      }
      this.pending.set(n, arrays as Float32Array[]);
    }
  }
}
