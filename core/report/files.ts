/**
 * What a run folder holds for its report besides `metrics.jsonl` and `recipe.yaml`: `run.json`
 * (how the run ran) and `report/examples.json`, `report/embedding.json` (what the trained
 * network does, saved at the end of training), so that `deno task report` rebuilds the page
 * without the model.
 */

/** `run.json`: the resolved recipe and where, with what and how long the run ran. */
export interface RunInfo {
  name: string;
  seed: number;
  /** The resolved recipe (defaults filled), as recipe.yaml holds it. */
  recipe: Record<string, unknown>;
  backend: { backend: string; reason: string; adapter?: string };
  versions: Record<string, string>;
  /** One entry per `train` invocation (a resumed run has several). */
  /** `failed`: why a session stopped early (the error's line), absent for a session that finished. */
  sessions: Array<
    { started: string; finished?: string; seconds?: number; fromStep: number; toStep?: number; failed?: string }
  >;
  /** Seconds of all finished sessions together. */
  wallSeconds: number;
}

/** One neighbour (or the query itself) in `report/examples.json`. */
export interface ExampleItem {
  /** Row in its split. */
  item: number;
  label: number;
  className: string;
  /** A PNG data URL, or null for items that are not images. */
  image: string | null;
}

/** `report/examples.json`: a fixed seeded set of queries and their nearest neighbours. */
export interface RetrievalExamples {
  /** "test" (neighbours from the same split, the query left out) or "query → gallery". */
  split: string;
  metric: "cosine" | "euclidean";
  queries: Array<
    ExampleItem & { neighbours: Array<ExampleItem & { correct: boolean; score: number }> }
  >;
}

/** `report/embedding.json`: a seeded subsample of the test embeddings projected to 2-D. */
export interface EmbeddingMap {
  split: string;
  /** Rows in the split, of which `items` were drawn. */
  total: number;
  items: number[];
  labels: number[];
  classNames: string[];
  /** Row-major [n, 2]; `explained`: each axis's share of the variance. */
  pca: { points: number[]; explained: [number, number] };
  /** Row-major [n, 2], or why there is none. */
  umap: { points: number[] } | { error: string };
}
