/**
 * The message-passing network (MPN) over a mini-batch: an input projection, then `layers`
 * attention blocks over the fully connected graph of the batch (self-loops included). Its output
 * (the last block's, or all blocks' concatenated with `concatLayers`) feeds the MPN classifier in
 * training and, L2-normalised, the optional test-time refinement.
 *
 * Node features are `[G, n, D]`: G independent graphs of n nodes (training uses G = 1, the batch;
 * test-time refinement runs one small graph per query). Dropout draws its seeds from the
 * network's own {@link Rng}, which checkpoints keep, so a resumed run drops the same units.
 *
 * ```ts
 * const net = new MessagePassingNetwork({ ...DEFAULT_NETWORK, inDim: 512, dim: 512, heads: 2 }, rng);
 * const refined = net.forward(tf.expandDims(l2normalize(e), 0) as tf.Tensor3D, true); // [1, B, 512]
 * ```
 */
import { tf } from "../../core/tf.ts";
import { Rng } from "../../core/rng.ts";
import type { Tensor, Tensor3D, Variable } from "@tensorflow/tfjs-core";
import type { AttentionWeights } from "./attention.ts";
import { messagePassingStep, type StepWeights } from "./block.ts";
import { constant, torchLinearBias, torchLinearWeight, xavierUniform } from "./init.ts";
import { linear } from "./linear.ts";

/** How the nodes exchange messages: attention weights, uniform weights, or not at all. */
export type AttentionKind = "dot" | "uniform" | "none";

export interface NetworkConfig {
  /** Width of the node features it receives (the embedding dim). */
  inDim: number;
  /** Width inside the MPN (512 in the paper, the embedding dim). */
  dim: number;
  layers: number;
  heads: number;
  /** The MLP's hidden width is `ffnMult · dim` (4 → 2048 in the paper). */
  ffnMult: number;
  attention: AttentionKind;
  sinkLogit: boolean;
  selfLoops: boolean;
  inputProjection: boolean;
  concatLayers: boolean;
  dropout: number;
}

/** The official code's settings (CUB size: 1 layer, 2 heads). */
export const DEFAULT_NETWORK: Omit<NetworkConfig, "inDim" | "dim"> = {
  layers: 1,
  heads: 2,
  ffnMult: 4,
  attention: "dot",
  sinkLogit: true,
  selfLoops: true,
  inputProjection: true,
  concatLayers: false,
  dropout: 0.1,
};

export class MessagePassingNetwork {
  readonly config: NetworkConfig;
  /** Width of {@link forward}'s output: `dim`, or `layers · dim` with `concatLayers`. */
  readonly outDim: number;
  readonly trainableWeights: Variable[];
  private readonly projection?: { w: Variable; b: Variable };
  private readonly steps: StepWeights[] = [];
  private dropoutRng: Rng;

  /** `initRng` draws the initial weights; the dropout stream is forked from it. */
  constructor(config: NetworkConfig, initRng: Rng) {
    const { inDim, dim, layers, heads, ffnMult } = config;
    if (dim % heads !== 0) throw new Error(`MPN: ${heads} heads do not divide the dimension ${dim}`);
    if (!config.inputProjection && inDim !== dim) {
      throw new Error(`MPN: without the input projection the dimension must equal the input's (${inDim}), got ${dim}`);
    }
    this.config = config;
    this.dropoutRng = initRng.fork();
    const weights: Variable[] = [];
    if (config.inputProjection) {
      this.projection = { w: torchLinearWeight(initRng, inDim, dim), b: torchLinearBias(initRng, inDim, dim) };
      weights.push(this.projection.w, this.projection.b);
    }
    for (let l = 0; l < layers; l++) {
      let attention: AttentionWeights | undefined;
      if (config.attention !== "none") {
        // Uniform weights need no queries or keys (they would get no gradient).
        const scored = config.attention === "dot";
        attention = {
          wq: scored ? xavierUniform(initRng, dim, dim) : undefined,
          bq: scored ? constant(dim, 0) : undefined,
          wk: scored ? xavierUniform(initRng, dim, dim) : undefined,
          bk: scored ? constant(dim, 0) : undefined,
          wv: xavierUniform(initRng, dim, dim),
          bv: constant(dim, 0),
          wo: xavierUniform(initRng, dim, dim),
          bo: constant(dim, 0),
        };
        const a = attention;
        weights.push(...[a.wq, a.bq, a.wk, a.bk, a.wv, a.bv, a.wo, a.bo].filter((v) => v) as Variable[]);
      }
      const hidden = ffnMult * dim;
      const step: StepWeights = {
        attention,
        ln1Gamma: constant(dim, 1),
        ln1Beta: constant(dim, 0),
        w1: torchLinearWeight(initRng, dim, hidden),
        b1: torchLinearBias(initRng, dim, hidden),
        w2: torchLinearWeight(initRng, hidden, dim),
        b2: torchLinearBias(initRng, hidden, dim),
        ln2Gamma: constant(dim, 1),
        ln2Beta: constant(dim, 0),
      };
      this.steps.push(step);
      weights.push(
        ...[step.ln1Gamma, step.ln1Beta, step.w1, step.b1, step.w2, step.b2, step.ln2Gamma, step.ln2Beta] as Variable[],
      );
    }
    this.trainableWeights = weights;
    this.outDim = config.concatLayers && layers > 0 ? layers * dim : dim;
  }

  /** Node features `[G, n, inDim]` -> MPN features `[G, n, outDim]`; dropout only when `training`. */
  forward(x: Tensor3D, training: boolean): Tensor3D {
    return tf.tidy(() => {
      const { dropout, heads, sinkLogit, selfLoops, attention } = this.config;
      const drop = training && dropout > 0
        ? (t: Tensor) => tf.dropout(t, dropout, undefined, this.dropoutRng.seed())
        : (t: Tensor) => t;
      let h = this.projection ? linear(x, this.projection.w, this.projection.b) : x;
      const outputs: Tensor3D[] = [];
      for (const step of this.steps) {
        h = messagePassingStep(h, step, {
          heads,
          sinkLogit,
          selfLoops,
          scores: attention === "uniform" ? "uniform" : "dot",
          drop,
        });
        outputs.push(h);
      }
      if (this.config.concatLayers && outputs.length > 1) return tf.concat(outputs, -1) as Tensor3D;
      return h;
    });
  }

  /** L2-normalised MPN features at test time (no dropout): the refined embeddings. */
  refine(x: Tensor3D): Tensor3D {
    return tf.tidy(() => {
      const f = this.forward(x, false);
      const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(f), -1, true), 1e-24));
      return tf.div(f, norm) as Tensor3D;
    });
  }

  /** The dropout stream's state, for checkpoints. */
  saveState(): number[] {
    return this.dropoutRng.state();
  }

  loadState(state: number[]): void {
    this.dropoutRng = Rng.fromState(state);
  }

  dispose(): void {
    for (const w of this.trainableWeights) w.dispose();
  }
}
