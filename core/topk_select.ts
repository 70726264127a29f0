/**
 * Exact top-k of rows of scores (larger is nearer), on plain typed arrays, without a full sort.
 * Ties in score go to the lower column index, so the result is deterministic.
 *
 * Small k scans once, keeping a sorted list of the k best (one comparison for most entries);
 * large k finds the k-th score by selection, then keeps what beats it: O(n + k log k) per row.
 * {@link RunningTopK} keeps the small-k lists of many rows open, so a row can be fed in blocks
 * of columns (the one-set kNN feeds each tile of a symmetric product to two sets of rows); its
 * search for the next score worth inserting is a {@link ScoreScan}, SIMD where it can be.
 *
 * ```ts
 * const idx = new Int32Array(2), val = new Float32Array(2);
 * selectTopK(Float32Array.of(0.1, 0.9, 0.9, 0.5), 0, 4, -1, 2, idx, val, 0); // idx [1, 2]
 * ```
 */
import { jsScan, type ScoreScan } from "./score_scan.ts";

/** Above this k the selection path beats insertion into a sorted list. */
export const INSERTION_MAX_K = 48;

/**
 * Writes the k best columns of `row[offset .. offset + n)` (skipping column `skip`, -1 for none)
 * to `outIdx` / `outVal` at `outOffset`, best first. Needs k <= n - (skip >= 0 ? 1 : 0).
 */
export function selectTopK(
  row: Float32Array,
  offset: number,
  n: number,
  skip: number,
  k: number,
  outIdx: Int32Array,
  outVal: Float32Array,
  outOffset: number,
  scratch?: TopKScratch,
): void {
  if (k <= 0) return;
  if (k <= INSERTION_MAX_K) {
    scanSorted(row, offset, offset + n, 0, skip >= 0 ? offset + skip : -1, k, outIdx, outVal, outOffset, 0, jsScan);
  } else selectionTopK(row, offset, n, skip, k, outIdx, outVal, outOffset, scratch ?? new TopKScratch(n));
}

/** Reusable buffers for the selection path (one per thread of work). */
export class TopKScratch {
  values: Float32Array;
  order: number[] = [];
  constructor(n: number) {
    this.values = new Float32Array(n);
  }
}

/**
 * The top-k lists of `rows` rows, open for more columns: row r's list is `indices` / `scores` at
 * r·k, best first. Each row must be offered its columns in ascending order (in any number of
 * calls); a later column then needs a strictly better score, so ties keep the lower column.
 *
 * ```ts
 * const top = new RunningTopK(2, 1, new Int32Array(2), new Float32Array(2));
 * top.scanRow(0, Float32Array.of(0.5, 0.9), 0, 2, 100, -1); // row 0: columns 100, 101
 * top.scanColumn(0, 2, Float32Array.of(0.9, 0.3), 0, 102);   // column 102 for rows 0 and 1
 * top.indices;                                               // [101, 102]
 * ```
 */
export class RunningTopK {
  /** Columns offered so far to each row, up to k. */
  readonly filled: Int32Array;
  /** Each row's k-th best score, −Infinity until it has k. */
  readonly worst: Float32Array;
  private readonly scan: ScoreScan;

  /**
   * @param opts.worst where to keep the rows' thresholds (e.g. in a ScoreArena); a new array by default
   * @param opts.scan the search for scores above a threshold; plain JavaScript by default
   */
  constructor(
    rows: number,
    readonly k: number,
    readonly indices: Int32Array,
    readonly scores: Float32Array,
    opts: { worst?: Float32Array; scan?: ScoreScan } = {},
  ) {
    if (indices.length < rows * k || scores.length < rows * k) throw new Error(`RunningTopK: lists too short`);
    if (opts.worst && opts.worst.length < rows) throw new Error(`RunningTopK: thresholds too short`);
    this.filled = new Int32Array(rows);
    this.worst = (opts.worst ?? new Float32Array(rows)).fill(-Infinity);
    this.scan = opts.scan ?? jsScan;
  }

  /** Offers row `r` the columns col0, col0 + 1, … scored `src[offset .. offset + n)`, except column `skip`. */
  scanRow(r: number, src: Float32Array, offset: number, n: number, col0: number, skip: number): void {
    const { k, indices, scores, scan } = this;
    const skipAt = skip >= col0 && skip < col0 + n ? offset + skip - col0 : -1;
    const filled = scanSorted(src, offset, offset + n, col0, skipAt, k, indices, scores, r * k, this.filled[r], scan);
    this.filled[r] = filled;
    if (filled === k) this.worst[r] = scores[r * k + k - 1];
  }

  /** Offers column `col` to rows r0 … r0 + m − 1, scored `src[offset .. offset + m)`. */
  scanColumn(r0: number, m: number, src: Float32Array, offset: number, col: number): void {
    const { k, worst, filled, indices, scores, scan } = this;
    // Rows without k entries yet have threshold −Infinity, so they take every score.
    for (let t = scan.firstAboveEach(src, offset, worst, r0, m); t < m;) {
      const v = src[offset + t], r = r0 + t, o = r * k;
      if (filled[r] < k) {
        insertSorted(v, col, filled[r]++, indices, scores, o);
        if (filled[r] === k) worst[r] = scores[o + k - 1];
      } else {
        insertSorted(v, col, k - 1, indices, scores, o);
        worst[r] = scores[o + k - 1];
      }
      t++;
      t += scan.firstAboveEach(src, offset + t, worst, r0 + t, m - t);
    }
  }
}

/**
 * Offers `src[from .. end)` (columns col0, col0 + 1, …; position `skipAt` left out) to the sorted
 * list at `o` that holds `filled` entries; returns how many it holds after.
 */
function scanSorted(
  src: Float32Array,
  from: number,
  end: number,
  col0: number,
  skipAt: number,
  k: number,
  outIdx: Int32Array,
  outVal: Float32Array,
  o: number,
  filled: number,
  scan: ScoreScan,
): number {
  let p = from;
  for (; p < end && filled < k; p++) {
    if (p !== skipAt) insertSorted(src[p], col0 + p - from, filled++, outIdx, outVal, o);
  }
  if (filled < k) return filled;
  // The hot loop: the scan finds the next score strictly better than the k-th, so an equal
  // score at a later column loses (lower index first).
  let worst = outVal[o + k - 1];
  for (p = scan.firstAbove(src, p, end, worst); p < end; p = scan.firstAbove(src, p + 1, end, worst)) {
    if (p === skipAt) continue;
    insertSorted(src[p], col0 + p - from, k - 1, outIdx, outVal, o);
    worst = outVal[o + k - 1];
  }
  return filled;
}

/** Puts (v, j) into the sorted list at or above slot `last`, shifting worse entries down. */
function insertSorted(v: number, j: number, last: number, outIdx: Int32Array, outVal: Float32Array, o: number): void {
  let p = last;
  while (p > 0 && outVal[o + p - 1] < v) {
    outVal[o + p] = outVal[o + p - 1];
    outIdx[o + p] = outIdx[o + p - 1];
    p--;
  }
  outVal[o + p] = v;
  outIdx[o + p] = j;
}

function selectionTopK(
  row: Float32Array,
  offset: number,
  n: number,
  skip: number,
  k: number,
  outIdx: Int32Array,
  outVal: Float32Array,
  o: number,
  scratch: TopKScratch,
): void {
  if (scratch.values.length < n) scratch.values = new Float32Array(n);
  const vals = scratch.values;
  let m = 0;
  for (let j = 0; j < n; j++) if (j !== skip) vals[m++] = row[offset + j];
  // The k-th largest score is the (m - k)-th smallest.
  const threshold = nthSmallest(vals, m, m - k);
  let above = 0;
  for (let j = 0; j < n; j++) if (j !== skip && row[offset + j] > threshold) above++;
  let equalLeft = k - above;
  const order = scratch.order;
  order.length = 0;
  for (let j = 0; j < n; j++) {
    if (j === skip) continue;
    const v = row[offset + j];
    if (v > threshold) order.push(j);
    else if (v === threshold && equalLeft > 0) order.push(j), equalLeft--; // lower columns first
  }
  order.sort((a, b) => row[offset + b] - row[offset + a] || a - b);
  for (let t = 0; t < k; t++) {
    outIdx[o + t] = order[t];
    outVal[o + t] = row[offset + order[t]];
  }
}

/** The value that would sit at position `target` if a[0..m) were sorted ascending (a is reordered). */
function nthSmallest(a: Float32Array, m: number, target: number): number {
  let lo = 0, hi = m - 1;
  while (hi > lo) {
    // Median of three as the pivot, then a three-way partition (many equal scores are common).
    const mid = (lo + hi) >>> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let lt = lo, gt = hi, i = lo;
    while (i <= gt) {
      const v = a[i];
      if (v < pivot) {
        a[i] = a[lt], a[lt] = v, lt++, i++;
      } else if (v > pivot) {
        a[i] = a[gt], a[gt] = v, gt--;
      } else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  return a[lo];
}
