/**
 * An example plugin: the generalised lifted-structure loss of Hermans et al. (2017, eq. 5),
 *
 *   L_i = [ log Σ_{p∈P(i)} exp(d_ip) + log Σ_{n∈N(i)} exp(m − d_in) ]_+ ,
 *
 * with d the Euclidean distance of L2-normalised embeddings, averaged over anchors that have
 * both a positive and a negative. It accepts a memory's reference set like every built-in loss,
 * because `pairMatrix` handles references and self pairs.
 *
 * Use it from a recipe by path:
 * ```yaml
 * plugins: [./mod.ts]
 * loss: { use: lifted, margin: 1.0 }
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import type { Loss, Plugin, Reference } from "../../core/types.ts";
import { num } from "../../core/options.ts";
import { l2normalize, pairMatrix } from "../../core/pairs.ts";

/** log Σ exp(x) over the entries where mask is 1; -Infinity-safe for empty rows (they are dropped later). */
function maskedLogSumExp(x: Tensor2D, mask: Tensor2D): Tensor1D {
  return tf.tidy(() => {
    const masked = tf.add(x, tf.mul(tf.sub(mask, 1), 1e9));
    return tf.logSumExp(masked, 1) as Tensor1D;
  });
}

export class LiftedLoss implements Loss {
  constructor(private margin: number) {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      // pairMatrix gives distances to the references (the batch, or a memory) and the
      // positive / negative masks with each anchor's own copy removed by index.
      const { sim: d, pos, neg } = pairMatrix(l2normalize(e), y, ref && { ...ref, e: l2normalize(ref.e) }, "euclidean");
      const perAnchor = tf.relu(tf.add(maskedLogSumExp(d, pos), maskedLogSumExp(tf.sub(this.margin, d), neg)));
      const valid = tf.mul(
        tf.cast(tf.greater(tf.sum(pos, 1), 0), "float32"),
        tf.cast(tf.greater(tf.sum(neg, 1), 0), "float32"),
      );
      return tf.div(tf.sum(tf.mul(perAnchor, valid)), tf.maximum(tf.sum(valid), 1)) as Scalar;
    });
  }
}

export const plugin: Plugin = {
  name: "example-lifted",
  components: [{
    kind: "loss",
    name: "lifted",
    doc: "generalised lifted-structure loss (Hermans et al. 2017)",
    options: { margin: num(1.0, { min: 0, doc: "margin m on negative distances" }) },
    create: (o) => new LiftedLoss(o.margin),
  }],
};

export default plugin;
