/**
 * The embedding map: a seeded subsample (at most 2000 rows) of a split's embeddings, projected to
 * two dimensions by PCA and by UMAP, with each row's class. Under the cosine metric the rows are
 * L2-normalised first, as the evaluator compares them.
 *
 * ```ts
 * const map = embeddingMap(testSplit, data.test.classNames, { metric: "cosine" });
 * ```
 */
import type { Split } from "../types.ts";
import { Rng } from "../rng.ts";
import type { EmbeddingMap } from "./files.ts";
import { pca2 } from "./pca.ts";
import { umap2 } from "./umap.ts";

export interface MapOptions {
  metric: "cosine" | "euclidean";
  /** Most rows drawn (default 2000). */
  max?: number;
  /** Seed of the subsample and of UMAP (default 0: the same rows in every run on the same split). */
  seed?: number;
  split?: string;
}

export function embeddingMap(s: Split, classNames: string[] | undefined, o: MapOptions): EmbeddingMap {
  const max = o.max ?? 2000, seed = o.seed ?? 0;
  const all = Int32Array.from({ length: s.n }, (_, i) => i);
  const items = s.n > max ? Array.from(new Rng(seed).shuffle(all).subarray(0, max)).sort((a, b) => a - b) : [...all];
  const rows = items.map((i) => {
    const r = Array.from(s.data.subarray(i * s.dim, (i + 1) * s.dim));
    if (o.metric !== "cosine") return r;
    const n = Math.sqrt(r.reduce((t, x) => t + x * x, 0)) || 1;
    return r.map((x) => x / n);
  });
  const flat = Float64Array.from(rows.flat());
  const p = pca2(flat, rows.length, s.dim);
  let umap: EmbeddingMap["umap"];
  if (rows.length < 4) umap = { error: `${rows.length} points are too few for UMAP` };
  else {
    try {
      umap = { points: round(umap2(rows, seed)) };
    } catch (e) {
      umap = { error: `UMAP failed: ${(e as Error).message}` };
    }
  }
  const labels = items.map((i) => s.labels[i]);
  const maxLabel = labels.reduce((m, l) => Math.max(m, l), -1);
  return {
    split: o.split ?? "test",
    total: s.n,
    items,
    labels,
    classNames: Array.from({ length: maxLabel + 1 }, (_, c) => classNames?.[c] ?? String(c)),
    pca: { points: round(p.points), explained: p.explained },
    umap,
  };
}

/** Six significant digits: plenty for a scatter plot, a third of the JSON. */
function round(xs: Float64Array): number[] {
  return Array.from(xs, (x) => Number(x.toPrecision(6)));
}
