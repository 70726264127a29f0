/**
 * ProxyNCA (Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies", ICCV 2017):
 * one trainable proxy per class, and NCA on the squared distances between the L2-normalised
 * embedding x̂ and proxies p̂, scaled by s:
 *
 *   ℓ_i = −log( e^{−s‖x̂_i − p̂_y‖²} / Σ_{c ∈ D} e^{−s‖x̂_i − p̂_c‖²} );   L = mean over the B anchors
 *
 * `denominator: negatives` (the paper) sums over the other classes only, so ℓ can go below zero;
 * `all` also sums over the positive proxy, as PML's ProxyNCALoss and ProxyNCA++ do. Since
 * ‖x̂ − p̂‖² = 2 − 2 cos, this is a softmax on 2s · cos: with `all` it equals normalized-softmax at
 * T = 1 / (2s), which is how it is computed (margin_softmax.ts). Default s = 9: Roth et al.'s
 * implementation scales both vectors by 3; PML's default is 1, which trains slowly. No memory.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "proxy-nca", { scale: 9 }, { dim: 128, classes: 100 });
 * ```
 */
import { num, str } from "../../core/options.ts";
import type { ComponentDef, Loss, Options } from "../../core/types.ts";
import { createMarginSoftmax, noMargin } from "./margin_softmax.ts";

/** The registry entry; in a recipe: `loss: { use: proxy-nca, scale: 9, denominator: negatives }`. */
export const proxyNca: ComponentDef<Loss> = {
  kind: "loss",
  name: "proxy-nca",
  doc: "ProxyNCA (Movshovitz-Attias et al. 2017): NCA on scaled squared distances to class proxies; no memory",
  options: {
    scale: num(9, { gt: 0, max: 1024, doc: "s: logits are −s‖x̂ − p̂‖² (Roth et al.: 9; PML: 1)" }),
    denominator: str(
      "negatives",
      ["negatives", "all"],
      "negatives: the other classes' proxies (the paper); all: every proxy (PML, ProxyNCA++)",
    ),
  },
  create: (o: Options, ctx) =>
    createMarginSoftmax(ctx, "proxy-nca", noMargin, 2 * (o.scale as number), o.denominator === "negatives"),
};
