/**
 * Optional test-time MPN (the official "pseudo" modes): each query gets a small graph of its
 * k-reciprocal nearest neighbours, the trained MPN runs on it, and the refined, L2-normalised
 * embedding of the query (node 0) replaces its backbone embedding. Then the wrapped evaluator
 * (`retrieval` by default) scores the refined embeddings.
 *
 * One-set mode (CUB, Cars, SOP): every item is refined, graphs of `size` = 7 over the same set.
 * Query/gallery mode (In-Shop): only queries are refined, each with `size − 1` = 3 gallery items;
 * gallery embeddings stay the backbone's.
 *
 * ```yaml
 * eval: { use: mpn-refine, every: 1, k1: 30, size: 7, base: { use: retrieval, recallAt: [1, 2, 4, 8] } }
 * ```
 */
import { tf } from "../../core/tf.ts";
import { DmlError } from "../../core/errors.ts";
import type { Evaluator, Split } from "../../core/types.ts";
import type { Tensor3D } from "@tensorflow/tfjs-core";
import type { MessagePassingNetwork } from "./network.ts";
import { normalizeRows, reciprocalGalleryGraphs, reciprocalGraphs, type Rows } from "./reciprocal.ts";

export interface RefineOptions {
  k1: number;
  size: number;
  /** Graphs per MPN call. */
  chunk?: number;
  path?: string;
}

/** Runs `network` on the graphs `[anchors, size]` of rows from `pools` and returns node 0's refined rows. */
export async function refineAnchors(
  network: MessagePassingNetwork,
  nodeRows: (graph: number, slot: number) => Float32Array,
  anchors: number,
  size: number,
  dim: number,
  chunk = 256,
): Promise<Rows> {
  const outDim = network.outDim;
  const data = new Float32Array(anchors * outDim);
  for (let start = 0; start < anchors; start += chunk) {
    const count = Math.min(chunk, anchors - start);
    const nodes = new Float32Array(count * size * dim);
    for (let g = 0; g < count; g++) {
      for (let s = 0; s < size; s++) nodes.set(nodeRows(start + g, s), (g * size + s) * dim);
    }
    const anchorRows = tf.tidy(() => {
      const refined = network.refine(tf.tensor3d(nodes, [count, size, dim]) as Tensor3D);
      return tf.slice(refined, [0, 0, 0], [count, 1, outDim]);
    });
    data.set(await anchorRows.data(), start * outDim);
    anchorRows.dispose();
  }
  return { data, n: anchors, dim: outDim };
}

/** Refines `query` (and, in one-set mode, it is also the gallery) with `network`. */
export async function refineSplit(
  network: MessagePassingNetwork,
  query: Split,
  gallery: Split | undefined,
  opts: RefineOptions,
): Promise<Split> {
  const path = opts.path ?? "eval";
  if (query.dim !== network.config.inDim) {
    throw new DmlError(
      `${path}: embeddings have dimension ${query.dim}, the trained MPN expects ${network.config.inDim}`,
    );
  }
  const q = normalizeRows(query);
  const row = (rows: Rows, i: number) => rows.data.subarray(i * rows.dim, (i + 1) * rows.dim);
  if (!gallery) {
    const { graphs, size } = await reciprocalGraphs(q, opts);
    const refined = await refineAnchors(network, (a, s) => row(q, graphs[a * size + s]), q.n, size, q.dim, opts.chunk);
    return { ...refined, labels: query.labels };
  }
  if (network.outDim !== gallery.dim) {
    throw new DmlError(
      `${path}: refined queries (${network.outDim}-d, concatLayers) cannot be compared with ${gallery.dim}-d gallery embeddings`,
    );
  }
  const g = normalizeRows(gallery);
  const { graphs, size } = await reciprocalGalleryGraphs(q, g, opts);
  const refined = await refineAnchors(
    network,
    (a, s) => s === 0 ? row(q, a) : row(g, graphs[a * (size - 1) + s - 1]),
    q.n,
    size,
    q.dim,
    opts.chunk,
  );
  return { ...refined, labels: query.labels };
}

/** The `mpn-refine` evaluator: refine with the run's trained MPN, then delegate to `base`. */
export class MpnRefineEvaluator implements Evaluator {
  constructor(
    private readonly base: Evaluator,
    private readonly network: () => MessagePassingNetwork | undefined,
    private readonly opts: RefineOptions,
  ) {}

  async evaluate(query: Split, gallery?: Split): Promise<Record<string, number>> {
    const network = this.network();
    if (!network) {
      throw new DmlError(
        `${
          this.opts.path ?? "eval"
        }: mpn-refine needs a trained MPN: use it with loss 'mpn' (mpnWeight > 0) in the same run`,
      );
    }
    const refined = await refineSplit(network, query, gallery, this.opts);
    return await this.base.evaluate(
      refined,
      gallery ? { ...normalizeRows(gallery), labels: gallery.labels } : undefined,
    );
  }
}
