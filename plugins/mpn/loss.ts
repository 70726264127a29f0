/**
 * The training objective of "Learning Intra-Batch Connections for Deep Metric Learning"
 * (Seidenschwarz et al., ICML 2021), one step:
 *
 *   logits_bb  = Linear(e)                                  (backbone head, raw embedding)
 *   x          = L2normalize(e)                             (graph nodes: the whole batch)
 *   f          = MPN(x)                                     (message passing, self-loops included)
 *   logits_mpn = Linear_nobias(BN_frozen_bias(f))           (MPN head)
 *   L          = w_bb · LSCE(logits_bb / T, y) + w_mpn · LSCE(logits_mpn / T, y)
 *
 * Both terms reach the backbone; the MPN term through the normalised embeddings. At test time
 * only the backbone is used (`evalTransform` = L2 normalisation); the trained MPN is published in
 * the run's shared map under {@link MPN_SHARED_KEY} for the optional test-time refinement.
 *
 * ```ts
 * const loss = new MpnLoss({ ...DEFAULT_NETWORK, inDim: 128, dim: 128, classes: 5, temperature: 0.2,
 *   labelSmoothing: 0.1, backboneWeight: 1, mpnWeight: 1 }, rng);
 * const l = loss.compute(e, y); // scalar
 * ```
 */
import { tf } from "../../core/tf.ts";
import { DmlError } from "../../core/errors.ts";
import { l2normalize } from "../../core/pairs.ts";
import type { Rng } from "../../core/rng.ts";
import type { Hooks, Loss, State, TrainContext } from "../../core/types.ts";
import type { Scalar, Tensor1D, Tensor2D, Tensor3D, Variable } from "@tensorflow/tfjs-core";
import { BackboneClassifier, MpnClassifier } from "./classifiers.ts";
import { labelSmoothedCrossEntropy } from "./label_smoothing.ts";
import { MessagePassingNetwork, type NetworkConfig } from "./network.ts";

/** Where the trained network is shared with the `mpn-refine` evaluator (`ctx.shared`). */
export const MPN_SHARED_KEY = "mpn/network";

export interface MpnLossConfig extends NetworkConfig {
  /** Number of training classes (the classifiers' width). */
  classes: number;
  /** Both cross-entropies use logits / T (one T per dataset). */
  temperature: number;
  labelSmoothing: number;
  backboneWeight: number;
  /** 0 turns the MPN off (the released SOP config trains the backbone head alone). */
  mpnWeight: number;
  /** Recipe path for error messages. */
  path?: string;
}

export class MpnLoss implements Loss, Hooks {
  readonly usesReference = false;
  readonly trainableWeights: Variable[];
  readonly backboneHead: BackboneClassifier;
  /** Absent when `mpnWeight` is 0. */
  readonly network?: MessagePassingNetwork;
  private readonly mpnHead?: MpnClassifier;
  private readonly config: MpnLossConfig;
  private lastTerms: Record<string, Scalar> = {};

  constructor(config: MpnLossConfig, rng: Rng) {
    this.config = config;
    this.backboneHead = new BackboneClassifier(config.inDim, config.classes, rng);
    this.trainableWeights = [...this.backboneHead.trainableWeights];
    if (config.mpnWeight > 0) {
      this.network = new MessagePassingNetwork(config, rng);
      this.mpnHead = new MpnClassifier(this.network.outDim, config.classes, rng);
      this.trainableWeights.push(...this.network.trainableWeights, ...this.mpnHead.trainableWeights);
    }
  }

  compute(e: Tensor2D, y: Tensor1D): Scalar {
    this.checkBatch(e, y);
    const { temperature: t, labelSmoothing: eps, backboneWeight, mpnWeight } = this.config;
    const result = tf.tidy(() => {
      const backbone = tf.mul(labelSmoothedCrossEntropy(this.backboneHead.logits(e), y, eps, t), backboneWeight);
      const terms: Record<string, Scalar> = { backbone: backbone as Scalar };
      if (this.network && this.mpnHead) {
        // The batch is one fully connected graph over the normalised embeddings.
        const nodes = tf.expandDims(l2normalize(e), 0) as Tensor3D;
        const refined = tf.squeeze(this.network.forward(nodes, true), [0]) as Tensor2D;
        terms.mpn = tf.mul(labelSmoothedCrossEntropy(this.mpnHead.logits(refined), y, eps, t), mpnWeight) as Scalar;
      }
      const total = Object.values(terms).reduce((a, b) => tf.add(a, b)) as Scalar;
      // The parts outlive this step's scope (gradient tapes dispose intermediates) until the next call.
      const kept = Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, tf.keep(tf.clone(v))]));
      return { total, kept };
    });
    for (const old of Object.values(this.lastTerms)) old.dispose();
    this.lastTerms = result.kept;
    return result.total;
  }

  /** Every training label must be a class of the classifiers (checked once, on any backend). */
  onTrainStart(ctx: TrainContext): void {
    this.checkLabels(ctx.data.train.labels, "the training split");
  }

  /** The last step's weighted parts: `backbone` and `mpn`. */
  terms(): Record<string, Scalar> {
    return this.lastTerms;
  }

  /** The test-time embedding is the backbone's, L2-normalised. */
  evalTransform(e: Tensor2D): Tensor2D {
    return l2normalize(e);
  }

  saveState(): State {
    return { dropoutRng: this.network ? this.network.saveState() : null };
  }

  loadState(s: State): void {
    const rng = (s as { dropoutRng?: number[] | null }).dropoutRng;
    if (this.network && Array.isArray(rng)) this.network.loadState(rng);
  }

  dispose(): void {
    for (const w of this.trainableWeights) w.dispose();
    for (const t of Object.values(this.lastTerms)) t.dispose();
    this.lastTerms = {};
  }

  /** Bad batches are user errors: a singleton batch, or a label the classifiers do not have. */
  private checkBatch(e: Tensor2D, y: Tensor1D): void {
    const path = this.config.path ?? "loss";
    if (e.shape[0] < 2) {
      throw new DmlError(
        `${path}: the mpn loss needs a batch of at least 2 embeddings (BatchNorm over the batch, messages between samples), got ${
          e.shape[0]
        }`,
      );
    }
    if (e.shape[1] !== this.config.inDim) {
      throw new DmlError(
        `${path}: embeddings have dimension ${e.shape[1]}, the mpn loss was built for ${this.config.inDim}`,
      );
    }
    // A label outside 0..C-1 would silently become an all-zero one-hot row. WebGPU cannot read
    // synchronously under Deno, so there the training split's check in onTrainStart has to do.
    if (tf.getBackend() !== "webgpu") this.checkLabels(y.dataSync(), "the batch");
  }

  private checkLabels(labels: ArrayLike<number>, where: string): void {
    const { classes } = this.config;
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      if (!(label >= 0 && label < classes)) {
        throw new DmlError(
          `${
            this.config.path ?? "loss"
          }: label ${label} in ${where} is not a class the mpn classifiers know (they have ${classes} training classes, 0..${
            classes - 1
          }); train on the split the loss was built for`,
        );
      }
    }
  }
}
