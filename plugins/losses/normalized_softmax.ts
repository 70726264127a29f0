/**
 * Normalized softmax loss (Zhai & Wu, "Classification is a strong baseline for deep metric
 * learning", BMVC 2019), as PML's NormalizedSoftmaxLoss: cross-entropy over the cosine similarities
 * of an embedding to one trainable weight vector per class, divided by a temperature.
 *
 *   ℓ_i = −log softmax_c(cos(x_i, w_c) / T)[y_i];   L = mean over the B anchors (PML MeanReducer)
 * Weights start N(0, 1) as PML's default. Labels must lie in 0..classes−1. No memory. It is the
 * margin softmax of margin_softmax.ts with no margin and scale 1 / T.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "normalized-softmax", { temperature: 0.05 }, { dim: 64, classes: 100 });
 * ```
 */
import { num } from "../../core/options.ts";
import type { ComponentDef, Loss, Options } from "../../core/types.ts";
import { createMarginSoftmax, noMargin } from "./margin_softmax.ts";

/** The registry entry; in a recipe: `loss: { use: normalized-softmax, temperature: 0.05 }`. */
export const normalizedSoftmax: ComponentDef<Loss> = {
  kind: "loss",
  name: "normalized-softmax",
  doc: "normalized softmax (Zhai & Wu 2019): cross-entropy on cosine to trainable class weights / T; no memory",
  options: {
    temperature: num(0.05, { gt: 0, max: 10, doc: "softmax temperature T" }),
  },
  create: (o: Options, ctx) => createMarginSoftmax(ctx, "normalized-softmax", noMargin, 1 / (o.temperature as number)),
};
