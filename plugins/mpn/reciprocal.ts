/**
 * Test-time graphs from k-reciprocal nearest neighbours (`KReciprocalSampler` of the official
 * code, after the re-ranking of Zhong et al. 2017). For an anchor i with k1 = 30:
 *
 *   N(i, k)  = the k + 1 nearest items of i (i itself included)
 *   R(i, k)  = { j ∈ N(i, k) : i ∈ N(j, k) }                       (k-reciprocal neighbours)
 *   R*(i)    = R(i, k1) ∪ R(c, round(k1/2)) for each c ∈ R(i, k1)
 *              whose |R(c, k1/2) ∩ R(i, k1)| > 2/3 |R(c, k1/2)|     (expansion)
 *   graph(i) = R*(i) sorted by distance to i, cut to `size`, padded with i's plain nearest neighbours
 *
 * In query/gallery mode (In-Shop) the graph is the query followed by the `size − 1` nearest
 * members of its k-reciprocal gallery set. Distances are Euclidean on L2-normalised rows, so the
 * ranking is that of the dot product. The anchor is always node 0 (the official code relies on it
 * being its own nearest neighbour, which exact duplicates break).
 *
 * ```ts
 * const { graphs } = await reciprocalGraphs(x, { k1: 30, size: 7 }); // Int32Array [n, 7], row i starts with i
 * ```
 */
import { tf } from "../../core/tf.ts";

/** Row-major `[n, dim]` float rows. */
export interface Rows {
  data: Float32Array;
  n: number;
  dim: number;
}

/** The `k` most similar rows of `b` for each row of `a` (dot product, best first): Int32Array `[a.n, k]`. */
export async function nearestNeighbours(a: Rows, b: Rows, k: number, chunk = 512): Promise<Int32Array> {
  const out = new Int32Array(a.n * k);
  const bt = tf.tensor2d(b.data, [b.n, b.dim]);
  try {
    for (let start = 0; start < a.n; start += chunk) {
      const rows = Math.min(chunk, a.n - start);
      const idx = tf.tidy(() => {
        const q = tf.tensor2d(a.data.subarray(start * a.dim, (start + rows) * a.dim), [rows, a.dim]);
        return tf.topk(tf.matMul(q, bt, false, true), k).indices;
      });
      out.set(await idx.data(), start * k);
      idx.dispose();
    }
  } finally {
    bt.dispose();
  }
  return out;
}

/** L2-normalised copy of `rows` (a zero row stays zero). */
export function normalizeRows(rows: Rows): Rows {
  const data = new Float32Array(rows.data.length);
  for (let i = 0; i < rows.n; i++) {
    let s = 0;
    for (let d = 0; d < rows.dim; d++) s += rows.data[i * rows.dim + d] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < rows.dim; d++) data[i * rows.dim + d] = rows.data[i * rows.dim + d] * inv;
  }
  return { data, n: rows.n, dim: rows.dim };
}

/** NumPy's `around`: halves round to the even neighbour (k1 = 5 → 2). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A neighbour table `[rows, width]` read as lists of their first `k` entries. */
class Neighbours {
  constructor(readonly table: Int32Array, readonly width: number) {}
  first(i: number, k: number): Int32Array {
    return this.table.subarray(i * this.width, i * this.width + Math.min(k, this.width));
  }
}

/**
 * `R(i)` = members j of `forward.first(i, k)` whose own list `backward.first(j, k)` holds i.
 */
function reciprocal(i: number, k: number, forward: Neighbours, backward: Neighbours): number[] {
  return [...forward.first(i, k)].filter((j) => backward.first(j, k).includes(i));
}

/** R(i, k1) expanded by the candidates' half-size reciprocal sets that mostly agree with it. */
function expandedReciprocal(
  i: number,
  k1: number,
  forward: Neighbours,
  backward: Neighbours,
  among: Neighbours,
): Set<number> {
  const kf = k1 + 1;
  const kh = roundHalfEven(k1 / 2) + 1;
  const base = reciprocal(i, kf, forward, backward);
  const baseSet = new Set(base);
  const expanded = new Set(base);
  for (const cand of base) {
    const candSet = reciprocal(cand, kh, among, among);
    const shared = new Set(candSet.filter((j) => baseSet.has(j))).size;
    if (shared > (2 / 3) * new Set(candSet).size) { for (const j of candSet) expanded.add(j); }
  }
  return expanded;
}

function dot(a: Rows, i: number, b: Rows, j: number): number {
  let s = 0;
  for (let d = 0; d < a.dim; d++) s += a.data[i * a.dim + d] * b.data[j * b.dim + d];
  return s;
}

/** Members sorted by distance to anchor row `i` (nearest first; ties by lower index). */
function byDistance(members: Iterable<number>, anchor: Rows, i: number, pool: Rows): number[] {
  const scored = [...members].map((j) => ({ j, s: dot(anchor, i, pool, j) }));
  scored.sort((a, b) => b.s - a.s || a.j - b.j);
  return scored.map((x) => x.j);
}

/** One-set mode: graph of each row over the same set, anchor first. Int32Array `[n, size']`, size' = min(size, n). */
export async function reciprocalGraphs(
  x: Rows,
  opts: { k1: number; size: number },
): Promise<{ graphs: Int32Array; size: number }> {
  const size = Math.min(opts.size, x.n);
  const width = Math.min(x.n, Math.max(opts.k1 + 1, size));
  const nn = new Neighbours(await nearestNeighbours(x, x, width), width);
  const graphs = new Int32Array(x.n * size);
  for (let i = 0; i < x.n; i++) {
    const members = expandedReciprocal(i, opts.k1, nn, nn, nn);
    members.delete(i);
    const graph = [i, ...byDistance(members, x, i, x)].slice(0, size);
    for (const j of nn.first(i, width)) {
      if (graph.length >= size) break;
      if (!graph.includes(j)) graph.push(j);
    }
    graphs.set(graph, i * size);
  }
  return { graphs, size };
}

/**
 * Query/gallery mode: for each query, `size' − 1` gallery rows (indices into the gallery),
 * nearest k-reciprocal members first. Int32Array `[q.n, size' − 1]`, size' = min(size, g.n + 1).
 */
export async function reciprocalGalleryGraphs(
  q: Rows,
  g: Rows,
  opts: { k1: number; size: number },
): Promise<{ graphs: Int32Array; size: number }> {
  const size = Math.min(opts.size, g.n + 1);
  const members = size - 1;
  const kf = Math.min(opts.k1 + 1, g.n, q.n);
  const width = Math.max(kf, Math.min(members, g.n));
  const qg = new Neighbours(await nearestNeighbours(q, g, width), width);
  const gq = new Neighbours(await nearestNeighbours(g, q, Math.min(kf, q.n)), Math.min(kf, q.n));
  const gg = new Neighbours(await nearestNeighbours(g, g, Math.min(g.n, opts.k1 + 1)), Math.min(g.n, opts.k1 + 1));
  const graphs = new Int32Array(q.n * members);
  for (let i = 0; i < q.n; i++) {
    const expanded = expandedReciprocal(i, opts.k1, qg, gq, gg);
    const graph = byDistance(expanded, q, i, g).slice(0, members);
    for (const j of qg.first(i, width)) {
      if (graph.length >= members) break;
      if (!graph.includes(j)) graph.push(j);
    }
    graphs.set(graph, i * members);
  }
  return { graphs, size };
}
