/**
 * Plugin `mpn`: "Learning Intra-Batch Connections for Deep Metric Learning" (Seidenschwarz,
 * Elezi, Leal-Taixé, ICML 2021). A message-passing network lets every sample of the batch attend
 * to every other one; a classifier on the refined features and one on the backbone embedding are
 * trained with label-smoothed cross-entropy. At test time the backbone embedding alone is used
 * (the `mpn-refine` evaluator optionally refines it over k-reciprocal neighbours).
 *
 * Components: loss `mpn`, evaluator `mpn-refine`.
 *
 * ```yaml
 * sampler: { use: m-per-class, classes: 6, perClass: 9 }
 * loss: { use: mpn, layers: 1, heads: 2, temperature: 0.2 }
 * optimizer: { use: radam, lr: 1.5637e-4, weightDecay: 6.0597e-6 }
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { bool, int, num, obj, str } from "../../core/options.ts";
import type { ComponentDef, Evaluator, Plugin } from "../../core/types.ts";
import { MPN_SHARED_KEY, MpnLoss } from "./loss.ts";
import type { AttentionKind, MessagePassingNetwork } from "./network.ts";
import { MpnRefineEvaluator } from "./refine_evaluator.ts";

const mpnLoss: ComponentDef<MpnLoss> = {
  kind: "loss",
  name: "mpn",
  doc: "Intra-batch message passing (MPN) + label-smoothed CE on MPN and backbone logits (Seidenschwarz et al. 2021)",
  options: {
    layers: int(1, { min: 0, doc: "message-passing steps (attention blocks); 0 keeps only the input projection" }),
    heads: int(2, { min: 1, doc: "attention heads; must divide the MPN dimension" }),
    dim: int(0, { min: 0, doc: "MPN width; 0 = the embedding dim (512 in the paper)" }),
    ffnMult: int(4, { min: 1, doc: "MLP hidden width = ffnMult × dim (2048 in the paper)" }),
    attention: str("dot", ["dot", "uniform", "none"], "dot: attention; uniform: equal weights; none: no messages"),
    sinkLogit: bool(true, "normalise attention with an extra 0 logit (official code); false: plain softmax"),
    selfLoops: bool(true, "each node also attends to itself (the method's graph)"),
    inputProjection: bool(true, "Linear(dim→dim) before the first block"),
    concatLayers: bool(false, "classify all blocks' outputs concatenated (Cars config)"),
    dropout: num(0.1, { min: 0, max: 0.99, doc: "dropout on attention weights and residual branches (training)" }),
    temperature: num(0.2, { gt: 0, doc: "both CEs use logits / T; per dataset (CUB 0.2)" }),
    labelSmoothing: num(0.1, { min: 0, max: 1, doc: "ε of the label-smoothed cross-entropy" }),
    backboneWeight: num(1, { min: 0, doc: "weight of the CE on the backbone logits" }),
    mpnWeight: num(1, { min: 0, doc: "weight of the CE on the MPN logits; 0 turns the MPN off (SOP config)" }),
  },
  create(o, ctx) {
    const p = ctx.path;
    if (ctx.dim === undefined) throw new DmlError(`${p}: the mpn loss needs the embedding dimension`);
    if (ctx.classes === undefined) throw new DmlError(`${p}: the mpn loss needs the number of training classes`);
    if (ctx.batchSize !== undefined && ctx.batchSize < 2) {
      throw new DmlError(`${p}: the mpn loss needs batches of at least 2 samples, the sampler gives ${ctx.batchSize}`);
    }
    const dim = o.dim === 0 ? ctx.dim : o.dim;
    if (dim % o.heads !== 0) {
      throw new DmlError(
        `${p}.heads: ${o.heads} heads do not divide the MPN dimension ${dim}${
          o.dim === 0 ? " (the embedding dim)" : ""
        }; pick a divisor`,
      );
    }
    if (!o.inputProjection && dim !== ctx.dim) {
      throw new DmlError(`${p}.dim: without the input projection it must equal the embedding dim ${ctx.dim}`);
    }
    const loss = new MpnLoss({
      inDim: ctx.dim,
      dim,
      layers: o.layers,
      heads: o.heads,
      ffnMult: o.ffnMult,
      attention: o.attention as AttentionKind,
      sinkLogit: o.sinkLogit,
      selfLoops: o.selfLoops,
      inputProjection: o.inputProjection,
      concatLayers: o.concatLayers,
      dropout: o.dropout,
      classes: ctx.classes,
      temperature: o.temperature,
      labelSmoothing: o.labelSmoothing,
      backboneWeight: o.backboneWeight,
      mpnWeight: o.mpnWeight,
      path: p,
    }, ctx.rng.fork());
    if (loss.network) ctx.shared.set(MPN_SHARED_KEY, loss.network);
    return loss;
  },
};

const mpnRefine: ComponentDef<Evaluator> = {
  kind: "evaluator",
  name: "mpn-refine",
  doc: "Test-time MPN: refine each query over its k-reciprocal neighbours with the trained MPN, then evaluate",
  options: {
    base: obj({ use: "retrieval" }, "the evaluator that scores the refined embeddings"),
    k1: int(30, { min: 1, doc: "k of the k-reciprocal neighbour search" }),
    size: int(7, { min: 2, doc: "nodes per test graph, anchor included (CUB/Cars 7, In-Shop 4)" }),
  },
  async create(o, ctx) {
    const { use, ...rest } = (o.base ?? {}) as Record<string, unknown>;
    if (typeof use !== "string") {
      throw new DmlError(`${ctx.path}.base.use: expected the name of an evaluator, got ${JSON.stringify(use)}`);
    }
    const base = await ctx.registry.create<Evaluator>("evaluator", use, rest, { ...ctx, path: `${ctx.path}.base` });
    // Looked up at evaluation time: the loss may be created after the evaluator, or restored.
    const network = () => ctx.shared.get(MPN_SHARED_KEY) as MessagePassingNetwork | undefined;
    return new MpnRefineEvaluator(base, network, { k1: o.k1, size: o.size, path: ctx.path });
  },
};

export const plugin: Plugin = { name: "mpn", components: [mpnLoss as ComponentDef, mpnRefine as ComponentDef] };
export default plugin;

export { MPN_SHARED_KEY, MpnLoss } from "./loss.ts";
export { DEFAULT_NETWORK, MessagePassingNetwork } from "./network.ts";
export { MpnRefineEvaluator, refineSplit } from "./refine_evaluator.ts";
