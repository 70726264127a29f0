/**
 * The Hungarian algorithm (Kuhn–Munkres with potentials, O(n³)): the minimum-cost perfect
 * matching of an n × n cost matrix. Divide-and-conquer uses it to keep each learner on "its"
 * cluster when the data is re-clustered (K × K, so n is small).
 *
 * ```ts
 * const match = hungarian([[5, 0, 5], [5, 6, 1], [1, 4, 5]]);
 * match; // Int32Array [1, 2, 0]: row 0 -> column 1, row 1 -> column 2, row 2 -> column 0
 * ```
 */
export function hungarian(cost: ArrayLike<number>[]): Int32Array {
  const n = cost.length;
  for (const row of cost) {
    if (row.length !== n) throw new Error(`hungarian: expected a square matrix, got ${n} rows of ${row.length}`);
    for (let j = 0; j < n; j++) {
      if (!Number.isFinite(row[j])) throw new Error(`hungarian: cost ${row[j]} is not finite`);
    }
  }
  // 1-based arrays with a virtual column 0, as in the classic formulation:
  // u, v are the row / column potentials (u_i + v_j <= cost_ij), colRow[j] the row matched to column j.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const colRow = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    // Add row i: grow an alternating tree from the virtual column 0 until a free column is reached.
    colRow[0] = i;
    let j0 = 0;
    const minSlack = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = colRow[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const slack = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (slack < minSlack[j]) {
          minSlack[j] = slack;
          way[j] = j0;
        }
        if (minSlack[j] < delta) {
          delta = minSlack[j];
          j1 = j;
        }
      }
      // Shift the potentials so that the tightest edge becomes tight, keeping the others feasible.
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[colRow[j]] += delta;
          v[j] -= delta;
        } else {
          minSlack[j] -= delta;
        }
      }
      j0 = j1;
    } while (colRow[j0] !== 0);
    // Augment along the path back to the virtual column.
    do {
      const j1 = way[j0];
      colRow[j0] = colRow[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowCol = new Int32Array(n);
  for (let j = 1; j <= n; j++) rowCol[colRow[j] - 1] = j - 1;
  return rowCol;
}

/** Total cost of a matching `rowCol` (row i -> column rowCol[i]). */
export function matchingCost(cost: ArrayLike<number>[], rowCol: Int32Array): number {
  let s = 0;
  for (let i = 0; i < rowCol.length; i++) s += cost[i][rowCol[i]];
  return s;
}
