/**
 * Singleton filtering: a sample that is the only one of its class in its cluster has no
 * positive there, so it is left out (label −1) until the next re-clustering. Every class a
 * cluster keeps then has at least two samples.
 *
 * ```ts
 * const clusters = Int32Array.from([0, 0, 0, 1, 1]);
 * const labels = Int32Array.from([7, 7, 3, 7, 7]);
 * dropSingletons(clusters, labels); // Int32Array [0, 0, -1, 1, 1]
 * ```
 */
export function dropSingletons(clusters: Int32Array, labels: Int32Array): Int32Array {
  const count = new Map<number, number>();
  const key = (n: number) => clusters[n] * 0x100000000 + labels[n];
  for (let n = 0; n < clusters.length; n++) {
    if (clusters[n] < 0) continue;
    count.set(key(n), (count.get(key(n)) ?? 0) + 1);
  }
  return clusters.map((c, n) => (c >= 0 && count.get(key(n)) === 1 ? -1 : c));
}
