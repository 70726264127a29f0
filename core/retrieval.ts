/**
 * The retrieval and clustering metrics the field reports, as `shared/design/metrics.md` defines
 * them (pytorch-metric-learning's `AccuracyCalculator`), computed from an exact chunked kNN so
 * that test sets of Stanford Online Products size (60,502 items) never need an N × N matrix.
 *
 * - One set (no gallery): every item queries all the others; its own entry is removed by
 *   index, never by distance, so exact duplicates are handled.
 * - Query/gallery (In-Shop, DeepFashion2): queries search the gallery, nothing is removed.
 * - Lone queries (no other item of their class in the reference set) are left out of the
 *   neighbour metrics and counted in `lone_queries`; they still take part in NMI.
 * - Ties in distance go to the lower gallery index, so results are deterministic.
 * - Neighbour lists reach R (the class size), not the largest K: Recall@K only needs each
 *   query's rank of its first relevant item, counted while scanning, so Recall@1000 is cheap.
 *
 * ```ts
 * const m = await evaluateRetrieval(testSplit, undefined, { recallAt: [1, 2, 4, 8], metric: "cosine" });
 * m["recall@1"], m["map@r"], m.nmi, m.lone_queries;
 * ```
 */
import type { Split } from "./types.ts";
import { DmlError } from "./errors.ts";
import { chunkRows, knn, type KnnEngine, type KnnResult, normalizeRows } from "./knn.ts";
import { kmeans } from "./kmeans.ts";
import { ami, nmi, pairwiseF1 } from "./clustering_metrics.ts";
import { verificationMetrics } from "./verification.ts";

export interface RetrievalOptions {
  /** The K of each Recall@K. Default [1, 2, 4, 8]. */
  recallAt?: number[];
  /** Default cosine (on L2-normalised embeddings). */
  metric?: "cosine" | "euclidean";
  /** k-means NMI on the query embeddings. Default true. */
  nmi?: boolean;
  /** Pairwise F1 of the same clustering. Default false. */
  f1?: boolean;
  /** Adjusted mutual information of the same clustering (sklearn's, as PML reports). Default false. */
  ami?: boolean;
  /**
   * Mean reciprocal rank of each query's first relevant item over the whole ranking (PML's
   * `mean_reciprocal_rank` with its default k, the full ranking). Default false.
   */
  mrr?: boolean;
  /** Neighbours listed per query (R-Precision and MAP@R read the first R); 0 (default): the largest R. */
  k?: number;
  /** Query rows per similarity chunk; 0 (default): chunk × gallery near 2^24. */
  chunk?: number;
  /**
   * Most neighbour-list entries (queries × list length) held at once; beyond it the queries are
   * ranked in blocks and the metrics summed over them. Default 2^24 (128 MB of lists). A few large
   * classes make long lists: 14,000 Fashion-MNIST images of two classes need 6,999 neighbours each.
   */
  listEntries?: number;
  /** kNN engine (see core/knn.ts). Default auto. */
  engine?: KnnEngine;
  /** Top-k on the device with the backend engine (see core/knn.ts). Default: on WebGPU only. */
  deviceTopK?: boolean;
  /** Seed of the k-means++ draw. Default 0. */
  seed?: number;
  /** Lloyd iterations of the NMI k-means. Default 20. */
  kmeansIters?: number;
  /**
   * Subtract the reference set's mean (the gallery's, or the one set's) from every embedding before
   * the metric, as the raw-pixel baseline is. Default false.
   */
  center?: boolean;
  /**
   * How per-query values become one number: `queries` (default) weighs every non-lone query the
   * same; `classes` averages within each query class first, then over the classes (PML's
   * `avg_of_avgs`), so a large class does not outweigh the small ones.
   */
  average?: "queries" | "classes";
  /**
   * False match rates at which to report FNMR and the distance threshold over every query–gallery
   * pair (`fnmr@fmr=F`, `threshold@fmr=F`; core/verification.ts). Default none: two more passes over
   * the similarities.
   */
  fnmrAtFmr?: number[];
}

/** Checks a split is usable: non-empty, consistent lengths, finite values. `name` prefixes errors. */
export function checkSplit(s: Split, name: string): void {
  if (!Number.isInteger(s.n) || s.n < 1) throw new DmlError(`${name}: the set is empty`);
  if (!Number.isInteger(s.dim) || s.dim < 1) throw new DmlError(`${name}: embeddings have dimension ${s.dim}`);
  if (s.data.length !== s.n * s.dim) {
    throw new DmlError(`${name}: ${s.data.length} embedding values, expected ${s.n} × ${s.dim}`);
  }
  if (s.labels.length !== s.n) throw new DmlError(`${name}: ${s.n} embeddings but ${s.labels.length} labels`);
  for (let i = 0; i < s.data.length; i++) {
    if (!Number.isFinite(s.data[i])) {
      const row = Math.floor(i / s.dim);
      throw new DmlError(`${name}: embedding ${row} has a non-finite value (${s.data[i]}) at column ${i % s.dim}`);
    }
  }
}

/** Recall@K, Precision@1, R-Precision, MAP@R, NMI (and F1); query/gallery mode when `gallery` is given. */
export async function evaluateRetrieval(
  query: Split,
  gallery: Split | undefined,
  o: RetrievalOptions = {},
): Promise<Record<string, number>> {
  // (A gallery of another dimension is left to neighbourStage, which names the mismatch.)
  if (o.center && (!gallery || gallery.dim === query.dim)) {
    checkSplit(query, gallery ? "query" : "embeddings");
    if (gallery) checkSplit(gallery, "gallery");
    ({ query, gallery } = centerOnReference(query, gallery));
  }
  const { metrics: out, lone } = await neighbourStage(query, gallery, o);
  const wantNmi = o.nmi ?? true, wantF1 = o.f1 ?? false, wantAmi = o.ami ?? false;
  if (wantNmi || wantF1 || wantAmi) {
    const c = await clusteringMetrics(query, o.metric ?? "cosine", o);
    if (wantNmi) out.nmi = c.nmi;
    if (wantAmi) out.ami = c.ami;
    if (wantF1) out.f1 = c.f1;
  }
  if (o.fnmrAtFmr?.length) {
    Object.assign(
      out,
      await verificationMetrics(query, gallery, {
        fmr: o.fnmrAtFmr,
        metric: o.metric,
        chunk: o.chunk,
        engine: o.engine,
      }),
    );
  }
  out.lone_queries = lone;
  return out;
}

/**
 * Validation, the chunked kNN and the neighbour metrics (everything but clustering). Returns the
 * kNN's timings and flops too (summed over the query blocks).
 */
export async function neighbourStage(
  query: Split,
  gallery: Split | undefined,
  o: RetrievalOptions = {},
): Promise<{ metrics: Record<string, number>; lone: number; knn: KnnStats }> {
  const recallAt = o.recallAt ?? [1, 2, 4, 8];
  const oneSet = gallery === undefined;
  const ref = gallery ?? query;
  checkSplit(query, oneSet ? "embeddings" : "query");
  if (!oneSet) {
    checkSplit(ref, "gallery");
    if (ref.dim !== query.dim) {
      throw new DmlError(`gallery: dimension ${ref.dim} differs from the queries' ${query.dim}`);
    }
  }
  const relevant = checkRetrievalLabels(query.labels, gallery?.labels, recallAt);
  const self = oneSet ? 1 : 0;
  const available = ref.n - self;
  let maxR = 0, lone = 0;
  for (const r of relevant) r > 0 ? (maxR = Math.max(maxR, r)) : lone++;
  // The list only needs to reach R (for R-Precision and MAP@R); a Recall@K beyond it is read from
  // each query's rank of its first relevant item, counted in the same pass.
  const k = Math.max(1, Math.min(available, o.k && o.k > 0 ? o.k : maxR));
  const needRank = Math.max(...recallAt) > k || (o.mrr ?? false);
  const listEntries = o.listEntries && o.listEntries > 0 ? o.listEntries : DEFAULT_LIST_ENTRIES;
  // Whole similarity chunks per block: each block's products then have the shapes of the unblocked
  // run's, so blocking changes no rounding and no result.
  const chunk = chunkRows(ref.n, o.chunk);
  const block = Math.max(chunk, Math.floor(listEntries / k / chunk) * chunk);
  const tally = new NeighbourTally(recallAt, o.average ?? "queries", o.mrr ?? false);
  let stats: KnnStats | undefined;
  for (let start = 0; start < query.n; start += block) {
    const end = Math.min(query.n, start + block);
    const whole = start === 0 && end === query.n;
    const labels = query.labels.subarray(start, end);
    const result = await knn(
      whole ? query.data : query.data.subarray(start * query.dim, end * query.dim),
      end - start,
      ref.data,
      ref.n,
      query.dim,
      k,
      {
        metric: o.metric ?? "cosine",
        excludeSelf: oneSet,
        firstQueryRow: start,
        chunk: o.chunk && o.chunk > 0 ? o.chunk : undefined,
        engine: o.engine,
        deviceTopK: o.deviceTopK,
        labels: needRank ? { query: labels, gallery: ref.labels } : undefined,
      },
    );
    tally.add(result.indices, k, labels, ref.labels, relevant.subarray(start, end), result.firstRelevantRank);
    stats = addStats(stats, result);
  }
  return { metrics: tally.metrics(), lone, knn: stats! };
}

/** Neighbour lists held at once by default: 2^24 entries, 64 MB of indices and 64 of distances. */
export const DEFAULT_LIST_ENTRIES = 1 << 24;

/** What a kNN run cost: its engine, seconds and similarity flops (summed over blocks). */
export type KnnStats = Pick<KnnResult, "engine" | "seconds" | "similarityFlops">;

function addStats(sum: KnnStats | undefined, r: KnnResult): KnnStats {
  const similarity = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a + b);
  if (!sum) return { engine: r.engine, seconds: { ...r.seconds }, similarityFlops: r.similarityFlops };
  return {
    engine: r.engine,
    seconds: {
      total: sum.seconds.total + r.seconds.total,
      similarity: similarity(sum.seconds.similarity, r.seconds.similarity),
    },
    similarityFlops: sum.similarityFlops + r.similarityFlops,
  };
}

/** The mean embedding of a split, in float64. */
export function columnMean(s: Split): Float64Array {
  const mean = new Float64Array(s.dim);
  for (let i = 0; i < s.n; i++) for (let j = 0; j < s.dim; j++) mean[j] += s.data[i * s.dim + j];
  for (let j = 0; j < s.dim; j++) mean[j] /= Math.max(1, s.n);
  return mean;
}

/** Subtracts `mean` from every row of `s`, in place. */
export function subtractMean(s: Split, mean: Float64Array): Split {
  if (mean.length !== s.dim) throw new DmlError(`center: a mean of dimension ${mean.length} for ${s.dim}-d embeddings`);
  for (let i = 0; i < s.n; i++) for (let j = 0; j < s.dim; j++) s.data[i * s.dim + j] -= mean[j];
  return s;
}

/**
 * Copies of `query` (and `gallery`) less the reference set's mean (the gallery's, or the one
 * set's): what `center` ranks, in the evaluator and in the run report. Cosine similarity is
 * measured from the origin, so an offset shared by every embedding (ReLU features are all
 * non-negative) squeezes the angles between them; centring removes it.
 */
export function centerOnReference(query: Split, gallery?: Split): { query: Split; gallery?: Split } {
  const mean = columnMean(gallery ?? query);
  const copy = (s: Split) => subtractMean({ ...s, data: s.data.slice() }, mean);
  return { query: copy(query), gallery: gallery && copy(gallery) };
}

/** R_i: items of query i's class in the reference set, less the query itself in one-set mode. */
/**
 * Refuses labels no retrieval metric is defined on: a single class, K beyond the gallery, every query lone.
 * Needs only the labels, so the trainer checks them before training. Returns each query's relevant count.
 */
export function checkRetrievalLabels(
  queryLabels: Int32Array,
  galleryLabels: Int32Array | undefined,
  recallAt: number[] = [1, 2, 4, 8],
): Int32Array {
  const oneSet = galleryLabels === undefined;
  const ref = galleryLabels ?? queryLabels;
  if (new Set(ref).size < 2) {
    throw new DmlError(`${oneSet ? "labels" : "gallery labels"}: a single class; retrieval metrics need at least two`);
  }
  const available = ref.length - (oneSet ? 1 : 0);
  for (const K of recallAt) {
    if (!Number.isInteger(K) || K < 1) throw new DmlError(`recall@${K}: K must be a positive integer`);
    if (K > available) {
      throw new DmlError(
        `recall@${K}: K is larger than the gallery (${available} items${oneSet ? " besides the query" : ""})`,
      );
    }
  }
  const relevant = relevantCounts(queryLabels, ref, oneSet ? 1 : 0);
  if (relevant.every((r) => r <= 0)) {
    throw new DmlError(`labels: every query is lone (no other item of its class); retrieval metrics are undefined`);
  }
  return relevant;
}

export function relevantCounts(queryLabels: Int32Array, refLabels: Int32Array, self: number): Int32Array {
  const sizes = new Map<number, number>();
  for (const y of refLabels) sizes.set(y, (sizes.get(y) ?? 0) + 1);
  return queryLabels.map((y) => (sizes.get(y) ?? 0) - self);
}

/**
 * The kNN metrics from ranked neighbours ([nq, k] reference indices, nearest first), averaged over
 * the non-lone queries (R_i > 0), or per query class and then over the classes (`average:
 * "classes"`). R-Precision and MAP@R are exact when k >= max R_i. Recall@K uses
 * `firstRelevantRank` (1-based, 0 for none) when given, else the first hit in the list.
 */
export function neighbourMetrics(
  indices: Int32Array,
  k: number,
  queryLabels: Int32Array,
  refLabels: Int32Array,
  relevant: Int32Array,
  recallAt: number[],
  firstRelevantRank?: Int32Array,
  average: "queries" | "classes" = "queries",
): Record<string, number> {
  const tally = new NeighbourTally(recallAt, average);
  tally.add(indices, k, queryLabels, refLabels, relevant, firstRelevantRank);
  return tally.metrics();
}

/**
 * {@link neighbourMetrics} over queries given in blocks: each block's per-query values are summed
 * (per group: one group, or one per query class), and {@link metrics} averages at the end.
 */
export class NeighbourTally {
  private readonly names: string[];
  private readonly groups = new Map<number, { sums: Float64Array; count: number }>();

  constructor(
    private readonly recallAt: number[],
    private readonly average: "queries" | "classes" = "queries",
    private readonly mrr = false,
  ) {
    this.names = [
      ...recallAt.map((K) => `recall@${K}`),
      "precision@1",
      "r_precision",
      "map@r",
      ...(mrr ? ["mrr"] : []),
    ];
  }

  /** Adds a block of queries: their lists ([rows, k]), labels, R_i and first relevant ranks. */
  add(
    indices: Int32Array,
    k: number,
    queryLabels: Int32Array,
    refLabels: Int32Array,
    relevant: Int32Array,
    firstRelevantRank?: Int32Array,
  ): void {
    const { recallAt, names, groups } = this;
    for (let i = 0; i < queryLabels.length; i++) {
      const R = relevant[i];
      if (R <= 0) continue;
      const y = queryLabels[i];
      let firstHit = Infinity, hits = 0, precisionSum = 0;
      const depth = Math.min(R, k);
      for (let j = 0; j < k; j++) {
        if (refLabels[indices[i * k + j]] !== y) continue;
        if (firstHit === Infinity) firstHit = j + 1;
        if (j < depth) {
          hits++;
          precisionSum += hits / (j + 1);
        } else break;
      }
      if (firstRelevantRank) firstHit = firstRelevantRank[i] > 0 ? firstRelevantRank[i] : Infinity;
      const key = this.average === "classes" ? y : 0;
      let g = groups.get(key);
      if (!g) groups.set(key, g = { sums: new Float64Array(names.length), count: 0 });
      g.count++;
      recallAt.forEach((K, t) => g.sums[t] += firstHit <= K ? 1 : 0);
      g.sums[recallAt.length] += firstHit === 1 ? 1 : 0;
      g.sums[recallAt.length + 1] += hits / R;
      g.sums[recallAt.length + 2] += precisionSum / R;
      if (this.mrr) g.sums[recallAt.length + 3] += 1 / firstHit; // 0 when there is no hit
    }
  }

  /** The averages of everything added. */
  metrics(): Record<string, number> {
    const out: Record<string, number> = {};
    this.names.forEach((name, t) => {
      let total = 0;
      for (const g of this.groups.values()) total += g.sums[t] / g.count;
      out[name] = total / this.groups.size;
    });
    return out;
  }
}

/** k-means on the query embeddings with as many clusters as query classes; NMI and pairwise F1. */
async function clusteringMetrics(query: Split, metric: string, o: RetrievalOptions): Promise<Record<string, number>> {
  const classes = new Set(query.labels).size;
  const data = metric === "cosine" ? normalizeRows(query.data, query.n, query.dim) : query.data;
  const { assignments } = await kmeans(data, query.n, query.dim, classes, {
    seed: o.seed ?? 0,
    iters: o.kmeansIters ?? 20,
  });
  return {
    nmi: nmi(query.labels, assignments),
    ami: o.ami ? ami(query.labels, assignments) : NaN,
    f1: pairwiseF1(query.labels, assignments),
  };
}
