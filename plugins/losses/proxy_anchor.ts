/**
 * Proxy-Anchor loss (Kim et al., CVPR 2020), as the official code and PML's ProxyAnchorLoss:
 * one trainable proxy per class, cosine similarity s(x, p) of embeddings to proxies.
 *
 *   L = 1/|P⁺| Σ_{p ∈ P⁺} log(1 + Σ_{x ∈ X_p⁺} e^{−α (s(x,p) − δ)})
 *     + 1/|P|  Σ_{p ∈ P}  log(1 + Σ_{x ∈ X_p⁻} e^{ α (s(x,p) + δ)})
 * P⁺: the proxies with a positive in the batch; X_p⁺ / X_p⁻ the batch's embeddings of / not of p's class.
 * Proxies start as Kaiming-normal with fan-out (std √(2 / classes)), as in both codes.
 * Labels must lie in 0..classes−1. It compares with its proxies, so it takes no memory.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "proxy-anchor", {}, { dim: 128, classes: 100 });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { pairwise } from "../../core/pairs.ts";
import { DmlError } from "../../core/errors.ts";
import { num } from "../../core/options.ts";
import type { Rng } from "../../core/rng.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { classesAndDim, classWeights } from "./class_weights.ts";
import { anyKept, logOnePlusSumExp } from "./reduce.ts";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface ProxyAnchorOptions {
  alpha: number;
  delta: number;
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "proxy-anchor", ...)`). */
export class ProxyAnchorLoss implements Loss {
  readonly usesReference = false;
  /** [classes, dim] */
  readonly proxies: Variable;

  constructor(readonly o: ProxyAnchorOptions, classes: number, dim: number, rng: Rng, readonly path = "loss") {
    this.proxies = classWeights(classes, dim, Math.sqrt(2 / classes), rng);
  }

  get trainableWeights(): Variable[] {
    return [this.proxies];
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    if (ref) throw new DmlError(`${this.path}: proxy-anchor compares with its proxies and takes no memory`);
    return tf.tidy(() => {
      const { alpha, delta } = this.o;
      const classes = this.proxies.shape[0];
      const s = pairwise(e, this.proxies as Tensor2D, "cosine"); // [B, classes]
      const pos = tf.cast(tf.oneHot(y, classes), "float32") as Tensor2D;
      const neg = tf.sub(1, pos);
      const posTerm = logOnePlusSumExp(tf.mul(-alpha, tf.sub(s, delta)), pos, 0);
      const negTerm = logOnePlusSumExp(tf.mul(alpha, tf.add(s, delta)), neg, 0);
      const withPositives = tf.sum(anyKept(pos, 0));
      return tf.add(tf.div(tf.sum(posTerm), tf.maximum(withPositives, 1)), tf.div(tf.sum(negTerm), classes)) as Scalar;
    });
  }
}

/** The registry entry; in a recipe: `loss: { use: proxy-anchor, alpha: 32, delta: 0.1 }`. */
export const proxyAnchor: ComponentDef<Loss> = {
  kind: "loss",
  name: "proxy-anchor",
  doc: "Proxy-Anchor loss (Kim et al. 2020): one trainable proxy per class; no memory",
  options: {
    alpha: num(32, { gt: 0, max: 100, doc: "scale α" }),
    delta: num(0.1, { min: 0, max: 1, doc: "margin δ" }),
  },
  create(o: Options, ctx) {
    const { classes, dim } = classesAndDim(ctx, "proxy-anchor");
    return new ProxyAnchorLoss(o as ProxyAnchorOptions, classes, dim, ctx.rng.fork(), ctx.path);
  },
};
