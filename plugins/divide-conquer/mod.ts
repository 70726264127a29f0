/**
 * Divide and Conquer the Embedding Space (Sanakoyeu et al., CVPR 2019), as
 * `shared/design/methods/bier_dnc.md` Part 2 specifies it:
 *
 * ```
 * split the D-dim embedding into K learners of D/K dims
 * every reclusterEvery epochs: k-means (K) on the L2-normalised training features,
 *                               clusters renamed to match the previous ones (Hungarian)
 * each step: a batch from one cluster k (classes × perClass), the loss on learner k's block
 * from fullEmbeddingFrom: the loss on the full embedding (still cluster batches)
 * from finetuneFrom: one cluster of all the data, the full embedding
 * ```
 *
 * A recipe uses the sampler and the loss together (the sampler owns the clustering; the loss
 * reads which cluster the batch came from):
 *
 * ```yaml
 * sampler: { use: divide-conquer, clusters: 4, classes: 20, perClass: 4, reclusterEvery: 2 }
 * loss: { use: divide-conquer, base: { use: margin, sampling: distance-weighted } }
 * ```
 */
import type { ComponentDef, CreateContext, Loss, Options, Plugin } from "../../core/types.ts";
import { bool, int, obj, str } from "../../core/options.ts";
import { DmlError } from "../../core/errors.ts";
import { Clustering, SHARED_KEY } from "./clustering.ts";
import { ClusterSampler } from "./sampler.ts";
import { LearnerLoss } from "./loss.ts";

const sampler: ComponentDef<ClusterSampler> = {
  kind: "sampler",
  name: "divide-conquer",
  doc: "Divide & conquer batches: k-means clusters of the training set (re-clustered every `reclusterEvery` " +
    "epochs, matched to the previous clusters by the Hungarian algorithm); each batch holds `classes` × `perClass` " +
    "samples of one cluster, clusters taking turns. Use with loss `divide-conquer`, which trains the batch's learner.",
  options: {
    clusters: int(8, { min: 1, doc: "K: clusters and learners; the embedding dim must be a multiple of K" }),
    classes: int(20, { min: 1, doc: "classes per batch (drawn with replacement from a cluster that has fewer)" }),
    perClass: int(4, { min: 1, doc: "samples per class in a batch" }),
    reclusterEvery: int(2, { min: 1, doc: "epochs between re-clusterings (T)" }),
    fullEmbeddingFrom: int(80, {
      min: 0,
      doc: "epoch from which the loss uses the full embedding on cluster batches (official: finetuneFrom·8/19)",
    }),
    finetuneFrom: int(190, { min: 0, doc: "epoch from which all data is one cluster (fine-tuning)" }),
    clusterOn: str(
      "penultimate",
      ["penultimate", "embedding"],
      "cluster the backbone's pre-head features or the embedding",
    ),
    merge: str(
      "over",
      ["over", "under"],
      "clusters take turns for the most (over) or fewest (under) batches a cluster has",
    ),
    kmeansIters: int(100, { min: 1, doc: "k-means iterations (faiss niter)" }),
    dropSingletons: bool(true, "leave out a sample that is the only one of its class in its cluster"),
    batchesPerEpoch: int(0, { min: 0, doc: "steps an epoch (cycling the turns); 0 = K × max_k |cluster k| // batch" }),
  },
  create(o: Options, ctx: CreateContext): ClusterSampler {
    const train = ctx.data?.train;
    if (!train) throw new DmlError(`${ctx.path}: the divide-conquer sampler needs the dataset`);
    const classes = new Set(train.labels).size;
    if (o.clusters > classes) {
      throw new DmlError(
        `${ctx.path}.clusters: ${o.clusters} clusters, but the training split has only ${classes} classes; ` +
          `set ${ctx.path}.clusters <= ${classes}`,
      );
    }
    if (ctx.dim !== undefined) checkDivisible(ctx.dim, o.clusters, `${ctx.path}.clusters`);
    if (ctx.shared.has(SHARED_KEY)) throw new DmlError(`${ctx.path}: a run can have only one divide-conquer sampler`);
    const clustering = new Clustering(o as never, train.labels, ctx.rng.nextUint32());
    ctx.shared.set(SHARED_KEY, clustering);
    return new ClusterSampler(clustering);
  },
};

const loss: ComponentDef<Loss> = {
  kind: "loss",
  name: "divide-conquer",
  doc: "Divide & conquer loss: the `base` loss on the learner block (D/K dims, one base instance per learner) of " +
    "the cluster the batch came from; on the full embedding from the sampler's fullEmbeddingFrom epoch. Needs " +
    "sampler `divide-conquer`. At test time each block is L2-normalised and the blocks concatenated.",
  options: {
    base: obj(
      { use: "margin", sampling: "distance-weighted", learnBeta: false },
      "the loss each learner trains, as a loss section (default: the official margin loss, β fixed at 1.2, DWS)",
    ),
    normalize: bool(true, "L2-normalise each block (and the full vector) before the base loss, as the official model"),
  },
  async create(o: Options, ctx: CreateContext): Promise<Loss> {
    const clustering = ctx.shared.get(SHARED_KEY) as Clustering | undefined;
    if (!clustering) {
      throw new DmlError(
        `${ctx.path}.use: the divide-conquer loss needs sampler: { use: divide-conquer } (which owns the clusters)`,
      );
    }
    const k = clustering.options.clusters;
    if (ctx.dim === undefined) throw new DmlError(`${ctx.path}: the divide-conquer loss needs the embedding dim`);
    checkDivisible(ctx.dim, k, "sampler.clusters");
    const base = (o.base ?? {}) as Record<string, unknown>;
    const path = `${ctx.path}.base`;
    if (typeof base.use !== "string") throw new DmlError(`${path}.use: expected the name of a loss, got ${base.use}`);
    if (base.use === "divide-conquer") throw new DmlError(`${path}.use: divide-conquer cannot wrap itself`);
    const make = (dim: number) => ctx.registry.create<Loss>("loss", base.use as string, base, { ...ctx, dim, path });
    // Independent instances, as the official crit[k]: a base with weights (proxies, β) gets its own per learner.
    const learners: Loss[] = [];
    for (let i = 0; i < k; i++) learners.push(await make(ctx.dim / k));
    const full = k === 1 ? learners[0] : await make(ctx.dim);
    return new LearnerLoss(clustering, learners, full, o.normalize);
  },
};

function checkDivisible(dim: number, k: number, path: string): void {
  if (dim % k !== 0) {
    throw new DmlError(
      `${path}: the embedding dim ${dim} is not divisible by ${k} clusters; learners need equal blocks ` +
        `(pick a dim that is a multiple of ${k}, e.g. ${Math.ceil(dim / k) * k})`,
    );
  }
}

/** The divide-and-conquer plugin: the cluster sampler and the learner loss. */
export const plugin: Plugin = { name: "divide-conquer", components: [sampler, loss] };
export default plugin;
