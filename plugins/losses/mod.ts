/**
 * The standard losses. Pair losses compare anchors with the batch or with a memory through
 * `core/pairs.ts` (self pairs removed by index); proxy and softmax losses compare with their own
 * trainable class weights and take no memory.
 *
 * ```ts
 * import losses from "./plugins/losses/mod.ts";
 * registry.register(losses);
 * const loss = await registry.create<Loss>("loss", "multi-similarity", {});
 * ```
 */
import type { Plugin } from "../../core/types.ts";
import { binomialDeviance } from "./binomial_deviance.ts";
import { circle } from "./circle.ts";
import { contrastive } from "./contrastive.ts";
import { margin } from "./margin.ts";
import { arcface, cosface } from "./margin_softmax.ts";
import { multiSimilarity } from "./multi_similarity.ts";
import { normalizedSoftmax } from "./normalized_softmax.ts";
import { proxyAnchor } from "./proxy_anchor.ts";
import { proxyNca } from "./proxy_nca.ts";
import { sum } from "./sum.ts";
import { supcon } from "./supcon.ts";
import { triplet } from "./triplet.ts";

/** The `losses` plugin (registered by plugins/builtin.ts). */
export const plugin: Plugin = {
  name: "losses",
  components: [
    contrastive,
    triplet,
    multiSimilarity,
    margin,
    binomialDeviance,
    proxyAnchor,
    proxyNca,
    normalizedSoftmax,
    supcon,
    circle,
    arcface,
    cosface,
    sum,
  ],
};

export default plugin;
