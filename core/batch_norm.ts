/**
 * Training-mode BatchNorm over the last axis as one op with its own gradient, optionally with the
 * ReLU that follows it. The host-memory backends (blas, wasm: core/host_kernels.ts) run the two-pass
 * loops of core/kernels/batch_norm.ts; every other backend runs the same closed-form
 * gradient as a few tfjs ops, instead of autodiff through `moments` (about 30 passes, and every
 * intermediate kept for the backward pass).
 *
 * ```ts
 * const { y, mean, variance } = batchNormTraining(x, gamma, beta, { epsilon: 1e-5, relu: true });
 * ```
 */
import { tf } from "./tf.ts";
import type { GradSaveFunc, NamedAttrMap, Tensor, Tensor1D } from "@tensorflow/tfjs-core";
import { batchNormBackward, batchNormForward } from "./kernels/batch_norm.ts";
import { defineHostKernel, hasHostKernel } from "./host_kernels.ts";

export const BATCH_NORM_KERNEL = "DmlBatchNorm";
export const BATCH_NORM_GRAD_KERNEL = "DmlBatchNormGrad";

export interface BatchNormTraining<T extends Tensor> {
  y: T;
  /** Batch mean per channel. */
  mean: Tensor1D;
  /** Biased batch variance per channel. */
  variance: Tensor1D;
}

/**
 * Normalises x by its batch moments over every axis but the last, scales by gamma, shifts by beta,
 * then applies max(0, ·) when `relu`. Gradients flow to x, gamma and beta; the moments returned
 * are for the running averages and carry no gradient.
 */
export function batchNormTraining<T extends Tensor>(
  x: T,
  gamma: Tensor,
  beta: Tensor,
  o: { epsilon: number; relu: boolean },
): BatchNormTraining<T> {
  let moments: [Tensor1D, Tensor1D] | undefined;
  const fused = hasHostKernel(BATCH_NORM_KERNEL, BATCH_NORM_GRAD_KERNEL);
  const forward = (xIn: Tensor, g: Tensor, b: Tensor, save: GradSaveFunc) => {
    const attrs = { epsilon: o.epsilon, relu: o.relu } as unknown as NamedAttrMap;
    if (fused) {
      const [y, mean, variance] = tf.engine().runKernel(
        BATCH_NORM_KERNEL,
        { x: xIn, gamma: g, beta: b },
        attrs,
      ) as Tensor[];
      moments = [tf.keep(mean) as Tensor1D, tf.keep(variance) as Tensor1D];
      save([xIn, mean, variance, g, b]);
      return {
        value: y,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, m, v, gs, bs] = saved;
          return tf.engine().runKernel(
            BATCH_NORM_GRAD_KERNEL,
            { dy, x: xs, mean: m, variance: v, gamma: gs, beta: bs },
            attrs,
          ) as Tensor[];
        },
      };
    }
    const axes = xIn.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(xIn, axes);
    moments = [tf.keep(mean) as Tensor1D, tf.keep(variance) as Tensor1D];
    const rstd = tf.rsqrt(tf.add(variance, o.epsilon));
    const scale = tf.mul(g, rstd);
    const z = tf.add(tf.mul(xIn, scale), tf.sub(b, tf.mul(mean, scale)));
    const y = o.relu ? tf.relu(z) : z;
    save([xIn, mean, rstd, g, y]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, m, r, gs, ys] = saved;
        const rows = xs.size / xs.shape[xs.shape.length - 1];
        const gy = o.relu ? tf.mul(dy, tf.step(ys)) : dy;
        const centred = tf.sub(xs, m);
        const dbeta = tf.sum(gy, axes);
        const dgamma = tf.mul(tf.sum(tf.mul(gy, centred), axes), r);
        // dx = gamma·rstd · (g − mean(g) − x̂ · mean(g·x̂))
        const k1 = tf.mul(gs, r);
        const inner = tf.sub(
          tf.sub(gy, tf.div(dbeta, rows)),
          tf.mul(centred, tf.mul(r, tf.div(dgamma, rows))),
        );
        return [tf.mul(inner, k1), dgamma, dbeta];
      },
    };
  };
  const y = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])(x, gamma, beta) as T;
  // The forward pass runs in a tidy of its own, so the moments were kept to leave it; clones in the
  // caller's scope (sharing the data) hand them over to the caller's tidy.
  const [mean, variance] = moments!.map((m) => {
    const c = tf.clone(m);
    m.dispose();
    return c;
  });
  return { y, mean, variance };
}

defineHostKernel(BATCH_NORM_KERNEL, ({ inputs: { x, gamma, beta }, shapes, attrs }) => {
  const channels = gamma.length;
  const r = batchNormForward(x, channels, gamma, beta, attrs.epsilon as number, attrs.relu as boolean);
  return [[shapes.x, r.y], [[channels], r.mean], [[channels], r.variance]];
});

defineHostKernel(BATCH_NORM_GRAD_KERNEL, ({ inputs: { dy, x, mean, variance, gamma, beta }, shapes, attrs }) => {
  const r = batchNormBackward(dy, x, mean, variance, gamma, beta, attrs.epsilon as number, attrs.relu as boolean);
  return [[shapes.x, r.dx], [shapes.gamma, r.dgamma], [shapes.beta, r.dbeta]];
});
