/**
 * Values the gradient must not flow through: masks, mined pairs, sampled negatives, stabilising
 * maxima. tfjs has no stopGradient, and comparison or sorting ops (Greater, TopK) have no gradient at
 * all, so a tape that recorded them would fail inside `tf.variableGrads`. Running `fn` as the forward
 * pass of a custom-gradient op keeps those ops off the tape; the op's gradient is zero.
 *
 * ```ts
 * const hard = noGrad([sim], (s) => tf.cast(tf.greater(s, 0.5), "float32"));
 * const loss = tf.sum(tf.mul(sim, hard)); // d loss / d sim = hard
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";

/** `fn(...inputs)` as a value with zero gradient to every input. */
export function noGrad<T extends Tensor>(inputs: Tensor[], fn: (...xs: Tensor[]) => T): T {
  const op = tf.customGrad((...args: unknown[]) => {
    const xs = args.slice(0, inputs.length) as Tensor[];
    // tfjs wants float32 gradients even for int inputs (ranks, indices).
    return { value: fn(...xs), gradFunc: () => xs.map((x) => tf.zeros(x.shape, "float32")) };
  });
  return op(...inputs) as T;
}
