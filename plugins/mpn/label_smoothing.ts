/**
 * Cross-entropy with label smoothing (`CrossEntropyLabelSmooth`, ε = 0.1 in the paper) on
 * temperature-scaled logits: targets `(1 − ε)·onehot + ε/C`, loss = mean over the batch of
 * `−Σ_c t_c log softmax(z / T)_c`.
 *
 * ```ts
 * // the spec's check value: 0.880600 at T = 1, 1.950041 at T = 0.2
 * labelSmoothedCrossEntropy(tf.tensor2d([[2, 0, -1], [0.5, 0.5, 0]]), tf.tensor1d([0, 2], "int32"), 0.1, 1);
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";

/** Mean label-smoothed cross-entropy of `logits / temperature` `[B, C]` against int32 labels `y`. */
export function labelSmoothedCrossEntropy(
  logits: Tensor2D,
  y: Tensor1D,
  epsilon: number,
  temperature: number,
): Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const targets = tf.add(tf.mul(tf.oneHot(tf.cast(y, "int32"), classes), 1 - epsilon), epsilon / classes);
    const logProbs = tf.logSoftmax(tf.div(logits, temperature));
    return tf.mean(tf.neg(tf.sum(tf.mul(targets, logProbs), 1))) as Scalar;
  });
}
