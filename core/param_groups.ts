/**
 * The trainable weights of a run in groups, as an optimizer's per-group options address them
 * (PyTorch's param groups): `backbone` is the body, `head` the embedding head the backbone names
 * in its contract (`headWeights`), `loss` the loss's own weights (proxies, MPN's attention,
 * BIER's regressors).
 *
 * ```ts
 * const groups = paramGroups(backbone, loss); // { backbone: [...], head: [kernel, bias], loss: [...] }
 * ```
 */
import type { Variable } from "@tensorflow/tfjs-core";
import type { Backbone, Loss, ParamGroups } from "./types.ts";

export const PARAM_GROUPS = ["backbone", "head", "loss"] as const;
export type ParamGroup = (typeof PARAM_GROUPS)[number];

/** Splits the trainable weights; a frozen body leaves `backbone` empty, a head-less backbone `head`. */
export function paramGroups(backbone: Backbone, loss: Loss): ParamGroups {
  const head = new Set<Variable>(backbone.headWeights ?? []);
  return {
    backbone: backbone.trainableWeights.filter((v) => !head.has(v)),
    head: backbone.trainableWeights.filter((v) => head.has(v)),
    loss: [...(loss.trainableWeights ?? [])],
  };
}
