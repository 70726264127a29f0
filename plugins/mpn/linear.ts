/**
 * A Linear layer on the last axis of a tensor of any rank: `x · W + b` with `W` stored
 * `[in, out]`. The MPN works on `[G, n, D]` node features (G independent graphs, n nodes).
 *
 * ```ts
 * const y = linear(x, w, b); // x [G, n, in] -> y [G, n, out]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";

/** `x · W + b` over the last axis of `x`; `b` is optional. */
export function linear<T extends Tensor>(x: T, w: Tensor, b?: Tensor): T {
  return tf.tidy(() => {
    const [fanIn, fanOut] = w.shape;
    const flat = tf.matMul(tf.reshape(x, [-1, fanIn]), w);
    const out = b ? tf.add(flat, b) : flat;
    return tf.reshape(out, [...x.shape.slice(0, -1), fanOut]) as T;
  });
}
