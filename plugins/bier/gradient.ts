/**
 * Two identity maps with a changed backward pass: gradient reversal (the adversarial loss's
 * GRL, `flip_gradient` in the official code) and stop-gradient (the boosting weights, which
 * are targets for the next learner, not functions to differentiate).
 *
 * ```ts
 * const g = tf.grad((x) => tf.sum(reverseGradient(x)))(tf.ones([3])); // [-1, -1, -1]
 * const h = tf.grad((x) => tf.sum(stopGradient(x)))(tf.ones([3]));    // [0, 0, 0]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";

type Unary = (x: Tensor) => Tensor;

const flip = tf.customGrad(
  ((x: Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: Tensor) => tf.neg(dy),
  })) as never,
) as unknown as Unary;

const block = tf.customGrad(
  ((x: Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: Tensor) => tf.zerosLike(dy),
  })) as never,
) as unknown as Unary;

/** Identity forward, gradient multiplied by −1 backward. */
export function reverseGradient<T extends Tensor>(x: T): T {
  return flip(x) as T;
}

/** Identity forward, zero gradient backward. */
export function stopGradient<T extends Tensor>(x: T): T {
  return block(x) as T;
}
