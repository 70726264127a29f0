/**
 * A traced graph (trace.ts) as a tfjs GraphModel: `model.json` in TensorFlow's GraphDef JSON (what
 * `tensorflowjs_converter` writes) and float32/int32 weight shards, which `tf.loadGraphModel` from
 * `@tensorflow/tfjs-converter` runs with its own op executors. Each tfjs kernel maps to the
 * TensorFlow op the converter turns back into that same kernel; a kernel without such an op is a
 * one-line error naming it.
 *
 * ```ts
 * const { modelJson, shards } = toGraphModel(traceGraph(fn, [28, 28, 1]));
 * ```
 */
import type { NamedAttrMap } from "@tensorflow/tfjs-core";
import { DmlError } from "../errors.ts";
import type { TracedConstant, TracedGraph, TracedOp } from "./trace.ts";

/** The name of the model's output node (an Identity of the traced result). */
export const OUTPUT_NODE = "embedding";
/** Weight shards are at most this many bytes, as tensorflowjs_converter's default. */
const SHARD_BYTES = 4 * 1024 * 1024;

interface NodeDef {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, unknown>;
}

type Attr = Record<string, unknown>;
const f32 = { type: "DT_FLOAT" };
const i32 = { type: "DT_INT32" };
const ints = (v: number[]): Attr => ({ list: { i: v.map(String) } });
const str = (v: string): Attr => ({ s: btoa(v) });
const pair = (v: number | number[]): number[] => typeof v === "number" ? [v, v] : [...v];
const list = (v: number | number[]): number[] => typeof v === "number" ? [v] : [...v];

/** Builds the GraphDef; `extra` collects int32 constants the TF ops take as inputs (axes, shapes). */
class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly constants: TracedConstant[] = [];

  constant(name: string, values: number[], shape = [values.length]): string {
    this.constants.push({ name, shape, dtype: "int32", values: Int32Array.from(values) });
    return name;
  }

  add(name: string, op: string, input: string[], attr: Attr = {}): void {
    this.nodes.push({ name, op, input, attr });
  }
}

const UNARY: Record<string, string> = {
  Relu: "Relu",
  Relu6: "Relu6",
  Elu: "Elu",
  Sigmoid: "Sigmoid",
  Tanh: "Tanh",
  Sqrt: "Sqrt",
  Rsqrt: "Rsqrt",
  Square: "Square",
  Exp: "Exp",
  Log: "Log",
  Neg: "Neg",
  Abs: "Abs",
  Identity: "Identity",
  Floor: "Floor",
  Reciprocal: "Reciprocal",
};
const BINARY: Record<string, string> = {
  Add: "AddV2",
  Sub: "Sub",
  Multiply: "Mul",
  RealDiv: "RealDiv",
  Maximum: "Maximum",
  Minimum: "Minimum",
  SquaredDifference: "SquaredDifference",
  Pow: "Pow",
};
const REDUCE: Record<string, string> = { Sum: "Sum", Mean: "Mean", Max: "Max", Min: "Min", Prod: "Prod" };

function padding(pad: unknown, what: string): { padding: Attr; explicit?: Attr } {
  if (pad === "same" || pad === "valid") return { padding: str(pad.toUpperCase()) };
  if (typeof pad === "number") return { padding: str("EXPLICIT"), explicit: ints([0, 0, pad, pad, pad, pad, 0, 0]) };
  throw new DmlError(`export: ${what} with padding ${JSON.stringify(pad)} has no TensorFlow equivalent`);
}

function rounding(op: TracedOp): void {
  if (op.attrs.dimRoundingMode != null) {
    throw new DmlError(`export: ${op.kernel} with dimRoundingMode has no TensorFlow equivalent`);
  }
}

/** Adds the TF node(s) for one traced op. */
function emit(g: GraphBuilder, op: TracedOp): void {
  const a = op.attrs as NamedAttrMap & Record<string, unknown>;
  const [x] = op.inputs;
  const c = (suffix: string, values: number[]) => g.constant(`${op.name}/${suffix}`, values);
  if (UNARY[op.kernel]) return g.add(op.name, UNARY[op.kernel], [x], { T: f32 });
  if (BINARY[op.kernel]) return g.add(op.name, BINARY[op.kernel], op.inputs, { T: f32 });
  if (REDUCE[op.kernel]) {
    const rank = op.inputShapes[0].length;
    // Max and Min name their axes reductionIndices; none means every axis.
    const given = (a.axis ?? a.reductionIndices) as number | number[] | null | undefined;
    const axes = (given == null ? [...Array(rank).keys()] : list(given)).map((d) => d < 0 ? d + rank : d);
    return g.add(op.name, REDUCE[op.kernel], [x, c("axis", axes)], { T: f32, keep_dims: { b: !!a.keepDims } });
  }
  switch (op.kernel) {
    case "Reshape":
      return g.add(op.name, "Reshape", [x, c("shape", a.shape as number[])], { T: f32 });
    case "Transpose":
      return g.add(op.name, "Transpose", [x, c("perm", a.perm as number[])], { T: f32 });
    case "Slice":
      return g.add(op.name, "Slice", [x, c("begin", list(a.begin as number[])), c("size", list(a.size as number[]))], {
        T: f32,
      });
    case "Concat": {
      const rank = op.inputShapes[0].length;
      const axis = (a.axis as number) < 0 ? (a.axis as number) + rank : a.axis as number;
      return g.add(op.name, "ConcatV2", [...op.inputs, c("axis", [axis])], {
        T: f32,
        N: { i: String(op.inputs.length) },
      });
    }
    case "AddN":
      return g.add(op.name, "AddN", op.inputs, { T: f32, N: { i: String(op.inputs.length) } });
    case "PadV2": {
      const pads = (a.paddings as number[][]).flat();
      const rank = op.inputShapes[0].length;
      const paddings = g.constant(`${op.name}/paddings`, pads, [rank, 2]);
      return g.add(op.name, "PadV2", [x, paddings, scalar(g, op, "value", a.constantValue)], { T: f32 });
    }
    case "Cast":
      if (a.dtype !== "float32" && a.dtype !== "int32") throw new DmlError(`export: a cast to ${a.dtype}`);
      return g.add(op.name, "Cast", [x], { DstT: a.dtype === "int32" ? i32 : f32 });
    case "BatchMatMul": {
      const rank2 = op.inputShapes.every((s) => s.length === 2);
      return rank2
        ? g.add(op.name, "MatMul", op.inputs, {
          T: f32,
          transpose_a: { b: !!a.transposeA },
          transpose_b: { b: !!a.transposeB },
        })
        : g.add(op.name, "BatchMatMulV2", op.inputs, {
          T: f32,
          adj_x: { b: !!a.transposeA },
          adj_y: { b: !!a.transposeB },
        });
    }
    case "Conv2D":
    case "DepthwiseConv2dNative": {
      // The TF op of each name takes the same attributes.
      rounding(op);
      const what = op.kernel === "Conv2D" ? "a convolution" : "a depthwise convolution";
      const { padding: p, explicit } = padding(a.pad, what);
      if (a.dataFormat !== undefined && a.dataFormat !== "NHWC") throw new DmlError(`export: ${what} in NCHW`);
      return g.add(op.name, op.kernel, op.inputs, {
        T: f32,
        strides: ints([1, ...pair(a.strides as number), 1]),
        dilations: ints([1, ...pair((a.dilations ?? 1) as number), 1]),
        padding: p,
        ...(explicit ? { explicit_paddings: explicit } : {}),
        data_format: str("NHWC"),
      });
    }
    case "FusedConv2D":
    case "_FusedMatMul":
      return fused(g, op);
    case "MaxPool":
    case "AvgPool": {
      rounding(op);
      const ksize = pair(a.filterSize as number), strides = pair(a.strides as number);
      const pool = (name: string, input: string, p: Attr) =>
        g.add(name, op.kernel, [input], {
          T: f32,
          ksize: ints([1, ...ksize, 1]),
          strides: ints([1, ...strides, 1]),
          padding: p,
          data_format: str("NHWC"),
        });
      if (typeof a.pad !== "number") return pool(op.name, x, padding(a.pad, `a ${op.kernel}`).padding);
      // TensorFlow pools take no numeric padding: pad first, then pool the padded map. tfjs leaves
      // the padding out of a window (max over real values, mean over the real ones only).
      const p = a.pad, max = op.kernel === "MaxPool";
      const padded = `${op.name}/padded`;
      const paddings = g.constant(`${op.name}/paddings`, [0, 0, p, p, p, p, 0, 0], [4, 2]);
      g.add(padded, "PadV2", [x, paddings, scalar(g, op, "fill", max ? -Infinity : 0)], { T: f32 });
      if (max) return pool(op.name, padded, str("VALID"));
      pool(`${op.name}/sum`, padded, str("VALID"));
      const [, h, w] = op.inputShapes[0], [, oh, ow] = op.outputShapes[0];
      const scale = new Float32Array(oh * ow);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const rows = Math.min(i * strides[0] - p + ksize[0], h) - Math.max(i * strides[0] - p, 0);
          const cols = Math.min(j * strides[1] - p + ksize[1], w) - Math.max(j * strides[1] - p, 0);
          scale[i * ow + j] = (ksize[0] * ksize[1]) / (rows * cols);
        }
      }
      const counts = `${op.name}/window`;
      g.constants.push({ name: counts, shape: [1, oh, ow, 1], dtype: "float32", values: scale });
      return g.add(op.name, "Mul", [`${op.name}/sum`, counts], { T: f32 });
    }
    case "FusedBatchNorm": {
      const byName = Object.fromEntries(op.inputNames.map((n, i) => [n, op.inputs[i]]));
      const channels = op.inputShapes[0].at(-1)!;
      const filled = (n: string, v: number) => {
        const name = `${op.name}/${n}`;
        g.constants.push({ name, shape: [channels], dtype: "float32", values: new Float32Array(channels).fill(v) });
        return name;
      };
      const inputs = [
        byName.x,
        byName.scale ?? filled("scale", 1),
        byName.offset ?? filled("offset", 0),
        byName.mean,
        byName.variance,
      ];
      return g.add(op.name, "FusedBatchNormV3", inputs, {
        T: f32,
        epsilon: { f: a.varianceEpsilon as number },
        is_training: { b: false },
        data_format: str("NHWC"),
      });
    }
    case "GatherV2":
      return g.add(op.name, "GatherV2", [...op.inputs, c("axis", [a.axis as number])], {
        Tparams: f32,
        batch_dims: { i: String(a.batchDims ?? 0) },
      });
    case "SplitV": {
      const rank = op.inputShapes[0].length;
      const axis = (a.axis as number) < 0 ? (a.axis as number) + rank : a.axis as number;
      const sizes = op.outputShapes.map((shape) => shape[axis]);
      return g.add(op.name, "SplitV", [x, c("sizes", sizes), c("axis", [axis])], {
        T: f32,
        num_split: { i: String(sizes.length) },
      });
    }
    case "LeakyRelu":
      return g.add(op.name, "LeakyRelu", [x], { T: f32, alpha: { f: a.alpha as number } });
    case "Softmax":
      return g.add(op.name, "Softmax", [x], { T: f32 });
    case "ClipByValue":
      return g.add(op.name, "ClipByValue", [
        x,
        scalar(g, op, "min", a.clipValueMin),
        scalar(g, op, "max", a.clipValueMax),
      ], {
        T: f32,
      });
  }
  throw new DmlError(`export: the network uses tfjs kernel '${op.kernel}', which has no TensorFlow op here`);
}

const ACTIVATIONS: Record<string, string> = {
  relu: "Relu",
  relu6: "Relu6",
  elu: "Elu",
  sigmoid: "Sigmoid",
  tanh: "Tanh",
};

/** tfjs's fused convolution / matmul as its parts: the plain op, the bias add, the activation. */
function fused(g: GraphBuilder, op: TracedOp): void {
  const byName = Object.fromEntries(op.inputNames.map((n, i) => [n, op.inputs[i]]));
  const activation = (op.attrs.activation as string | undefined) ?? "linear";
  if (activation !== "linear" && !ACTIVATIONS[activation]) {
    throw new DmlError(`export: ${op.kernel} with activation '${activation}' has no TensorFlow op here`);
  }
  const conv = op.kernel === "FusedConv2D";
  const core = { ...op, name: `${op.name}/op`, kernel: conv ? "Conv2D" : "BatchMatMul" };
  core.inputs = conv ? [byName.x, byName.filter] : [byName.a, byName.b];
  core.inputShapes = op.inputShapes.slice(0, 2);
  emit(g, core);
  let last = core.name;
  if (byName.bias) g.add(`${op.name}/bias`, "AddV2", [last, byName.bias], { T: f32 }), last = `${op.name}/bias`;
  g.add(op.name, activation === "linear" ? "Identity" : ACTIVATIONS[activation], [last], { T: f32 });
}

function scalar(g: GraphBuilder, op: TracedOp, suffix: string, v: unknown): string {
  const name = `${op.name}/${suffix}`;
  g.constants.push({ name, shape: [], dtype: "float32", values: Float32Array.of(v as number) });
  return name;
}

/** The ops the output depends on, in order (a traced graph may hold side computations). */
function reachable(graph: TracedGraph): TracedOp[] {
  const byName = new Map(graph.ops.map((op) => [op.name, op]));
  const needed = new Set<string>();
  const stack = [graph.output.split(":")[0]];
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const op = byName.get(name);
    if (!op) continue;
    needed.add(name);
    for (const i of op.inputs) stack.push(i.split(":")[0]);
  }
  return graph.ops.filter((op) => needed.has(op.name));
}

/** A tfjs GraphModel's files: model.json's content and the weight shards by file name. */
export interface GraphModelFiles {
  modelJson: Record<string, unknown>;
  shards: Array<[string, Uint8Array]>;
}

/** The traced graph as a GraphModel: input node `graph.input` [-1, ...itemShape], output node "embedding". */
export function toGraphModel(graph: TracedGraph, generatedBy: string): GraphModelFiles {
  const g = new GraphBuilder();
  g.add(graph.input, "Placeholder", [], {
    dtype: f32,
    shape: { shape: { dim: [-1, ...graph.itemShape].map((d) => ({ size: String(d) })) } },
  });
  const ops = reachable(graph);
  for (const op of ops) emit(g, op);
  g.add(OUTPUT_NODE, "Identity", [graph.output], { T: f32 });
  const used = new Set(g.nodes.flatMap((n) => n.input.map((i) => i.split(":")[0])));
  const constants = [...graph.constants.filter((c) => used.has(c.name)), ...g.constants];
  const constNodes: NodeDef[] = constants.map((c) => ({
    name: c.name,
    op: "Const",
    input: [],
    attr: {
      dtype: c.dtype === "int32" ? i32 : f32,
      value: {
        tensor: {
          dtype: c.dtype === "int32" ? "DT_INT32" : "DT_FLOAT",
          tensorShape: { dim: c.shape.map((d) => ({ size: String(d) })) },
        },
      },
    },
  }));
  const bytes = concatenate(
    constants.map((c) => new Uint8Array(c.values.buffer, c.values.byteOffset, c.values.byteLength)),
  );
  const shards: Array<[string, Uint8Array]> = [];
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  for (let k = 0; k < count; k++) {
    shards.push([`group1-shard${k + 1}of${count}.bin`, bytes.subarray(k * SHARD_BYTES, (k + 1) * SHARD_BYTES)]);
  }
  const modelJson = {
    format: "graph-model",
    generatedBy,
    convertedBy: "dml export",
    modelTopology: { node: [...constNodes, ...g.nodes], library: {}, versions: { producer: 1 } },
    weightsManifest: [{
      paths: shards.map(([name]) => name),
      weights: constants.map((c) => ({ name: c.name, shape: c.shape, dtype: c.dtype })),
    }],
    signature: {
      inputs: { [graph.input]: { name: `${graph.input}:0`, dtype: "DT_FLOAT" } },
      outputs: { [OUTPUT_NODE]: { name: `${OUTPUT_NODE}:0`, dtype: "DT_FLOAT" } },
    },
  };
  return { modelJson, shards };
}

function concatenate(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}
