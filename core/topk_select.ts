/**
 * Exact top-k of rows of scores (larger is nearer), on plain typed arrays, without a full sort.
 * Ties in score go to the lower column index, so the result is deterministic.
 *
 * Small k scans once, keeping a sorted list of the k best (one comparison for most entries);
 * large k keys every score in 32 bits and radix-sorts the columns up to the k-th key's top digit:
 * O(n) per row, no comparisons.
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
import { reverseOrderKey } from "./float_key.ts";

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
  keys: Uint32Array;
  columns: Int32Array;
  spareKeys: Uint32Array;
  spareColumns: Int32Array;
  readonly counts = new Uint32Array(RADIX);
  constructor(n: number) {
    this.keys = new Uint32Array(n);
    this.columns = new Int32Array(n);
    this.spareKeys = new Uint32Array(n);
    this.spareColumns = new Int32Array(n);
  }

  /** Room for n entries. */
  fit(n: number): void {
    if (this.keys.length >= n) return;
    this.keys = new Uint32Array(n);
    this.columns = new Int32Array(n);
    this.spareKeys = new Uint32Array(n);
    this.spareColumns = new Int32Array(n);
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

/**
 * Large k: every column gets a 32-bit key whose ascending order is best score first. A histogram
 * of the keys' top digit finds the digit of the k-th best; only columns up to that digit (about k)
 * are then ordered, by a stable least-significant-digit radix sort. Columns go in ascending, so
 * equal scores keep the lower column first. O(n) a row, with no comparisons.
 */
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
  scratch.fit(n);
  const { keys, columns, counts } = scratch;
  const bits = new Uint32Array(row.buffer, row.byteOffset + offset * 4, n);
  counts.fill(0);
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (j === skip) continue;
    const key = reverseOrderKey(bits[j]); // best score first
    keys[m] = key;
    columns[m++] = j;
    counts[key >>> TOP_SHIFT]++;
  }
  let cut = 0;
  for (let seen = counts[0]; seen < k; seen += counts[++cut]);
  let kept = 0;
  for (let i = 0; i < m; i++) {
    if (keys[i] >>> TOP_SHIFT <= cut) keys[kept] = keys[i], columns[kept++] = columns[i];
  }
  const sorted = radixSort(scratch, kept);
  for (let t = 0; t < k; t++) {
    const j = sorted[t];
    outIdx[o + t] = j;
    outVal[o + t] = row[offset + j];
  }
}

/** Digits of 11, 11 and 10 bits; the top one (bits 22–31) picks the columns worth sorting. */
const DIGIT_BITS = 11, RADIX = 1 << DIGIT_BITS, TOP_SHIFT = 2 * DIGIT_BITS;

/** Stable LSD radix sort of the first m (key, column) entries; returns the columns in order. */
function radixSort(s: TopKScratch, m: number): Int32Array {
  let keys = s.keys, columns = s.columns, toKeys = s.spareKeys, toColumns = s.spareColumns;
  const counts = s.counts;
  for (let shift = 0; shift < 32; shift += DIGIT_BITS) {
    counts.fill(0);
    for (let i = 0; i < m; i++) counts[(keys[i] >>> shift) & (RADIX - 1)]++;
    if (counts[(keys[0] >>> shift) & (RADIX - 1)] === m) continue; // one digit for all: already in order
    for (let d = 0, sum = 0; d < RADIX; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < m; i++) {
      const key = keys[i], at = counts[(key >>> shift) & (RADIX - 1)]++;
      toKeys[at] = key;
      toColumns[at] = columns[i];
    }
    [keys, toKeys, columns, toColumns] = [toKeys, keys, toColumns, columns];
  }
  // Keep the scratch arrays' roles straight for the next row.
  s.keys = keys, s.columns = columns, s.spareKeys = toKeys, s.spareColumns = toColumns;
  return columns;
}
