/**
 * Verification metrics over every query–gallery pair: FNMR@FMR, as open-metric-learning defines
 * it (`shared/design/metrics.md` §5.3), and the distance threshold that gives each FMR — the
 * threshold selection a verification system (face, re-identification) needs.
 *
 * For a false match rate f, T is the f-quantile of the negative pairs' distances (numpy's
 * `linear` rule: position (N₋ − 1)·f between the two order statistics around it), and FNMR is the
 * share of positive pairs with distance ≥ T. Pairs are ordered (query i, gallery j), the query's
 * own entry excluded in one-set mode, as in a query × gallery distance matrix.
 *
 * Exact without an N × N matrix or a list of every distance: the distances' float32 bits are
 * counted in two passes over chunked similarities. The first pass counts the top 16 bits, which
 * finds the bucket of each order statistic needed; the second counts the low 16 bits inside
 * those buckets, and keeps the few positive distances that fall between them.
 *
 * ```ts
 * const m = await verificationMetrics(testSplit, undefined, { fmr: [0.001, 0.01], metric: "cosine" });
 * m["fnmr@fmr=0.001"], m["threshold@fmr=0.001"];
 * ```
 */
import type { Split } from "./types.ts";
import { DmlError } from "./errors.ts";
import { forEachScoreChunk, type KnnEngine, scoreToDistance } from "./knn.ts";
import { floatKey, keyToFloat, orderKey } from "./float_key.ts";

export interface VerificationOptions {
  /** False match rates in [0, 1]. */
  fmr: number[];
  /** Default cosine (distance 1 − cosine similarity); euclidean is the Euclidean distance. */
  metric?: "cosine" | "euclidean";
  /** Query rows per similarity chunk (0: automatic). */
  chunk?: number;
  engine?: KnnEngine;
}

const HALF = 16, BUCKETS = 1 << HALF;

/** `fnmr@fmr=F` and `threshold@fmr=F` for each F; the query set is the gallery when `gallery` is absent. */
export async function verificationMetrics(
  query: Split,
  gallery: Split | undefined,
  o: VerificationOptions,
): Promise<Record<string, number>> {
  for (const f of o.fmr) {
    if (!(f >= 0 && f <= 1)) throw new DmlError(`fnmrAtFmr: ${f} is not a false match rate in [0, 1]`);
  }
  const ref = gallery ?? query;
  const oneSet = gallery === undefined;
  const metric = o.metric ?? "cosine";
  // Each row of scores becomes float32 distances in place, as the kNN reports them, and their
  // bits are read through a second view: keys and comparisons then agree exactly.
  const pass = (visitRow: (i: number, distances: Float32Array, bits: Uint32Array) => void) =>
    forEachScoreChunk(query.data, query.n, ref.data, ref.n, query.dim, { metric, chunk: o.chunk, engine: o.engine }, (
      start,
      rows,
      scores,
    ) => {
      for (let r = 0; r < rows; r++) {
        const row = scores.subarray(r * ref.n, (r + 1) * ref.n);
        for (let j = 0; j < ref.n; j++) row[j] = scoreToDistance(row[j], metric);
        visitRow(start + r, row, new Uint32Array(row.buffer, row.byteOffset, ref.n));
      }
    });
  const labels = ref.labels, skipOf = (i: number) => (oneSet ? i : -1);

  // Pass 1: how many distances of each kind fall in each top-16-bit bucket.
  const negatives = new Float64Array(BUCKETS), positives = new Float64Array(BUCKETS);
  await pass((i, _d, bits) => {
    const y = query.labels[i], skip = skipOf(i);
    for (let j = 0; j < bits.length; j++) {
      if (j === skip) continue;
      (labels[j] === y ? positives : negatives)[orderKey(bits[j]) >>> HALF]++;
    }
  });
  const nNeg = sum(negatives), nPos = sum(positives);
  if (nPos === 0) throw new DmlError("fnmrAtFmr: no positive pair (no two items share a label); FNMR is undefined");
  if (nNeg === 0) throw new DmlError("fnmrAtFmr: no negative pair (a single label); the FMR threshold is undefined");

  // The order statistics each rate needs, and the bucket each lies in.
  const wanted = o.fmr.map((f) => {
    const h = (nNeg - 1) * f, lo = Math.floor(h), hi = Math.ceil(h);
    return { f, h, lo, hi, bucketLo: bucketOf(negatives, lo), bucketHi: bucketOf(negatives, hi) };
  });
  // Pass 2: the low 16 bits of the negatives in those buckets; the positives between them, kept.
  const fine = new Map<number, Float64Array>();
  for (const w of wanted) {
    for (const b of [w.bucketLo.bucket, w.bucketHi.bucket]) fine.set(b, new Float64Array(BUCKETS));
  }
  const between = new Uint8Array(BUCKETS);
  for (const w of wanted) between.fill(1, w.bucketLo.bucket, w.bucketHi.bucket + 1);
  const kept: number[] = [];
  await pass((i, distances, bits) => {
    const y = query.labels[i], skip = skipOf(i);
    for (let j = 0; j < bits.length; j++) {
      if (j === skip) continue;
      const key = orderKey(bits[j]), b = key >>> HALF;
      if (!between[b]) continue;
      if (labels[j] === y) kept.push(distances[j]);
      else {
        const counts = fine.get(b);
        if (counts) counts[key & (BUCKETS - 1)]++;
      }
    }
  });

  const out: Record<string, number> = {};
  for (const w of wanted) {
    const vLo = valueAt(w.bucketLo, fine), vHi = valueAt(w.bucketHi, fine);
    const t = w.h - w.lo;
    // numpy's lerp: from the nearer end, so that t = 1 gives vHi exactly.
    const threshold = t >= 0.5 ? vHi - (vHi - vLo) * (1 - t) : vLo + (vHi - vLo) * t;
    let rejected = 0;
    for (let b = w.bucketHi.bucket + 1; b < BUCKETS; b++) rejected += positives[b];
    for (const d of kept) {
      const b = floatKey(d) >>> HALF;
      if (b >= w.bucketLo.bucket && b <= w.bucketHi.bucket && d >= threshold) rejected++;
    }
    out[`fnmr@fmr=${w.f}`] = rejected / nPos;
    out[`threshold@fmr=${w.f}`] = threshold;
  }
  return out;
}

/** The bucket holding the distance of ascending rank `rank` (0-based), and its rank inside the bucket. */
function bucketOf(counts: Float64Array, rank: number): { bucket: number; within: number } {
  let seen = 0;
  for (let b = 0; b < counts.length; b++) {
    if (seen + counts[b] > rank) return { bucket: b, within: rank - seen };
    seen += counts[b];
  }
  throw new Error(`rank ${rank} past the ${seen} counted`);
}

/** The distance at `within` inside its bucket, from the second pass's counts of low bits. */
function valueAt(at: { bucket: number; within: number }, fine: Map<number, Float64Array>): number {
  const low = bucketOf(fine.get(at.bucket)!, at.within).bucket;
  return keyToFloat(((at.bucket << HALF) | low) >>> 0);
}

function sum(counts: Float64Array): number {
  let s = 0;
  for (const c of counts) s += c;
  return s;
}
