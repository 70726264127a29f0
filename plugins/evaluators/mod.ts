/**
 * Evaluators: `retrieval`, the metrics the field reports (Recall@K, Precision@1, R-Precision,
 * MAP@R, NMI, F1), exact at Stanford Online Products scale.
 *
 * ```yaml
 * eval: { use: retrieval, every: 1, recallAt: [1, 2, 4, 8], metric: cosine, nmi: true }
 * ```
 */
import type { Plugin } from "../../core/types.ts";
import { bool, int, nums, str } from "../../core/options.ts";
import { RetrievalEvaluator } from "./retrieval.ts";

export const plugin: Plugin = {
  name: "evaluators",
  components: [
    {
      kind: "evaluator",
      name: "retrieval",
      doc: "Recall@K, Precision@1, R-Precision, MAP@R (PML definitions), k-means NMI and pairwise F1",
      options: {
        recallAt: nums([1, 2, 4, 8], { min: 1, integer: true, doc: "the K of each Recall@K" }),
        metric: str("cosine", ["cosine", "euclidean"], "cosine (on L2-normalised embeddings) or Euclidean distance"),
        center: bool(false, "subtract the reference set's mean before the metric, as the raw-pixel baseline is"),
        average: str(
          "queries",
          ["queries", "classes"],
          "queries: every non-lone query weighs the same; classes: average per query class first (PML avg_of_avgs)",
        ),
        nmi: bool(true, "k-means NMI on the query embeddings (clusters = classes)"),
        f1: bool(false, "pairwise F1 of the same k-means clustering"),
        mrr: bool(false, "mean reciprocal rank of the first relevant item over the whole ranking (PML's)"),
        ami: bool(false, "adjusted mutual information of the same k-means clustering (sklearn's, as PML reports)"),
        fnmrAtFmr: nums([], {
          min: 0,
          max: 1,
          doc:
            "false match rates: FNMR and the distance threshold at each, over every query-gallery pair (OML's fnmr@fmr)",
        }),
        k: int(0, {
          min: 0,
          doc:
            "neighbours listed per query; 0: the largest class size less the query (exact MAP@R); Recall@K needs no list",
        }),
        chunk: int(0, { min: 0, doc: "query rows per similarity chunk; 0: chunk × gallery near 2^24 scores" }),
        engine: str("auto", ["auto", "backend", "native"], "kNN engine: tfjs backend, BLAS (native), or auto"),
        seed: int(0, { min: 0, doc: "seed of the k-means++ draw" }),
        kmeansIters: int(20, { min: 1, doc: "Lloyd iterations of the NMI k-means (faiss niter)" }),
      },
      create: (o) => new RetrievalEvaluator(o),
    },
  ],
};

export default plugin;
