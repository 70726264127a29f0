/**
 * RAdam (Liu et al., 2020): Adam whose adaptive step is switched on only once the variance of
 * the adaptive rate is tractable (rho_t > 4 here, as in PyTorch), SGD-with-momentum before.
 * MPN trains with it.
 *
 * ```yaml
 * optimizer: { use: radam, lr: 0.0001, weightDecay: 0.0001 }
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import type { Optimizer, State } from "../../core/types.ts";
import { Slots } from "./slots.ts";
import { LrMultipliers } from "./lr_mult.ts";

export interface RAdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class RAdam implements Optimizer {
  private slots = new Slots(["m", "v"]);

  /** `groups`: the learning-rate multiplier of each weight (lr_mult.ts); 1 for all by default. */
  constructor(private o: RAdamOptions, private groups = LrMultipliers.none()) {}

  get lr(): number {
    return this.o.lr;
  }

  step(vars: Variable[], grads: Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.o;
    const t = ++this.slots.step;
    const rhoInf = 2 / (1 - beta2) - 1;
    const rho = rhoInf - (2 * t * beta2 ** t) / (1 - beta2 ** t);
    const c1 = 1 - beta1 ** t;
    const rect = rho > 5 ? Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho)) : 0;
    vars.forEach((w, i) => {
      const m = this.slots.get("m", i, w), v = this.slots.get("v", i, w);
      tf.tidy(() => {
        const g = weightDecay > 0 ? tf.add(grads[i], tf.mul(weightDecay, w)) : grads[i];
        const m1 = tf.add(tf.mul(beta1, m), tf.mul(1 - beta1, g));
        const v1 = tf.add(tf.mul(beta2, v), tf.mul(1 - beta2, tf.square(g)));
        m.assign(m1);
        v.assign(v1);
        const mHat = tf.div(m1, c1);
        const update = rect > 0 ? tf.mul(rect, tf.div(mHat, tf.add(tf.sqrt(tf.div(v1, 1 - beta2 ** t)), eps))) : mHat;
        w.assign(tf.sub(w, tf.mul(this.groups.lr(w, lr), update)));
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
