/**
 * Clustering quality against class labels: NMI and AMI with the arithmetic-mean normaliser (as
 * sklearn's `normalized_mutual_info_score` and `adjusted_mutual_info_score`) and the pairwise F1 of
 * Roth et al. / HDML.
 * Labels and cluster ids may be any integers; float64 throughout.
 *
 * ```ts
 * nmi(Int32Array.of(0, 0, 1, 1), Int32Array.of(5, 5, 7, 7));        // 1
 * pairwiseF1(Int32Array.of(0, 0, 1, 1), Int32Array.of(0, 0, 0, 1)); // 0.4
 * ```
 */

interface Contingency {
  n: number;
  /** Size of each class. */
  classSizes: number[];
  /** Size of each cluster. */
  clusterSizes: number[];
  /** Non-zero cells: class, cluster, count. */
  cells: Array<[number, number, number]>;
}

function contingency(labels: ArrayLike<number>, clusters: ArrayLike<number>): Contingency {
  if (labels.length !== clusters.length) throw new Error(`${labels.length} labels but ${clusters.length} cluster ids`);
  const n = labels.length;
  const classIds = new Map<number, number>(), clusterIds = new Map<number, number>();
  const classSizes: number[] = [], clusterSizes: number[] = [];
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    let a = classIds.get(labels[i]);
    if (a === undefined) classIds.set(labels[i], a = classSizes.push(0) - 1);
    let b = clusterIds.get(clusters[i]);
    if (b === undefined) clusterIds.set(clusters[i], b = clusterSizes.push(0) - 1);
    classSizes[a]++;
    clusterSizes[b]++;
    const key = a * n + b; // a, b < n, so the key is unique
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const cells = [...counts].map(([key, m]) => [Math.floor(key / n), key % n, m] as [number, number, number]);
  return { n, classSizes, clusterSizes, cells };
}

/** I(Y; C) in nats, never below 0 (rounding). */
function mutualInformation(t: Contingency): number {
  let mi = 0;
  for (const [a, b, m] of t.cells) {
    mi += (m / t.n) * (Math.log(m) + Math.log(t.n) - Math.log(t.classSizes[a]) - Math.log(t.clusterSizes[b]));
  }
  return Math.max(0, mi);
}

function entropy(sizes: number[], n: number): number {
  let h = 0;
  for (const s of sizes) if (s > 0) h -= (s / n) * Math.log(s / n);
  return h;
}

/**
 * Normalised mutual information I(Y; C) / ((H(Y) + H(C)) / 2), natural logs. As sklearn: 1 when
 * both labelings have a single group (or none), 0 when the mutual information is 0.
 */
export function nmi(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const t = contingency(labels, clusters);
  if (t.classSizes.length === t.clusterSizes.length && t.classSizes.length <= 1) return 1;
  const mi = mutualInformation(t);
  if (mi === 0) return 0;
  return mi / ((entropy(t.classSizes, t.n) + entropy(t.clusterSizes, t.n)) / 2);
}

/**
 * Pairwise F1: over all pairs of items, precision = same-cluster pairs that share a class /
 * same-cluster pairs, recall = same-class pairs put in one cluster / same-class pairs.
 */
export function pairwiseF1(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const t = contingency(labels, clusters);
  const pairs = (m: number) => m * (m - 1) / 2;
  const truePos = t.cells.reduce((s, [, , m]) => s + pairs(m), 0);
  const sameCluster = t.clusterSizes.reduce((s, m) => s + pairs(m), 0);
  const sameClass = t.classSizes.reduce((s, m) => s + pairs(m), 0);
  if (truePos === 0) return 0;
  const precision = truePos / sameCluster, recall = truePos / sameClass;
  return 2 * precision * recall / (precision + recall);
}

/**
 * Adjusted mutual information, (I − E[I]) / ((H(Y) + H(C)) / 2 − E[I]), as sklearn's
 * `adjusted_mutual_info_score` (arithmetic mean): E[I] is the expected mutual information of two
 * labelings with these group sizes under random assignment (the hypergeometric model, Vinh et
 * al. 2010). 1 when both labelings have a single group (or none). E[I] depends on the group sizes
 * only, so pairs of sizes that repeat (SOP's thousands of 2- to 12-image classes) are summed once.
 */
export function ami(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const t = contingency(labels, clusters);
  if (t.classSizes.length === t.clusterSizes.length && t.classSizes.length <= 1) return 1;
  const mi = mutualInformation(t);
  const emi = expectedMutualInformation(t.classSizes, t.clusterSizes, t.n);
  const normalizer = (entropy(t.classSizes, t.n) + entropy(t.clusterSizes, t.n)) / 2;
  // As sklearn: the denominator keeps its sign but is at least one machine epsilon in size.
  let denominator = normalizer - emi;
  denominator = denominator < 0 ? Math.min(denominator, -Number.EPSILON) : Math.max(denominator, Number.EPSILON);
  return (mi - emi) / denominator;
}

/** E[I] over random labelings with the given group sizes: Σ_ij Σ_nij P(nij) · (nij/N) · log(N·nij / (a_i·b_j)). */
function expectedMutualInformation(aSizes: number[], bSizes: number[], n: number): number {
  const logFact = new Float64Array(n + 1);
  for (let k = 2; k <= n; k++) logFact[k] = logFact[k - 1] + Math.log(k);
  const counts = (sizes: number[]) => {
    const m = new Map<number, number>();
    for (const s of sizes) m.set(s, (m.get(s) ?? 0) + 1);
    return [...m];
  };
  let emi = 0;
  for (const [a, timesA] of counts(aSizes)) {
    for (const [b, timesB] of counts(bSizes)) {
      // log P(nij) = log[a! b! (N−a)! (N−b)! / (N! nij! (a−nij)! (b−nij)! (N−a−b+nij)!)]
      const fixed = logFact[a] + logFact[b] + logFact[n - a] + logFact[n - b] - logFact[n];
      let sum = 0;
      for (let nij = Math.max(1, a + b - n); nij <= Math.min(a, b); nij++) {
        const logP = fixed - logFact[nij] - logFact[a - nij] - logFact[b - nij] - logFact[n - a - b + nij];
        sum += (nij / n) * (Math.log(n) + Math.log(nij) - Math.log(a) - Math.log(b)) * Math.exp(logP);
      }
      emi += timesA * timesB * sum;
    }
  }
  return emi;
}
