/**
 * The embedding head the diversity losses act on. BIER's learners are linear layers
 * `f_m = h W_m + b_m` on the shared feature h, i.e. together one dense layer `f = h W + b` with
 * W [F, D] cut into column blocks. The diversity losses use the *regulariser view* of the
 * official code, `r_m = stop_gradient(h) W_m` (no bias): its gradient reaches W_m only, never the
 * layers below the head nor the bias. `embeddingView` is the earlier form `(e − b)_m`: the same
 * values, but its gradient also flows through e into the backbone (`diversityInput: embedding`).
 *
 * The backbone names its head in the contract (`headWeights`: kernel [F, D], then bias [D]).
 *
 * ```ts
 * const head = embeddingHead(backbone);                   // { kernel: [F, D], bias?: [D] }
 * const r = regularizerView(h, head, [96, 160, 256]);    // [B, d_m] each, = sg(h) W_m
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Backbone } from "../../core/types.ts";
import { DmlError } from "../../core/errors.ts";
import { learnerRanges, splitLearners } from "./learners.ts";
import { stopGradient } from "./gradient.ts";

export interface EmbeddingHead {
  /** W [F, D]. */
  kernel: Variable;
  /** b [D], when the head has one. */
  bias?: Variable;
}

/** The backbone's dense embedding head, from its `headWeights`; a clear error if it has none. */
export function embeddingHead(backbone: Backbone, path = "loss"): EmbeddingHead {
  const [kernel, bias, ...rest] = backbone.headWeights ?? [];
  const D = backbone.dim;
  const dense = kernel?.shape.length === 2 && kernel.shape[1] === D && rest.length === 0 &&
    (bias === undefined || (bias.shape.length === 1 && bias.shape[0] === D));
  if (dense) return bias ? { kernel, bias } : { kernel };
  const shapes = (backbone.headWeights ?? []).map((v) => `[${v.shape.join(", ")}]`).join(", ");
  throw new DmlError(
    `${path}.diversity: BIER's diversity losses need a backbone with a dense embedding head ` +
      `(headWeights: kernel [F, ${D}], bias [${D}]); its head weights have shapes ${shapes || "none"}`,
  );
}

/**
 * The official regulariser view r_m = sg(h) W_m of the features h the head was applied to: the
 * diversity gradient reaches the kernel W_m (as hᵀ ∂L/∂r_m) and nothing else.
 */
export function regularizerView(h: Tensor2D, head: EmbeddingHead, groups: readonly number[]): Tensor2D[] {
  return tf.tidy(() => splitLearners(tf.matMul(stopGradient(h), head.kernel), groups));
}

/**
 * The earlier view r_m = (e − b)_m of the embedding e = h W + b: the same values as
 * `regularizerView`; the bias gets no gradient (its two paths cancel) and W_m gets hᵀ ∂L/∂r_m,
 * but the gradient also reaches the layers below the head through e (`diversityInput: embedding`).
 */
export function embeddingView(e: Tensor2D, head: EmbeddingHead | undefined, groups: readonly number[]): Tensor2D[] {
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
