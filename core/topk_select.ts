/**
 * Exact top-k of one row of scores (larger is nearer), on plain typed arrays, without a full sort.
 * Ties in score go to the lower column index, so the result is deterministic.
 *
 * Small k scans once, keeping a sorted list of the k best (one comparison for most entries);
 * large k finds the k-th score by selection, then keeps what beats it: O(n + k log k) per row.
 *
 * ```ts
 * const idx = new Int32Array(2), val = new Float32Array(2);
 * selectTopK(Float32Array.of(0.1, 0.9, 0.9, 0.5), 0, 4, -1, 2, idx, val, 0); // idx [1, 2]
 * ```
 */

/** Above this k the selection path beats insertion into a sorted list. */
const INSERTION_MAX_K = 48;

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
  if (k <= INSERTION_MAX_K) insertionTopK(row, offset, n, skip, k, outIdx, outVal, outOffset);
  else selectionTopK(row, offset, n, skip, k, outIdx, outVal, outOffset, scratch ?? new TopKScratch(n));
}

/** Reusable buffers for the selection path (one per thread of work). */
export class TopKScratch {
  values: Float32Array;
  order: number[] = [];
  constructor(n: number) {
    this.values = new Float32Array(n);
  }
}

function insertionTopK(
  row: Float32Array,
  offset: number,
  n: number,
  skip: number,
  k: number,
  outIdx: Int32Array,
  outVal: Float32Array,
  o: number,
): void {
  const end = offset + n, self = skip >= 0 ? offset + skip : -1;
  let p = offset, filled = 0;
  for (; p < end && filled < k; p++) {
    if (p !== self) insertSorted(row[p], p - offset, filled++, outIdx, outVal, o);
  }
  // The hot loop: one comparison per entry. Strictly better than the k-th only, so an equal
  // score at a later column loses (lower index first).
  let worst = outVal[o + k - 1];
  for (; p < end; p++) {
    const v = row[p];
    if (v > worst && p !== self) {
      insertSorted(v, p - offset, k - 1, outIdx, outVal, o);
      worst = outVal[o + k - 1];
    }
  }
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
