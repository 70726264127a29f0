/**
 * The BIER embedding as an ensemble of learners: the D columns are cut into consecutive groups
 * (default 96 / 160 / 256 of 512), each group the output of its own linear layer.
 *
 * ```ts
 * const [f1, f2, f3] = splitLearners(e, [96, 160, 256]);       // [B, 96], [B, 160], [B, 256]
 * const test = ensembleEmbedding(e, [96, 160, 256]);          // concat(d_m/Σd · f_m/‖f_m‖)
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";

/** Column ranges `[start, end)` of each learner. */
export function learnerRanges(groups: readonly number[]): Array<[number, number]> {
  let start = 0;
  return groups.map((size) => {
    const range: [number, number] = [start, start + size];
    start += size;
    return range;
  });
}

/** Splits `e` [B, Σd] into the learners' blocks [B, d_m]. */
export function splitLearners(e: Tensor2D, groups: readonly number[]): Tensor2D[] {
  if (groups.length === 1) return [e];
  return tf.split(e, [...groups], 1) as Tensor2D[];
}

/** The official default test weights: each learner's share of the dimensions, d_m / Σd. */
export function sizeScales(groups: readonly number[]): number[] {
  const total = groups.reduce((a, b) => a + b, 0);
  return groups.map((d) => d / total);
}

/**
 * The test-time embedding (`eval_bier.py`): every learner block L2-normalised (norm floored at
 * 1e-5 as in the code) and scaled by `scales[m]` (default d_m/Σd), then concatenated. The dot
 * product of two such vectors is Σ_m scales[m]² · cos_m, so the learners count with squared weights.
 */
export function ensembleEmbedding(e: Tensor2D, groups: readonly number[], scales = sizeScales(groups)): Tensor2D {
  return tf.tidy(() => {
    const blocks = splitLearners(e, groups).map((f, m) => {
      const norm = tf.maximum(tf.norm(f, "euclidean", 1, true), 1e-5);
      return tf.mul(tf.div(f, norm), scales[m]);
    });
    return (blocks.length === 1 ? blocks[0] : tf.concat(blocks, 1)) as Tensor2D;
  });
}
