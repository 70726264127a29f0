/**
 * The `retrieval` evaluator: Recall@K, Precision@1, R-Precision, MAP@R, NMI (and optionally
 * pairwise F1) exactly as `shared/design/metrics.md` defines them, on one set or query/gallery.
 * The work is core/retrieval.ts, shared with `deno task eval`.
 *
 * ```ts
 * const ev = new RetrievalEvaluator({ recallAt: [1, 2, 4, 8], metric: "cosine", nmi: true });
 * const m = await ev.evaluate(testSplit); // { "recall@1": ..., "map@r": ..., nmi: ..., lone_queries: ... }
 * ```
 */
import type { Evaluator, Split } from "../../core/types.ts";
import { checkRetrievalLabels, evaluateRetrieval, type RetrievalOptions } from "../../core/retrieval.ts";

export class RetrievalEvaluator implements Evaluator {
  constructor(private readonly options: RetrievalOptions) {}

  /** One-set retrieval on `query` alone, or `query` against `gallery`. */
  check(queryLabels: Int32Array, galleryLabels?: Int32Array): void {
    checkRetrievalLabels(queryLabels, galleryLabels, this.options.recallAt);
  }

  evaluate(query: Split, gallery?: Split): Promise<Record<string, number>> {
    return evaluateRetrieval(query, gallery, this.options);
  }
}
