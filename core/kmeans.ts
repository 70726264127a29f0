/**
 * k-means: k-means++ seeding from a seeded {@link Rng}, then Lloyd iterations whose assignment
 * step is an exact nearest-centroid search ({@link knn}, in chunks, on the active backend or
 * BLAS). Deterministic for a given seed: ties go to the lower centroid index, and an empty
 * cluster is re-seeded from the point farthest from its centroid.
 *
 * Used for NMI / F1 in evaluation and by divide-and-conquer's re-clustering.
 *
 * ```ts
 * const { assignments, centroids, inertia, iters } = await kmeans(data, n, dim, 10, { seed: 0 });
 * ```
 */
import { DmlError } from "./errors.ts";
import { knn, type KnnEngine } from "./knn.ts";
import { Rng } from "./rng.ts";

export interface KmeansOptions {
  /** Seed of the k-means++ draw. Default 0. */
  seed?: number;
  /** Most Lloyd iterations. Default 20 (as faiss in PML's NMI). */
  iters?: number;
  /** Stop when the inertia falls by less than this fraction in an iteration. Default 1e-4; 0 runs until stable. */
  tol?: number;
  /** Nearest-centroid engine (see core/knn.ts). Default auto. */
  engine?: KnnEngine;
}

export interface KmeansResult {
  /** Cluster of each point, [n]. */
  assignments: Int32Array;
  /** Row-major [k, dim]. */
  centroids: Float32Array;
  /** Sum of squared distances of the points to their centroids. */
  inertia: number;
  /** Lloyd iterations run. */
  iters: number;
}

/** Clusters the rows of `data` (float32 [n, dim]) into `k` groups. */
export async function kmeans(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  opts: KmeansOptions = {},
): Promise<KmeansResult> {
  const iters = opts.iters ?? 20;
  const tol = opts.tol ?? 1e-4;
  if (data.length !== n * dim) throw new DmlError(`kmeans: data has ${data.length} values, expected ${n} × ${dim}`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new DmlError(`kmeans: k must be an integer in 1..${n}, got ${k}`);
  if (!Number.isInteger(iters) || iters < 0) throw new DmlError(`kmeans: iters must be an integer >= 0, got ${iters}`);

  const engine = opts.engine ?? "auto";
  const centroids = await kmeansPlusPlus(data, n, dim, k, new Rng(opts.seed ?? 0), engine);
  let { assignments, dist2 } = await nearest(data, n, dim, centroids, k, engine);
  let inertia = sum(dist2);
  let done = 0;
  while (done < iters) {
    updateCentroids(data, n, dim, k, assignments, dist2, centroids);
    done++;
    const next = await nearest(data, n, dim, centroids, k, engine);
    const changed = next.assignments.some((c, i) => c !== assignments[i]);
    const previous = inertia;
    ({ assignments, dist2 } = next);
    inertia = sum(dist2);
    if (!changed || (tol > 0 && previous - inertia <= tol * previous)) break;
  }
  return { assignments, centroids, inertia, iters: done };
}

/** Nearest centroid of every point (lower index on ties) and its squared distance. */
export async function nearest(
  data: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  engine: KnnEngine = "auto",
): Promise<{ assignments: Int32Array; dist2: Float32Array }> {
  const r = await knn(data, n, centroids, k, dim, 1, { metric: "squared-euclidean", engine });
  return { assignments: r.indices, dist2: r.distances };
}

/**
 * k-means++ (Arthur & Vassilvitskii): each next centre is a point drawn with probability
 * proportional to its squared distance D² to the nearest centre so far.
 *
 * Updating D² for every point after every centre would read the whole data set k times. Instead
 * D² is refreshed for a batch of new centres at once (one chunked nearest-neighbour pass) and,
 * between refreshes, a point is proposed from the stale D² (an upper bound) and accepted with
 * probability (its exact D²) / (stale D²): rejection sampling, so the draw is still exactly
 * k-means++'s. Returns the k centres, row-major [k, dim].
 */
export async function kmeansPlusPlus(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  rng: Rng,
  engine: KnnEngine = "auto",
): Promise<Float32Array> {
  const centroids = new Float32Array(k * dim);
  const first = rng.int(n);
  centroids.set(data.subarray(first * dim, (first + 1) * dim), 0);
  if (k === 1) return centroids;

  const bound = new Float32Array(n).fill(Infinity); // D² to the centres up to the last refresh
  const chosen = new Uint8Array(n);
  chosen[first] = 1;
  let refreshed = 0; // centres already folded into `bound`
  let cumulative = new Float64Array(n);
  let total = 0;
  const refresh = async (upto: number) => {
    const pending = centroids.subarray(refreshed * dim, upto * dim);
    const { dist2 } = await nearest(data, n, dim, pending, upto - refreshed, engine);
    total = 0;
    for (let i = 0; i < n; i++) {
      const d = chosen[i] ? 0 : Math.min(bound[i], dist2[i]);
      bound[i] = d;
      total += d;
      cumulative[i] = total;
    }
    refreshed = upto;
  };
  const batch = Math.max(8, Math.min(128, Math.ceil(k / 16)));
  await refresh(1);
  let count = 1;
  let rejections = 0;
  while (count < k) {
    if (count - refreshed >= batch || (rejections >= 32 && count > refreshed)) {
      await refresh(count);
      rejections = 0;
    }
    if (total <= 0) {
      // Fewer distinct points than k: the rest are duplicates of centres; take unchosen ones in order.
      for (let i = 0; i < n && count < k; i++) {
        if (!chosen[i]) chosen[i] = 1, centroids.set(data.subarray(i * dim, (i + 1) * dim), count++ * dim);
      }
      break;
    }
    const i = upperBound(cumulative, rng.uniform() * total);
    if (chosen[i] || bound[i] <= 0) {
      rejections++;
      continue;
    }
    let exact = bound[i];
    for (let c = refreshed; c < count && exact > 0; c++) {
      exact = Math.min(exact, squaredDistance(data, i, centroids, c, dim));
    }
    if (rng.uniform() * bound[i] >= exact) {
      rejections++;
      continue;
    }
    chosen[i] = 1;
    centroids.set(data.subarray(i * dim, (i + 1) * dim), count++ * dim);
    rejections = 0;
  }
  cumulative = new Float64Array(0);
  return centroids;
}

/** First index whose cumulative weight exceeds `u`. */
function upperBound(cumulative: Float64Array, u: number): number {
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function squaredDistance(data: Float32Array, i: number, centroids: Float32Array, c: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = data[i * dim + j] - centroids[c * dim + j];
    s += d * d;
  }
  return s;
}

/**
 * Centroids become the means of their points (float64 sums). An empty cluster takes the point
 * farthest from its centroid among clusters with more than one point (ties: lower index).
 * `centroids` is updated in place; `dist2` is each point's squared distance to its centroid.
 */
export function updateCentroids(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  assignments: Int32Array,
  dist2: Float32Array,
  centroids: Float32Array,
): void {
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i];
    counts[c]++;
    for (let j = 0; j < dim; j++) sums[c * dim + j] += data[i * dim + j];
  }
  const empty: number[] = [];
  for (let c = 0; c < k; c++) if (counts[c] === 0) empty.push(c);
  if (empty.length > 0) {
    const byDistance = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist2[b] - dist2[a] || a - b);
    let next = 0;
    for (const c of empty) {
      while (next < n && counts[assignments[byDistance[next]]] <= 1) next++;
      if (next >= n) break;
      const i = byDistance[next++];
      const from = assignments[i];
      counts[from]--;
      for (let j = 0; j < dim; j++) sums[from * dim + j] -= data[i * dim + j];
      counts[c] = 1;
      for (let j = 0; j < dim; j++) sums[c * dim + j] = data[i * dim + j];
    }
  }
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) continue; // no point could be spared: keep the old centroid
    for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
  }
}

function sum(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
