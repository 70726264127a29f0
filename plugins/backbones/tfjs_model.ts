/**
 * `tfjs-model`: a pretrained tfjs model from a local folder (`model.json` + weight shards), cut at a
 * named layer (LayersModel) or node (GraphModel), then global pooling and an embedding head. This
 * is how ImageNet weights converted with `tensorflowjs_converter` (Keras ResNet50, a TF Hub model)
 * become a backbone; nothing is downloaded at run time. tfjs's own loaders fetch over HTTP, which
 * Deno cannot do for local files, so the model is read here and handed to tfjs from memory.
 *
 * A LayersModel trains end to end (`trainable: true`); its BatchNorm layers run in inference mode
 * with `frozenBatchNorm`. A GraphModel is a frozen graph: only the head trains.
 *
 * ```ts
 * const net = await loadTfjsModelBackbone({ path: "/models/keras-resnet50/model.json", layer: "conv5_block3_out",
 *   pooling: "avg", dim: 512, normalize: true, trainable: true, frozenBatchNorm: false }, [224, 224, 3], rng);
 * const e = net.embed(x, true); // [B, 512]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor2D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
// tfjs-layers builds and runs Keras-style models on the engine core/tf.ts set up (one tfjs-core instance).
import * as tfl from "@tensorflow/tfjs-layers";
import type { GraphModel } from "@tensorflow/tfjs-converter";
import type { Backbone } from "../../core/types.ts";
import type { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";
import { MANIFEST_BYTES, readBounded, readTextBounded } from "../../core/bounded_read.ts";
import { closest } from "../../core/options.ts";
import { EmbeddingHead, globalPool, type Pooling } from "./embedding_head.ts";
import { HeadedBackbone } from "./headed_backbone.ts";

export interface TfjsModelOptions {
  path: string;
  layer: string;
  pooling: Pooling;
  dim: number;
  normalize: boolean;
  trainable: boolean;
  frozenBatchNorm: boolean;
}

type ModelJson = tf.io.ModelJSON;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

/** Reads model.json and its weight files into tfjs ModelArtifacts; errors name the file. */
export async function readModelArtifacts(
  path: string,
  what: string,
): Promise<{ json: ModelJson; artifacts: tf.io.ModelArtifacts }> {
  let json: ModelJson;
  if ((await Deno.stat(path).catch(() => null))?.isDirectory) {
    throw new DmlError(`${what}: ${path} is a folder; give its model.json`);
  }
  const text = await readTextBounded(path, "model.json", MANIFEST_BYTES, `${what}: ${path}`);
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DmlError(`${what}: ${path} is not a tfjs model.json (${(e as Error).message.split("\n")[0]})`);
  }
  if (
    typeof json !== "object" || json === null || typeof json.modelTopology !== "object" || json.modelTopology === null
  ) {
    throw new DmlError(
      `${what}: ${path} is not a tfjs model.json (no modelTopology); convert the model with tensorflowjs_converter`,
    );
  }
  if (!Array.isArray(json.weightsManifest)) throw new DmlError(`${what}: ${path} has no weightsManifest`);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const parts: Uint8Array[] = [];
    for (const group of manifest) {
      for (const p of group.paths) {
        const file = `${dirOf(path)}/${p}`;
        try {
          parts.push(await readBounded(file, "weight file"));
        } catch (e) {
          const why = (e as Error).message.replace(`${file}: `, "");
          throw new DmlError(`${what}: the weight file ${file} listed in ${path} cannot be read (${why})`);
        }
      }
      specs.push(...group.weights);
    }
    const joined = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of parts) {
      joined.set(b, o);
      o += b.length;
    }
    const need = specs.reduce((n, s) => n + byteSize(s), 0);
    if (need !== joined.length) {
      throw new DmlError(
        `${what}: the weight files of ${path} hold ${joined.length} bytes, the manifest describes ${need}`,
      );
    }
    return [specs, joined.buffer];
  });
  return { json, artifacts };
}

function byteSize(s: tf.io.WeightsManifestEntry): number {
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (s.quantization) return n * (s.quantization.dtype === "uint8" ? 1 : 2);
  return n * (s.dtype === "float32" || s.dtype === "int32" ? 4 : s.dtype === "bool" ? 1 : 4);
}

/** Whether model.json describes a Keras-style LayersModel or a GraphModel. */
function kindOf(json: ModelJson): "layers" | "graph" | null {
  const topology = json.modelTopology as Record<string, unknown>;
  if (json.format === "layers-model" || "class_name" in topology || "model_config" in topology) return "layers";
  if (json.format === "graph-model" || Array.isArray(topology.node)) return "graph";
  return null;
}

/** A backbone over a loaded tfjs model. */
export class TfjsModelBackbone extends HeadedBackbone implements Backbone {
  readonly dim: number;
  readonly trainableWeights: Variable[];
  readonly stateWeights: Variable[];
  protected readonly head: EmbeddingHead;

  constructor(
    readonly options: TfjsModelOptions,
    private readonly run: (x: Tensor, training: boolean) => Tensor,
    featureDim: number,
    modelWeights: { trainable: Variable[]; state: Variable[] },
    private readonly disposeModel: () => void,
    private readonly inputShape: number[],
    rng: Rng,
  ) {
    super();
    this.head = new EmbeddingHead(featureDim, { dim: options.dim, normalize: options.normalize }, rng, "tfjs-model");
    this.dim = this.head.dim;
    this.trainableWeights = [...modelWeights.trainable, ...this.head.weights];
    this.stateWeights = modelWeights.state;
  }

  /** The model's output at the cut, pooled to [B, C] when it is a feature map. */
  features(x: Tensor, training: boolean): Tensor2D {
    return tf.tidy(() => {
      const y = this.run(tf.reshape(x, [-1, ...this.inputShape]), training);
      if (y.rank === 4) return globalPool(y as Tensor4D, this.options.pooling);
      if (y.rank === 2) return y as Tensor2D;
      return tf.reshape(y, [y.shape[0], -1]) as Tensor2D;
    });
  }

  dispose(): void {
    this.disposeModel();
    for (const v of this.head.weights) v.dispose();
  }
}

function checkInput(modelShape: (number | null)[], dataShape: number[], what: string, path: string): void {
  const dims = modelShape.slice(1);
  const fits = dims.length === dataShape.length && dims.every((d, i) => d === null || d === -1 || d === dataShape[i]);
  if (!fits) {
    throw new DmlError(
      `${what}: ${path} takes inputs [${
        dims.map((d) => d ?? "?")
      }], the dataset gives [${dataShape}] (set data.size to match)`,
    );
  }
}

async function fromLayersModel(
  o: TfjsModelOptions,
  artifacts: tf.io.ModelArtifacts,
  inputShape: number[],
  rng: Rng,
  what: string,
): Promise<TfjsModelBackbone> {
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new DmlError(
      `${what}: ${o.path} does not load as a tfjs LayersModel (${(e as Error).message.split("\n")[0]})`,
    );
  }
  checkInput(model.inputs[0].shape, inputShape, what, o.path);
  let cut = model;
  if (o.layer) {
    const names = model.layers.map((l) => l.name);
    if (!names.includes(o.layer)) {
      const near = closest(o.layer, names);
      throw new DmlError(
        `backbone.layer: ${o.path} has no layer '${o.layer}'${near ? ` (did you mean '${near}'?)` : ""}; last layers: ${
          names.slice(-5).join(", ")
        }`,
      );
    }
    cut = tfl.model({ inputs: model.inputs, outputs: model.getLayer(o.layer).output as tfl.SymbolicTensor });
  }
  const outShape = cut.outputs[0].shape;
  const featureDim = outShape.length === 4 || outShape.length === 2
    ? outShape[outShape.length - 1]!
    : outShape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  // LayerVariable.read() is the tf.Variable itself, so the trainer and checkpoints see the model's weights.
  const trainable = o.trainable ? cut.trainableWeights.map((w) => w.read() as Variable) : [];
  const state = cut.nonTrainableWeights.map((w) => w.read() as Variable);
  if (!o.trainable) { for (const l of cut.layers) l.trainable = false; }
  const run = (x: Tensor, training: boolean) =>
    cut.apply(x, { training: training && !o.frozenBatchNorm && o.trainable }) as Tensor;
  return new TfjsModelBackbone(o, run, featureDim, { trainable, state }, () => model.dispose(), inputShape, rng);
}

async function fromGraphModel(
  o: TfjsModelOptions,
  json: ModelJson,
  artifacts: tf.io.ModelArtifacts,
  inputShape: number[],
  rng: Rng,
  what: string,
): Promise<TfjsModelBackbone> {
  const { loadGraphModel } = await import("@tensorflow/tfjs-converter");
  let model: GraphModel;
  try {
    model = await loadGraphModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new DmlError(
      `${what}: ${o.path} does not load as a tfjs GraphModel (${(e as Error).message.split("\n")[0]})`,
    );
  }
  const nodes = ((json.modelTopology as { node?: Array<{ name: string }> }).node ?? []).map((n) => n.name);
  if (o.layer && !nodes.includes(o.layer)) {
    const near = closest(o.layer, nodes);
    throw new DmlError(
      `backbone.layer: ${o.path} has no node '${o.layer}'${near ? ` (did you mean '${near}'?)` : ""}; last nodes: ${
        nodes.slice(-5).join(", ")
      }`,
    );
  }
  const input = model.inputs[0];
  if (input?.shape) checkInput(input.shape, inputShape, what, o.path);
  const output = o.layer || model.outputs[0].name;
  const run = (x: Tensor) => model.execute({ [input.name]: x }, output) as Tensor;
  // The feature width: one pass over a single blank input.
  const featureDim = tf.tidy(() => {
    const y = run(tf.zeros([1, ...inputShape]));
    return y.rank === 4 || y.rank === 2 ? y.shape[y.rank - 1] : y.size;
  });
  if (o.trainable && o.dim === 0) {
    throw new DmlError(
      `backbone.dim: a GraphModel is frozen, so with dim: 0 nothing would train; give dim > 0 (or trainable: false to only evaluate)`,
    );
  }
  return new TfjsModelBackbone(
    o,
    run,
    featureDim,
    { trainable: [], state: [] },
    () => model.dispose(),
    inputShape,
    rng,
  );
}

/** Loads the model at `o.path` and wraps it as a backbone for items of `inputShape`. */
export async function loadTfjsModelBackbone(
  o: TfjsModelOptions,
  inputShape: number[],
  rng: Rng,
  what = "backbone.path",
): Promise<TfjsModelBackbone> {
  const { json, artifacts } = await readModelArtifacts(o.path, what);
  const kind = kindOf(json);
  if (kind === "layers") return await fromLayersModel(o, artifacts, inputShape, rng, what);
  if (kind === "graph") return await fromGraphModel(o, json, artifacts, inputShape, rng, what);
  throw new DmlError(
    `${what}: ${o.path} is neither a layers-model nor a graph-model (format '${json.format ?? "none"}')`,
  );
}
