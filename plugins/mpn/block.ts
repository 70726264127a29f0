/**
 * One message-passing step (`DotAttentionLayer` of the official code, every flag on): a post-norm
 * Transformer-encoder block over the batch graph.
 *
 *   a     = Dropout(MHA(h))                        (absent when attention is "none")
 *   h'    = LN1(h + a)
 *   f     = Dropout(W2 · Dropout(ReLU(W1 h' + b1)) + b2)
 *   h_out = LN2(h' + f)
 *
 * ```ts
 * const out = messagePassingStep(h, weights, { heads: 2, sinkLogit: true, drop: (x) => x });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor3D } from "@tensorflow/tfjs-core";
import { type AttentionOptions, type AttentionWeights, multiHeadAttention } from "./attention.ts";
import { linear } from "./linear.ts";

/** The weights of one step; `attention` is absent in the no-attention ablation. */
export interface StepWeights {
  attention?: AttentionWeights;
  ln1Gamma: Tensor;
  ln1Beta: Tensor;
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
  ln2Gamma: Tensor;
  ln2Beta: Tensor;
}

export interface StepOptions extends Omit<AttentionOptions, "dropout"> {
  /** Dropout (p = 0.1 in the paper) applied to α and the three residual branches; identity at test time. */
  drop: (x: Tensor) => Tensor;
}

/** LayerNorm over the last axis: biased variance, eps = 1e-5 inside the square root (nn.LayerNorm). */
export function layerNorm<T extends Tensor>(x: T, gamma: Tensor, beta: Tensor, eps = 1e-5): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta) as T;
  });
}

/** One post-norm attention block: `[G, n, D]` -> `[G, n, D]`. */
export function messagePassingStep(h: Tensor3D, w: StepWeights, opts: StepOptions): Tensor3D {
  return tf.tidy(() => {
    const residual1 = w.attention
      ? tf.add(h, opts.drop(multiHeadAttention(h, w.attention, { ...opts, dropout: opts.drop })))
      : h;
    const h1 = layerNorm(residual1 as Tensor3D, w.ln1Gamma, w.ln1Beta);
    const hidden = opts.drop(tf.relu(linear(h1, w.w1, w.b1)));
    const f = opts.drop(linear(hidden, w.w2, w.b2));
    return layerNorm(tf.add(h1, f) as Tensor3D, w.ln2Gamma, w.ln2Beta);
  });
}
