/**
 * Triplet margin loss (Weinberger & Saul; Schroff et al. 2015) on L2-normalised embeddings.
 *
 * Per triplet (a, p, n): max(0, d(a,p) − d(a,n) + margin) on the Euclidean distance, or
 * max(0, s(a,n) − s(a,p) + margin) on the cosine similarity. Reduction: PML AvgNonZeroReducer —
 * the mean over the triplets whose loss is non-zero (0 when there is none).
 *
 * Mining (which triplets): `all` (PML's default: every positive with every negative of the anchor),
 * `batch-hard` (Hermans et al. 2017, PML BatchHardMiner: the farthest positive and the closest
 * negative of each anchor that has both), `semi-hard` (Schroff et al.; PML TripletMarginMiner
 * "semihard" with the loss's margin: negatives with 0 < d(a,n) − d(a,p) ≤ margin).
 *
 * Default margin 0.2: the FaceNet value on normalised embeddings, the default of PML's
 * TripletMarginMiner and of the Roth et al. (2020) benchmark. PML's loss default, 0.05, is small for
 * distances in [0, 2]: most triplets stop contributing early.
 *
 * `all` and `semi-hard` never materialise the B × N × N triplets: per anchor the negatives' distances
 * are sorted once, and for a positive at distance d_p with x = d_p + margin the active terms are the
 * negatives with z < x: Σ (x − z) = c·x − (sum of the c smallest z), c = #{z < x} by binary search.
 * That is exact, gradient included, in O(B N log N) — against a memory too.
 *
 * ```ts
 * const loss = await registry.create<Loss>("loss", "triplet", { mining: "batch-hard" });
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { l2normalize, pairMatrix } from "../../core/pairs.ts";
import { num, str } from "../../core/options.ts";
import type { ComponentDef, Loss, Options, Reference } from "../../core/types.ts";
import { noGrad } from "./no_grad.ts";
import { anyKept, avgNonZero } from "./reduce.ts";

const FAR = 1e4;

/** Which triplets the loss uses. */
export type Mining = "all" | "batch-hard" | "semi-hard";

/** Validated options (defaults and ranges in the schema of the registry entry below). */
export interface TripletOptions {
  margin: number;
  mining: Mining;
  metric: "euclidean" | "cosine";
}

/** The loss; recipes and code build it through the registry (`registry.create("loss", "triplet", ...)`). */
export class TripletLoss implements Loss {
  readonly usesReference = true;
  constructor(readonly o: TripletOptions, readonly path = "loss") {}

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    return tf.tidy(() => {
      const en = l2normalize(e);
      const r = ref ? { ...ref, e: l2normalize(ref.e) } : undefined;
      const { sim, pos, neg, isSimilarity } = pairMatrix(en, y, r, this.o.metric);
      // One convention below: larger d = farther apart.
      const d = isSimilarity ? tf.neg(sim) : sim;
      if (this.o.mining === "batch-hard") return batchHard(d, pos, neg, this.o.margin);
      return sortedTriplets(d, pos, neg, this.o.margin, this.o.mining === "semi-hard");
    });
  }
}

/**
 * Mean of the non-zero max(0, d(a,p) − d(a,n) + margin) over all (a, p, n) — or over the semi-hard
 * ones, d(a,p) < d(a,n) ≤ d(a,p) + margin — from each anchor's sorted negative distances.
 */
function sortedTriplets(d: Tensor2D, pos: Tensor2D, neg: Tensor2D, margin: number, semiHard: boolean): Scalar {
  const [b, n] = d.shape;
  // Non-negatives sort last, beyond every x, so no count ever reaches them.
  const z = tf.add(tf.mul(d, neg), tf.mul(tf.sub(1, neg), FAR)) as Tensor2D;
  const order = noGrad([z], (v) => tf.topk(tf.neg(v), n).indices);
  const sorted = takeAlongRows(z, order); // ascending per row
  const prefix = tf.concat([tf.zeros([b, 1]), tf.cumsum(sorted, 1)], 1) as Tensor2D; // [B, N + 1]: Σ of the k smallest
  const x = tf.add(d, margin); // a positive's threshold: negatives below it are active
  // Ranks in the sorted negatives: `floor` = #{z ≤ d} (semi-hard; else 0), `upper` = max(#{z < x}, floor).
  const floor = semiHard ? noGrad([sorted, d], (s, v) => tf.searchSorted(s, v, "right")) : tf.zeros([b, n], "int32");
  const upper = noGrad([sorted, x, floor], (s, v, f) => tf.maximum(tf.searchSorted(s, v, "left"), f));
  const count = noGrad([upper, floor, pos], (u, f, p) => tf.mul(tf.cast(tf.sub(u, f), "float32"), p));
  const total = tf.mul(
    tf.sub(tf.mul(count, x), tf.sub(takeAlongRows(prefix, upper), takeAlongRows(prefix, floor))),
    pos,
  );
  return tf.div(tf.sum(total), tf.maximum(tf.sum(count), 1)) as Scalar;
}

/**
 * out[i, k] = x[i, idx[i, k]], differentiable in x only. tfjs's batched gather has no usable
 * gradient, and indices on the tape break it, so this is its own op: a flat gather forward, a
 * scatter-add of dy backward (scatterND sums repeated indices; unsortedSegmentSum is O(B²N²) on cpu).
 */
function takeAlongRows(x: Tensor2D, idx: Tensor): Tensor2D {
  const [b, n] = x.shape;
  const k = idx.shape[1] as number;
  const op = tf.customGrad((...args: unknown[]) => {
    const [v, save] = args as [Tensor, (ts: Tensor[]) => void];
    const flat = tf.tidy(() => {
      const rowStart = tf.mul(tf.reshape(tf.range(0, b, 1, "int32"), [b, 1]), tf.scalar(n, "int32"));
      return tf.reshape(tf.add(idx, rowStart), [-1]);
    });
    save([flat]);
    return {
      value: tf.reshape(tf.gather(tf.reshape(v, [-1]), flat), [b, k]),
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tf.reshape(tf.scatterND(tf.reshape(saved[0], [-1, 1]), tf.reshape(dy, [-1]), [b * n]), [b, n]),
    };
  });
  return op(x) as Tensor2D;
}

/** One triplet per anchor: its farthest positive and closest negative (anchors lacking either skip). */
function batchHard(d: Tensor2D, pos: Tensor2D, neg: Tensor2D, margin: number): Scalar {
  const n = d.shape[1];
  const [hardPos, hardNeg] = [0, 1].map((which) =>
    noGrad(
      [d, pos, neg],
      (x, p, q) =>
        which === 0
          ? tf.oneHot(tf.argMax(tf.sub(tf.mul(x, p), tf.mul(tf.sub(1, p), FAR)), 1), n)
          : tf.oneHot(tf.argMin(tf.add(tf.mul(x, q), tf.mul(tf.sub(1, q), FAR)), 1), n),
    )
  );
  const dap = tf.sum(tf.mul(d, hardPos), 1);
  const dan = tf.sum(tf.mul(d, hardNeg), 1);
  const valid = tf.mul(anyKept(pos, 1), anyKept(neg, 1));
  return avgNonZero(tf.relu(tf.add(tf.sub(dap, dan), margin)), valid);
}

/** The registry entry; in a recipe: `loss: { use: triplet, mining: batch-hard, margin: 0.2 }`. */
export const triplet: ComponentDef<Loss> = {
  kind: "loss",
  name: "triplet",
  doc: "triplet margin loss on normalised embeddings; mining all, batch-hard or semi-hard; mean of non-zero triplets",
  options: {
    margin: num(0.2, { min: 0, max: 4, doc: "hinge margin between the positive and the negative" }),
    mining: str("all", ["all", "batch-hard", "semi-hard"], "which triplets: all, hardest per anchor, or semi-hard"),
    metric: str(
      "euclidean",
      ["euclidean", "cosine"],
      "Euclidean distance or cosine similarity of normalised embeddings",
    ),
  },
  create(o: Options, ctx) {
    return new TripletLoss(o as TripletOptions, ctx.path);
  },
};
