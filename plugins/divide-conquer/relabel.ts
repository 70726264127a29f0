/**
 * Cluster–learner consistency: after re-clustering, rename the new clusters so that each keeps
 * the learner of the old cluster it overlaps most. With binary memberships P_prev, P_curr ∈
 * {0,1}^{K×N}, cost[i][j] = ‖P_curr[i] − P_prev[j]‖₁ (= |curr i| + |prev j| − 2|curr i ∩ prev j|),
 * and the Hungarian algorithm picks the permutation of least total cost.
 *
 * The official code applies the inverse of that permutation (it reads the (row, col) pairs of
 * `linear_sum_assignment` as (prev, curr)); that is only right when the permutation is its own
 * inverse, which always holds for K ≤ 2. Here current cluster i becomes previous label j.
 *
 * ```ts
 * const prev = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2]);
 * const curr = Int32Array.from([2, 2, 1, 0, 0, 1, 1, 1]);
 * relabelToMatch(prev, curr, 3); // Int32Array [0, 0, 2, 1, 1, 2, 2, 2]
 * ```
 */
import { hungarian } from "./hungarian.ts";

/** cost[i][j] = ‖P_curr[i] − P_prev[j]‖₁, rows the current clusters, columns the previous ones. */
export function membershipCost(prev: Int32Array, curr: Int32Array, k: number): number[][] {
  if (prev.length !== curr.length) {
    throw new Error(`relabel: ${prev.length} previous labels for ${curr.length} current ones`);
  }
  const overlap = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const sizePrev = new Array<number>(k).fill(0);
  const sizeCurr = new Array<number>(k).fill(0);
  for (let n = 0; n < curr.length; n++) {
    const c = curr[n], p = prev[n];
    if (c < 0 || c >= k || p < 0 || p >= k) throw new Error(`relabel: label out of 0..${k - 1} at ${n}`);
    overlap[c][p]++;
    sizeCurr[c]++;
    sizePrev[p]++;
  }
  return overlap.map((row, i) => row.map((o, j) => sizeCurr[i] + sizePrev[j] - 2 * o));
}

/** The permutation `curr cluster i -> previous label perm[i]` of least membership change. */
export function matchClusters(prev: Int32Array, curr: Int32Array, k: number): Int32Array {
  return hungarian(membershipCost(prev, curr, k));
}

/** `curr` with its clusters renamed to the previous clusters they match. */
export function relabelToMatch(prev: Int32Array, curr: Int32Array, k: number): Int32Array {
  const perm = matchClusters(prev, curr, k);
  return curr.map((c) => perm[c]);
}
