/**
 * Adam (Kingma & Ba) with L2 weight decay added to the gradient, and AdamW (Loshchilov &
 * Hutter) with decoupled decay: `w -= lr * wd * w` beside the Adam step.
 *
 * ```yaml
 * optimizer: { use: adamw, lr: 0.001, weightDecay: 0.0001 }
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import type { Optimizer, State } from "../../core/types.ts";
import { Slots } from "./slots.ts";

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
}

export class Adam implements Optimizer {
  private slots = new Slots(["m", "v"]);

  constructor(private o: AdamOptions) {}

  get lr(): number {
    return this.o.lr;
  }

  step(vars: Variable[], grads: Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay, decoupled } = this.o;
    const t = ++this.slots.step;
    const c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t;
    vars.forEach((w, i) => {
      const m = this.slots.get("m", i, w), v = this.slots.get("v", i, w);
      tf.tidy(() => {
        const g = weightDecay > 0 && !decoupled ? tf.add(grads[i], tf.mul(weightDecay, w)) : grads[i];
        const m1 = tf.add(tf.mul(beta1, m), tf.mul(1 - beta1, g));
        const v1 = tf.add(tf.mul(beta2, v), tf.mul(1 - beta2, tf.square(g)));
        m.assign(m1);
        v.assign(v1);
        let update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), eps));
        if (weightDecay > 0 && decoupled) update = tf.add(update, tf.mul(weightDecay, w));
        w.assign(tf.sub(w, tf.mul(lr, update)));
      });
    });
  }

  state(): Promise<State> {
    return this.slots.state();
  }

  load(s: State): void {
    this.slots.load(s);
  }
}
