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
import { LrMultipliers } from "./lr_mult.ts";
import { defineHostKernel, hasHostKernel } from "../../core/host_kernels.ts";

const ADAM_KERNEL = "DmlAdam";

/**
 * The whole update of one variable in one pass (blas, wasm): composed from tfjs ops it is 13
 * passes over the weights, a tenth of a ResNet-50 step on the CPU.
 */
defineHostKernel(ADAM_KERNEL, ({ inputs: { w, g, m, v }, shapes, attrs }) => {
  const { lr, beta1, beta2, eps, c1, c2, weightDecay, decoupled } = attrs as unknown as AdamOptions & {
    c1: number;
    c2: number;
  };
  const l2 = decoupled ? 0 : weightDecay, decay = decoupled ? weightDecay : 0;
  const w1 = new Float32Array(w.length), m1 = new Float32Array(w.length), v1 = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const gi = g[i] + l2 * w[i];
    // Rounded as stored, so the step uses the moments the next step will read.
    const mi = Math.fround(beta1 * m[i] + (1 - beta1) * gi);
    const vi = Math.fround(beta2 * v[i] + (1 - beta2) * gi * gi);
    m1[i] = mi;
    v1[i] = vi;
    w1[i] = w[i] - lr * ((mi / c1) / (Math.sqrt(vi / c2) + eps) + decay * w[i]);
  }
  return [[shapes.w, w1], [shapes.w, m1], [shapes.w, v1]];
});

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

  /** `groups`: the learning-rate multiplier of each weight (lr_mult.ts); 1 for all by default. */
  constructor(private o: AdamOptions, private groups = LrMultipliers.none()) {}

  get lr(): number {
    return this.o.lr;
  }

  step(vars: Variable[], grads: Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay, decoupled } = this.o;
    const t = ++this.slots.step;
    const c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t;
    const fused = hasHostKernel(ADAM_KERNEL);
    vars.forEach((w, i) => {
      const m = this.slots.get("m", i, w), v = this.slots.get("v", i, w);
      const lrW = this.groups.lr(w, lr);
      tf.tidy(() => {
        if (fused) {
          const attrs = { lr: lrW, beta1, beta2, eps, c1, c2, weightDecay, decoupled };
          const [w1, m1, v1] = tf.engine().runKernel(ADAM_KERNEL, { w, g: grads[i], m, v }, attrs) as Tensor[];
          m.assign(m1);
          v.assign(v1);
          w.assign(w1);
          return;
        }
        const g = weightDecay > 0 && !decoupled ? tf.add(grads[i], tf.mul(weightDecay, w)) : grads[i];
        const m1 = tf.add(tf.mul(beta1, m), tf.mul(1 - beta1, g));
        const v1 = tf.add(tf.mul(beta2, v), tf.mul(1 - beta2, tf.square(g)));
        m.assign(m1);
        v.assign(v1);
        let update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), eps));
        if (weightDecay > 0 && decoupled) update = tf.add(update, tf.mul(weightDecay, w));
        w.assign(tf.sub(w, tf.mul(lrW, update)));
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
