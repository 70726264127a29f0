/**
 * SGD with optional momentum, Nesterov momentum and L2 weight decay, in PyTorch's form:
 * `b = mu b + g`, step `g + mu b` (Nesterov) or `b`.
 *
 * ```yaml
 * optimizer: { use: sgd, lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.0005 }
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import type { Optimizer, State } from "../../core/types.ts";
import { Slots } from "./slots.ts";
import { LrMultipliers } from "./lr_mult.ts";

export interface SgdOptions {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export class Sgd implements Optimizer {
  private slots = new Slots(["buf"]);

  /** `groups`: the learning-rate multiplier of each weight (lr_mult.ts); 1 for all by default. */
  constructor(private o: SgdOptions, private groups = LrMultipliers.none()) {}

  get lr(): number {
    return this.o.lr;
  }

  step(vars: Variable[], grads: Tensor[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.o;
    const first = this.slots.step++ === 0;
    vars.forEach((w, i) => {
      tf.tidy(() => {
        let g = weightDecay > 0 ? tf.add(grads[i], tf.mul(weightDecay, w)) : grads[i];
        if (momentum > 0) {
          const buf = this.slots.get("buf", i, w);
          const b1 = first ? g : tf.add(tf.mul(momentum, buf), g);
          buf.assign(b1);
          g = nesterov ? tf.add(g, tf.mul(momentum, b1)) : b1;
        }
        w.assign(tf.sub(w, tf.mul(this.groups.lr(w, lr), g)));
      });
    });
  }

  async state(): Promise<State> {
    return { ...(await this.slots.state() as Record<string, State>), groups: this.groups.state() };
  }

  load(s: State): void {
    this.groups.check((s as Record<string, State> | null)?.groups);
    this.slots.load(s);
  }
}
