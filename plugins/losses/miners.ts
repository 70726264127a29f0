/**
 * Pair miners as masks: each takes the similarity matrix and the positive / negative masks of
 * `pairMatrix` and returns the kept subsets, computed without gradient (mining is a choice, not a
 * function to differentiate).
 *
 * ```ts
 * const { pos, neg } = multiSimilarityMiner(sim, pos0, neg0, 0.1);
 * const mined = pairMarginMiner(cosineSim, pos0, neg0, 0.2, 0.8);
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { noGrad } from "./no_grad.ts";

/** Far beyond any similarity: the max of an empty set of negatives, the min of an empty set of positives. */
const FAR = 1e9;

/** The kept positives and negatives, float 0/1 masks shaped like the input. */
export interface Mined {
  pos: Tensor2D;
  neg: Tensor2D;
}

/**
 * The MS miner (Wang et al. 2019; PML MultiSimilarityMiner) on similarities: keeps a positive if
 * s − ε < the anchor's hardest (largest) negative similarity, and a negative if s + ε > its hardest
 * (smallest) positive similarity. An anchor without negatives keeps no positive and vice versa.
 */
export function multiSimilarityMiner(sim: Tensor2D, pos: Tensor2D, neg: Tensor2D, epsilon: number): Mined {
  const [p, n] = [0, 1].map((which) =>
    noGrad([sim, pos, neg], (s, P, N) => {
      const maxNeg = tf.max(tf.sub(tf.mul(s, N), tf.mul(tf.sub(1, N), FAR)), 1, true);
      const minPos = tf.min(tf.add(tf.mul(s, P), tf.mul(tf.sub(1, P), FAR)), 1, true);
      return which === 0
        ? tf.mul(P, tf.step(tf.sub(tf.add(maxNeg, epsilon), s)))
        : tf.mul(N, tf.step(tf.sub(tf.add(s, epsilon), minPos)));
    }) as Tensor2D
  );
  return { pos: p, neg: n };
}

/**
 * PML's PairMarginMiner at its default distance (Euclidean on L2-normalised embeddings), from the
 * cosine similarity `cos` (d = √(2 − 2 cos)): keeps positives farther than `posMargin` and
 * negatives closer than `negMargin` — the pairs that still violate the margins.
 */
export function pairMarginMiner(
  cos: Tensor2D,
  pos: Tensor2D,
  neg: Tensor2D,
  posMargin: number,
  negMargin: number,
): Mined {
  const [p, n] = [0, 1].map((which) =>
    noGrad([cos, pos, neg], (c, P, N) => {
      const d = tf.sqrt(tf.relu(tf.sub(2, tf.mul(2, c))));
      return which === 0 ? tf.mul(P, tf.step(tf.sub(d, posMargin))) : tf.mul(N, tf.step(tf.sub(negMargin, d)));
    }) as Tensor2D
  );
  return { pos: p, neg: n };
}
