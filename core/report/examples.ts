/**
 * Retrieval examples: for a fixed seeded set of queries, the nearest neighbours under the
 * evaluator's metric, each marked right (same class) or wrong, with small pictures.
 *
 * ```ts
 * const ex = await retrievalExamples({ query, queryData: data.test, metric: "cosine" });
 * ```
 */
import type { Dataset, Split } from "../types.ts";
import { Rng } from "../rng.ts";
import type { ExampleItem, RetrievalExamples } from "./files.ts";
import { pngDataUrl } from "./png.ts";
import { thumbnail } from "./thumbnail.ts";

export interface ExampleOptions {
  query: Split;
  queryData: Dataset;
  /** Query vs gallery; without it, neighbours come from the query split itself (the query left out). */
  gallery?: Split;
  galleryData?: Dataset;
  metric: "cosine" | "euclidean";
  /** Queries shown (default 8). */
  queries?: number;
  /** Neighbours per query (default 8). */
  k?: number;
  /** The same seed picks the same queries in every run on the same split. */
  seed?: number;
}

export async function retrievalExamples(o: ExampleOptions): Promise<RetrievalExamples> {
  const { query, metric } = o;
  const gallery = o.gallery ?? query, galleryData = o.galleryData ?? o.queryData;
  const oneSet = o.gallery === undefined;
  const order = new Rng(o.seed ?? 0).shuffle(Int32Array.from({ length: query.n }, (_, i) => i));
  const chosen = Array.from(order.subarray(0, Math.min(o.queries ?? 8, query.n))).sort((a, b) => a - b);
  const item = async (ds: Dataset, split: Split, i: number): Promise<ExampleItem> => {
    const p = await thumbnail(ds, i);
    const label = split.labels[i];
    return {
      item: i,
      label,
      className: ds.classNames?.[label] ?? String(label),
      image: p ? await pngDataUrl(p) : null,
    };
  };
  const queries: RetrievalExamples["queries"] = [];
  const galleryNorms = metric === "cosine" ? rowNorms(gallery) : undefined;
  for (const q of chosen) {
    const best = nearest(query, q, gallery, o.k ?? 8, metric, oneSet ? q : -1, galleryNorms);
    const neighbours = [];
    for (const { index, score } of best) {
      const n = await item(galleryData, gallery, index);
      neighbours.push({ ...n, score, correct: gallery.labels[index] === query.labels[q] });
    }
    queries.push({ ...(await item(o.queryData, query, q)), neighbours });
  }
  return { split: oneSet ? "test" : "query → gallery", metric, queries };
}

/**
 * The k rows of `g` nearest to row `q` of `s`, best first; `score` is the cosine similarity or
 * the Euclidean distance. Row `skip` of `g` is left out. Ties go to the lower row. `galleryNorms`
 * ({@link rowNorms} of `g`) saves recomputing them for each query.
 */
export function nearest(
  s: Split,
  q: number,
  g: Split,
  k: number,
  metric: "cosine" | "euclidean",
  skip = -1,
  galleryNorms?: Float64Array,
): Array<{ index: number; score: number }> {
  const d = s.dim;
  const a = s.data.subarray(q * d, (q + 1) * d);
  let na = 0;
  for (let t = 0; t < d; t++) na += a[t] * a[t];
  na = Math.sqrt(na) || 1;
  const gNorms = metric === "cosine" ? (galleryNorms ?? rowNorms(g)) : null;
  const best: Array<{ index: number; score: number }> = [];
  // Higher is better for cosine, lower for distance; `key` turns both into "higher is better".
  const key = (score: number) => (metric === "cosine" ? score : -score);
  for (let j = 0; j < g.n; j++) {
    if (j === skip) continue;
    const b = g.data.subarray(j * d, (j + 1) * d);
    let score: number;
    if (metric === "cosine") {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += a[t] * b[t];
      score = dot / (na * gNorms![j]);
    } else {
      let sq = 0;
      for (let t = 0; t < d; t++) sq += (a[t] - b[t]) ** 2;
      score = Math.sqrt(sq);
    }
    if (best.length === k && key(score) <= key(best[k - 1].score)) continue;
    let at = best.length;
    while (at > 0 && key(best[at - 1].score) < key(score)) at--;
    best.splice(at, 0, { index: j, score });
    if (best.length > k) best.pop();
  }
  return best;
}

/** Each row's L2 norm (1 for a zero row). */
export function rowNorms(s: Split): Float64Array {
  const norms = new Float64Array(s.n);
  for (let i = 0; i < s.n; i++) {
    let t = 0;
    for (let j = i * s.dim; j < (i + 1) * s.dim; j++) t += s.data[j] * s.data[j];
    norms[i] = Math.sqrt(t) || 1;
  }
  return norms;
}
