/**
 * Multi-head dot-product attention over the fully connected batch graph, self-loops included
 * (`MultiHeadDotProduct` of the official code, in its dense form: with `thresh: "no"` the edge
 * list is every ordered pair, so scatter-add over edges is a matrix product).
 *
 * For target i and every source j (i itself included), per head m with `d_h = D / H`:
 *   s_ij = q_i · k_j / √d_h
 *   α_ij = exp(s_ij) / (1 + Σ_j' exp(s_ij'))   (sinkLogit: the official "+1", a 0-logit sink)
 *   α_ij = exp(s_ij) / Σ_j' exp(s_ij')         (plain softmax, as the paper describes it)
 *   m_i  = Σ_j α_ij v_j                        (aggregator "add")
 * Heads are contiguous slices of the projections and are concatenated before `W_o`.
 *
 * ```ts
 * const out = multiHeadAttention(h, weights, { heads: 2, sinkLogit: true }); // [G, n, D]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor3D } from "@tensorflow/tfjs-core";
import { linear } from "./linear.ts";

/** The projections of one attention block, `[D, D]` weights and `[D]` biases (no q, k for uniform scores). */
export interface AttentionWeights {
  wq?: Tensor;
  bq?: Tensor;
  wk?: Tensor;
  bk?: Tensor;
  wv: Tensor;
  bv: Tensor;
  wo: Tensor;
  bo: Tensor;
}

export interface AttentionOptions {
  heads: number;
  /** Normalise with an extra logit fixed at 0 (the official code); false: plain softmax. */
  sinkLogit: boolean;
  /** `dot`: scores q·k/√d_h; `uniform`: all scores 0 (message passing without attention weights). */
  scores?: "dot" | "uniform";
  /** Whether a node also attends to itself (the method: yes). */
  selfLoops?: boolean;
  /** Applied to the attention weights α (dropout, training only). */
  dropout?: (alpha: Tensor) => Tensor;
}

/** Row-normalises scores `[..., n, n]` over the sources (last axis): sink or plain softmax. */
export function normaliseScores(s: Tensor, sinkLogit: boolean): Tensor {
  return tf.tidy(() => {
    if (!sinkLogit) return tf.softmax(s);
    // softmax over [s | 0] then drop the sink: exp(s) / (1 + Σ exp(s)), stable for any score size.
    const n = s.shape[s.rank - 1];
    const sink = tf.zeros([...s.shape.slice(0, -1), 1]);
    const withSink = tf.softmax(tf.concat([s, sink], -1));
    return tf.slice(withSink, new Array(s.rank).fill(0), [...s.shape.slice(0, -1), n]);
  });
}

/** `[G, n, D]` -> `[G·H, n, d_h]`: head m is the contiguous slice [m·d_h, (m+1)·d_h). */
function splitHeads(x: Tensor3D, heads: number): Tensor3D {
  const [g, n, d] = x.shape;
  const split = tf.transpose(tf.reshape(x, [g, n, heads, d / heads]), [0, 2, 1, 3]);
  return tf.reshape(split, [g * heads, n, d / heads]);
}

/** `[G·H, n, d_h]` -> `[G, n, D]`, heads concatenated in order. */
function mergeHeads(x: Tensor3D, groups: number): Tensor3D {
  const [gh, n, dh] = x.shape;
  const heads = gh / groups;
  const merged = tf.transpose(tf.reshape(x, [groups, heads, n, dh]), [0, 2, 1, 3]);
  return tf.reshape(merged, [groups, n, heads * dh]);
}

/** The attention weights α `[G·H, n, n]` of node features `h` `[G, n, D]`. */
export function attentionWeights(h: Tensor3D, w: AttentionWeights, opts: AttentionOptions): Tensor3D {
  return tf.tidy(() => {
    const [g, n, d] = h.shape;
    let s: Tensor;
    if ((opts.scores ?? "dot") === "dot") {
      if (!w.wq || !w.wk) throw new Error("dot-product attention needs the query and key projections");
      const q = splitHeads(linear(h, w.wq, w.bq), opts.heads);
      const k = splitHeads(linear(h, w.wk, w.bk), opts.heads);
      s = tf.div(tf.matMul(q, k, false, true), Math.sqrt(d / opts.heads));
    } else {
      s = tf.zeros([g * opts.heads, n, n]);
    }
    // Without self-loops a node's own score is pushed to -∞ (its weight becomes 0).
    if (opts.selfLoops === false) s = tf.add(s, tf.mul(tf.eye(n), -1e9));
    return normaliseScores(s, opts.sinkLogit) as Tensor3D;
  });
}

/** Messages `W_o · concat_m(Σ_j α_ij v_j) + b_o` for every node: `[G, n, D]`. */
export function multiHeadAttention(h: Tensor3D, w: AttentionWeights, opts: AttentionOptions): Tensor3D {
  return tf.tidy(() => {
    let alpha: Tensor = attentionWeights(h, w, opts);
    if (opts.dropout) alpha = opts.dropout(alpha);
    const v = splitHeads(linear(h, w.wv, w.bv), opts.heads);
    const messages = mergeHeads(tf.matMul(alpha as Tensor3D, v), h.shape[0]);
    return linear(messages, w.wo, w.bo);
  });
}
