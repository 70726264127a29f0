/**
 * One trainable vector per training class (proxies, softmax weights): the context they need and
 * their seeded normal initialisation.
 *
 * ```ts
 * const { classes, dim } = classesAndDim(ctx, "proxy-anchor");
 * const proxies = classWeights(classes, dim, Math.sqrt(2 / classes), ctx.rng.fork());
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Variable } from "@tensorflow/tfjs-core";
import { check } from "../../core/errors.ts";
import type { Rng } from "../../core/rng.ts";
import type { CreateContext } from "../../core/types.ts";

/** The class count and embedding dim from the context, or a DmlError naming the loss. */
export function classesAndDim(ctx: CreateContext, what: string): { classes: number; dim: number } {
  check(
    typeof ctx.classes === "number" && ctx.classes >= 1,
    `${ctx.path}: ${what} needs the number of training classes, which this context does not give`,
  );
  check(
    typeof ctx.dim === "number" && ctx.dim >= 1,
    `${ctx.path}: ${what} needs the embedding dim, which this context does not give`,
  );
  return { classes: ctx.classes, dim: ctx.dim };
}

/** A trainable [classes, dim] variable drawn from N(0, std²) with `rng`. */
export function classWeights(classes: number, dim: number, std: number, rng: Rng): Variable {
  const init = new Float32Array(classes * dim);
  for (let i = 0; i < init.length; i++) init[i] = std * rng.normal();
  return tf.tidy(() => tf.variable(tf.tensor2d(init, [classes, dim]), true));
}
