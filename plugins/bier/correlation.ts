/**
 * How correlated the learners are: the mean absolute Pearson correlation between a dimension
 * of learner i and a dimension of learner j, over samples, averaged over the pairs i < j. BIER's
 * claim is that boosting plus a diversity loss lowers it.
 *
 * ```ts
 * const { mean, pairs } = learnerCorrelation(e, [96, 160, 256]); // pairs: (0,1), (0,2), (1,2)
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { learnerRanges } from "./learners.ts";

export interface LearnerCorrelation {
  /** Mean over pairs i < j of mean_{k∈i, l∈j} |corr(f_k, f_l)|; 0 with one learner. */
  mean: number;
  /** One value per pair i < j, in the order (0,1), (0,2), ..., (1,2), ... */
  pairs: number[];
}

/** Learner correlation of embeddings `e` [n, Σd] (n ≥ 2 samples). Constant dimensions count as uncorrelated. */
export function learnerCorrelation(e: Tensor2D, groups: readonly number[]): LearnerCorrelation {
  const abs = tf.tidy(() => {
    const centered = tf.sub(e, tf.mean(e, 0, true));
    const std = tf.sqrt(tf.mean(tf.square(centered), 0, true));
    const z = tf.divNoNan(centered, std);
    return tf.abs(tf.div(tf.matMul(z, z, true, false), e.shape[0])) as Tensor2D; // |corr| [D, D]
  });
  const c = abs.arraySync();
  abs.dispose();
  const ranges = learnerRanges(groups);
  const pairs: number[] = [];
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      let sum = 0;
      for (let k = ranges[i][0]; k < ranges[i][1]; k++) {
        for (let l = ranges[j][0]; l < ranges[j][1]; l++) sum += c[k][l];
      }
      pairs.push(sum / ((ranges[i][1] - ranges[i][0]) * (ranges[j][1] - ranges[j][0])));
    }
  }
  return { mean: pairs.length ? pairs.reduce((a, b) => a + b, 0) / pairs.length : 0, pairs };
}
