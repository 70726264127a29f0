/**
 * The component interfaces of dml. Shapes: B batch, D embedding dim, N references
 * (the batch itself, or a memory of M entries). Labels are int32.
 *
 * Any component may also implement {@link Hooks}; the trainer calls them in recipe order.
 */
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "./rng.ts";
import type { Schema } from "./options.ts";
import type { Registry } from "./registry.ts";

export type Kind = "backbone" | "sampler" | "loss" | "memory" | "evaluator" | "dataset" | "optimizer";
export const KINDS: readonly Kind[] = ["dataset", "backbone", "sampler", "loss", "memory", "optimizer", "evaluator"];

/** Input batch -> embedding [B, D]. */
export interface Backbone {
  readonly dim: number;
  embed(x: Tensor, training: boolean): Tensor2D;
  /** The features before the embedding head (divide-and-conquer clusters on these). */
  features?(x: Tensor, training: boolean): Tensor2D;
  /** `embed` and the `features` it was computed from, in one forward pass (for a loss that `usesFeatures`). */
  embedWithFeatures?(x: Tensor, training: boolean): { e: Tensor2D; features: Tensor2D };
  readonly trainableWeights: Variable[];
  /**
   * The trainable weights of the embedding head on `features` (a dense layer: kernel [F, D], then
   * bias [D]); the rest of trainableWeights is the body. The optimizer's `head` group.
   */
  readonly headWeights?: Variable[];
  /** Non-trainable state that checkpoints keep (BatchNorm running moments). */
  readonly stateWeights?: Variable[];
}

/** Yields batches of dataset indices for one epoch. */
export interface Sampler {
  readonly batchSize: number;
  batches(epoch: number, rng: Rng): Iterable<Int32Array>;
  /** Batches in an epoch, when known ahead (for the ETA). */
  epochLength?(epoch: number): number;
}

/** The references a loss compares anchors with; the batch itself when absent. */
export interface Reference {
  e: Tensor2D;
  y: Tensor1D;
  /** Slot of each anchor's own copy in `e` (-1 if none): that pair is never used. */
  selfIndex?: Int32Array;
}

/** Anchors vs references -> scalar loss. */
export interface Loss {
  /** `features`: the anchors' pre-head features, given when the loss `usesFeatures`. */
  compute(e: Tensor2D, y: Tensor1D, ref?: Reference, features?: Tensor2D): Scalar;
  /** Whether `compute` needs the backbone's pre-head features (BIER's regulariser view sg(h)·W_m). */
  readonly usesFeatures?: boolean;
  /** Weights the loss owns (proxies, MPN attention, BIER regressors). */
  readonly trainableWeights?: Variable[];
  /** Non-trainable state that checkpoints keep. */
  readonly stateWeights?: Variable[];
  /** Maps backbone embeddings to the test-time embedding (e.g. BIER's per-learner scaling). */
  evalTransform?(e: Tensor2D): Tensor2D;
  /** Named parts of the last `compute` (already multiplied by their weights), for the logs. */
  terms?(): Record<string, Scalar>;
  /** False for losses that compare with their own weights (proxies) and so cannot use a memory. */
  readonly usesReference?: boolean;
}

/** A cross-batch store of embeddings; never carries gradients. */
export interface Memory {
  /** Adapts (XBN) and enqueues, in the method's order. `e` is the batch's embedding; `items` its train-split rows. */
  update(e: Tensor2D, y: Tensor1D, step: number, items?: Int32Array): void;
  /** The stored entries, or null while warming up or empty. */
  reference(): Reference | null;
  /** Weight of the loss against the memory. */
  readonly weight: number;
  /** Whether the batch-vs-batch loss is kept beside the memory loss. */
  readonly batchLoss: boolean;
  /** Whether `update` runs before the loss (official XBM) or after the optimizer step. */
  readonly order?: "before-loss" | "after-step";
  /** Plain data for a checkpoint; async because a GPU backend reads back asynchronously. */
  state(): Promise<State>;
  load(s: State): void;
  dispose?(): void;
  /**
   * The stored embeddings (the caller disposes them) and the train-split row each came from (-1:
   * unknown, e.g. stored before a resume), for the drift report; null while empty.
   */
  stored?(): { e: Tensor2D; items: Int32Array } | null;
}

/** Embeddings of one split with their labels; row-major [n, dim]. */
export interface Split {
  data: Float32Array;
  n: number;
  dim: number;
  labels: Int32Array;
}

/** Embeddings of a split -> named metrics. Query/gallery mode when a gallery is given. */
export interface Evaluator {
  evaluate(query: Split, gallery?: Split): Promise<Record<string, number>>;
  /**
   * Refuses labels it could never evaluate (a single class, every query lone, K past the gallery), with a
   * DmlError; the trainer asks before training, so the problem is not met after all of it.
   */
  check?(queryLabels: Int32Array, galleryLabels?: Int32Array): void;
}

/** One split of a dataset. Labels are 0..classes-1 within the split. */
export interface Dataset {
  readonly size: number;
  readonly labels: Int32Array;
  readonly classes: number;
  /** Shape of one item as the backbone sees it, e.g. [28, 28, 1]. */
  readonly shape: number[];
  /** Float32 [B, ...shape], augmented when asked (seeded by `rng`). */
  batch(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Tensor;
  /**
   * The asynchronous form of `batch`, for datasets that decode files (the trainer keeps
   * `train.prefetch` batches loading while it trains). It draws from `rng` when called, not when
   * it settles, so calls made ahead in batch order give the tensors `batch` would. The caller
   * disposes the tensor.
   */
  loadBatch?(indices: Int32Array, opts: { augment: boolean; rng: Rng }): Promise<Tensor>;
  /** The original label names or ids, for reports. */
  readonly classNames?: string[];
  /** One item as 8-bit pixels, for reports. */
  image?(i: number): Promise<{ width: number; height: number; channels: number; data: Uint8Array }>;
}

/** A dataset plugin's product: named splits. One-set retrieval uses `test`; In-Shop style uses query/gallery. */
export interface DatasetSplits {
  train: Dataset;
  test?: Dataset;
  query?: Dataset;
  gallery?: Dataset;
  /** Human note, e.g. which classes went where. */
  description?: string;
}

/** Updates weights from gradients. Its state (moments, step) is checkpointed. */
export interface Optimizer {
  /** The learning rate the recipe gave; schedules scale it. */
  readonly lr: number;
  step(vars: Variable[], grads: Tensor[], lr: number): void;
  /** Plain data for a checkpoint; async because a GPU backend reads back asynchronously. */
  state(): Promise<State>;
  load(s: State): void;
}

/** Plain data a checkpoint can hold. */
export type State =
  | number
  | string
  | boolean
  | null
  | Float32Array
  | Int32Array
  | Uint8Array
  | State[]
  | { [key: string]: State };

/** What the trainer gives hooks. */
export interface TrainContext {
  step: number;
  epoch: number;
  epochs: number;
  rng: Rng;
  data: DatasetSplits;
  backbone: Backbone;
  /** Embeds a split in batches without gradient (`features: true` for pre-head features). */
  embedAll(split: Dataset, opts?: { features?: boolean; normalize?: boolean }): Promise<Split>;
  /** Run-scoped values components of one plugin share (e.g. divide-and-conquer's clusters). */
  shared: Map<string, unknown>;
  /** Writes a record to the run's metrics.jsonl. */
  log(record: Record<string, unknown>): void;
  /** Prints a line for the user. */
  say(line: string): void;
}

/** Lifecycle hooks any component may implement. */
export interface Hooks {
  onTrainStart?(ctx: TrainContext): void | Promise<void>;
  onEpochStart?(ctx: TrainContext): void | Promise<void>;
  afterStep?(ctx: TrainContext): void | Promise<void>;
  onEpochEnd?(ctx: TrainContext): void | Promise<void>;
  /** Extra state a checkpoint keeps for this component. */
  saveState?(): State;
  loadState?(s: State): void;
}

/** What `create` receives besides the options. */
export interface CreateContext {
  /** The recipe path of this component, for error messages ("loss", "loss.base"). */
  path: string;
  rng: Rng;
  registry: Registry;
  shared: Map<string, unknown>;
  data?: DatasetSplits;
  inputShape?: number[];
  dim?: number;
  classes?: number;
  batchSize?: number;
  /** The trainable weights by group (for optimizers): see core/param_groups.ts. */
  params?: ParamGroups;
}

/** The trainable weights by group: `backbone` (the body), `head` (backbone.headWeights), `loss` (its weights). */
export type ParamGroups = Record<"backbone" | "head" | "loss", Variable[]>;

// Option values arrive validated against the component's schema.
// deno-lint-ignore no-explicit-any
export type Options = Record<string, any>;

/** One component a plugin provides. */
export interface ComponentDef<T = unknown> {
  kind: Kind;
  name: string;
  doc: string;
  options: Schema;
  create(options: Options, ctx: CreateContext): T | Promise<T>;
}

/** A plugin: a named set of components. A module's default export, or its `plugin` export. */
export interface Plugin {
  name: string;
  components: ComponentDef[];
}
