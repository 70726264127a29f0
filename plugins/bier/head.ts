/**
 * The embedding head the diversity losses act on. BIER's learners are linear layers
 * `f_m = h W_m + b_m` on the shared feature h, i.e. together one dense layer `f = h W + b` with
 * W [F, D] cut into column blocks. The diversity losses use the *regulariser view*
 * `r_m = sg(h) W_m` (no bias) and penalise the norms of W_m.
 *
 * Assumption (documented, checked by shape): the backbone's last trainable weights are that
 * dense layer's kernel [F, D] and bias [D] (or just the kernel, when it has no bias). The
 * built-in backbones end with such a layer.
 *
 * ```ts
 * const head = embeddingHead(backbone);                  // { kernel: [F, D], bias?: [D] }
 * const r = regularizerView(e, head, [96, 160, 256]);   // [B, d_m] each, = h W_m
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { learnerRanges, splitLearners } from "./learners.ts";

export interface EmbeddingHead {
  /** W [F, D]. */
  kernel: Variable;
  /** b [D], when the head has one. */
  bias?: Variable;
}

/** The backbone's dense embedding head, by the documented assumption; a clear error if it does not hold. */
export function embeddingHead(backbone: Backbone, path = "loss"): EmbeddingHead {
  const w = backbone.trainableWeights;
  const D = backbone.dim;
  const last = w[w.length - 1];
  const before = w[w.length - 2];
  const isKernel = (v?: Variable) => v !== undefined && v.shape.length === 2 && v.shape[1] === D;
  if (last && last.shape.length === 1 && last.shape[0] === D && isKernel(before)) {
    return { kernel: before, bias: last };
  }
  if (isKernel(last)) return { kernel: last };
  const shapes = w.slice(-2).map((v) => `[${v.shape.join(", ")}]`).join(", ");
  throw new DmlError(
    `${path}.diversity: BIER's diversity losses need the backbone to end with a dense embedding layer ` +
      `(kernel [F, ${D}], bias [${D}]) as its last trainable weights; its last weights have shapes ${shapes || "none"}`,
  );
}

/**
 * r_m = h W_m for each learner, computed from the embedding e = h W + b as (e − b)_m. The bias
 * gets no gradient from it (its two paths cancel) and W_m gets exactly hᵀ ∂L/∂r_m. Unlike the
 * official `stop_gradient(h)`, the gradient also reaches the layers below the head through e,
 * because the loss never sees h (see docs/bier.md).
 */
export function regularizerView(e: Tensor2D, head: EmbeddingHead | undefined, groups: readonly number[]): Tensor2D[] {
  return tf.tidy(() => splitLearners(head?.bias ? tf.sub(e, head.bias) as Tensor2D : e, groups));
}

/** The learners' kernels W_m [F, d_m]: column blocks of the head's kernel. */
export function learnerKernels(head: EmbeddingHead, groups: readonly number[]): Tensor2D[] {
  return tf.tidy(() => {
    const F = head.kernel.shape[0];
    return learnerRanges(groups).map(([s, t]) => tf.slice(head.kernel as Tensor2D, [0, s], [F, t - s]));
  });
}

/**
 * Checks on a few items `x` that the embedding really is `h W + b` (when the backbone exposes its
 * features h), or at least not L2-normalised; a DmlError says what to change otherwise.
 */
export function verifyHead(backbone: Backbone, head: EmbeddingHead, x: Tensor, path = "loss"): void {
  const [mismatch, unitRows] = tf.tidy(() => {
    const e = backbone.embed(x, false);
    const unit = tf.all(tf.less(tf.abs(tf.sub(tf.norm(e, "euclidean", 1), 1)), 1e-4));
    if (!backbone.features) return [0, unit.dataSync()[0]];
    let lin = tf.matMul(backbone.features(x, false), head.kernel);
    if (head.bias) lin = tf.add(lin, head.bias);
    const err = tf.div(tf.max(tf.abs(tf.sub(e, lin))), tf.add(1, tf.max(tf.abs(e))));
    return [err.dataSync()[0], unit.dataSync()[0]];
  });
  if (mismatch > 1e-3 || (!backbone.features && unitRows)) {
    const why = unitRows
      ? "the backbone L2-normalises its embedding (set backbone.normalize: false)"
      : "the backbone's embedding is not its features times its last weights";
    throw new DmlError(`${path}.diversity: BIER's diversity losses need the raw output of a dense head, but ${why}`);
  }
}
