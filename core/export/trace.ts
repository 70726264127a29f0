/**
 * Records what a function computes as a list of tfjs kernel calls, so that any network written
 * with tf ops (every built-in backbone, a loss's evalTransform, a loaded tfjs model) can be written
 * out as a graph without knowing its layers. Every top-level `engine.runKernel` call while `fn`
 * runs becomes one {@link TracedOp}; a tensor that no recorded op made (a Variable, a scalar
 * literal) becomes a constant holding its values at that moment.
 *
 * The trace runs at two batch sizes: an attribute that differs between them (a reshape to
 * `[b, k, d]`) follows the batch and becomes -1, so the graph takes any batch size. Anything else
 * that differs is an error, not a silent fixed-size graph.
 *
 * ```ts
 * const g = traceGraph((x) => net.embed(x, false), [28, 28, 1]);
 * g.ops[0]; // { kernel: "Reshape", inputs: ["input"], attrs: { shape: [-1, 784] }, ... }
 * ```
 */
import { tf } from "../tf.ts";
import type { NamedAttrMap, Tensor } from "@tensorflow/tfjs-core";
import { DmlError } from "../errors.ts";

/** A tensor's values captured as a graph constant. */
export interface TracedConstant {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  values: Float32Array | Int32Array;
}

/** One kernel call: inputs are names of the graph input, an earlier op's output (`op:k`) or a constant. */
export interface TracedOp {
  name: string;
  kernel: string;
  /** In the order of the kernel's named inputs. */
  inputs: string[];
  /** The kernel's input names, parallel to `inputs` ("x", "filter"; "0", "1" for Concat). */
  inputNames: string[];
  attrs: NamedAttrMap;
  /** Shapes of each input and output as traced. */
  inputShapes: number[][];
  outputShapes: number[][];
}

export interface TracedGraph {
  /** The placeholder's name; its shape is [-1, ...itemShape]. */
  input: string;
  itemShape: number[];
  ops: TracedOp[];
  constants: TracedConstant[];
  /** The op output holding the result. */
  output: string;
  outputDim: number;
}

interface Recording {
  ops: TracedOp[];
  constants: TracedConstant[];
  output: string;
  outputShape: number[];
}

/** Traces `fn` on inputs of [2, ...itemShape] and [3, ...itemShape] and merges them (see the module doc). */
export function traceGraph(fn: (x: Tensor) => Tensor, itemShape: number[], seed = 1): TracedGraph {
  const [a, b] = [2, 3].map((batch) => record(fn, [batch, ...itemShape], seed));
  if (a.ops.length !== b.ops.length || a.ops.some((op, i) => op.kernel !== b.ops[i].kernel)) {
    throw new DmlError("export: the network runs different operations for different batch sizes; cannot export it");
  }
  const ops = a.ops.map((op, i) => ({ ...op, attrs: batchFree(op, b.ops[i], 2, 3) }));
  if (a.constants.some((c, i) => JSON.stringify(c.shape) !== JSON.stringify(b.constants[i]?.shape))) {
    throw new DmlError("export: the network makes a constant whose shape follows the batch size; cannot export it");
  }
  if (a.outputShape.length !== 2) {
    throw new DmlError(`export: the embedding must be [batch, dim], the network gives [${a.outputShape}]`);
  }
  return { input: INPUT, itemShape, ops, constants: a.constants, output: a.output, outputDim: a.outputShape[1] };
}

const INPUT = "input";

/** Runs `fn` once on fresh normal input of `shape`, recording every top-level kernel call. */
function record(fn: (x: Tensor) => Tensor, shape: number[], seed: number): Recording {
  const engine = tf.engine() as unknown as { runKernel: (...a: unknown[]) => Tensor | Tensor[] };
  const names = new Map<number, string>();
  const ops: TracedOp[] = [];
  const constants: TracedConstant[] = [];
  const original = engine.runKernel;
  let depth = 0;
  const nameOf = (t: Tensor): string => {
    const known = names.get(t.id);
    if (known !== undefined) return known;
    if (t.dtype !== "float32" && t.dtype !== "int32") {
      throw new DmlError(`export: a ${t.dtype} constant cannot be exported`);
    }
    const name = `const_${constants.length}`;
    const values = t.dtype === "int32" ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync());
    constants.push({ name, shape: [...t.shape], dtype: t.dtype, values });
    names.set(t.id, name);
    return name;
  };
  engine.runKernel = function (this: unknown, kernel: unknown, inputs: unknown, attrs: unknown) {
    depth++;
    let out: Tensor | Tensor[];
    try {
      out = original.call(this, kernel, inputs, attrs);
    } finally {
      depth--;
    }
    if (depth === 0) {
      const named = Object.entries(inputs as Record<string, Tensor>).filter(([, t]) => t != null);
      const outs = Array.isArray(out) ? out : [out];
      const name = `op_${ops.length}_${kernel}`;
      ops.push({
        name,
        kernel: kernel as string,
        inputs: named.map(([, t]) => nameOf(t)),
        inputNames: named.map(([k]) => k),
        attrs: { ...(attrs as NamedAttrMap) },
        inputShapes: named.map(([, t]) => [...t.shape]),
        outputShapes: outs.map((t) => [...t.shape]),
      });
      outs.forEach((t, k) => names.set(t.id, k === 0 ? name : `${name}:${k}`));
    }
    return out;
  };
  const x = tf.randomNormal(shape, 0, 1, "float32", seed);
  names.set(x.id, INPUT);
  let result: Tensor;
  try {
    result = fn(x);
  } finally {
    engine.runKernel = original;
  }
  const output = names.get(result.id);
  const outputShape = [...result.shape];
  result.dispose();
  x.dispose();
  if (output === undefined || output === INPUT || output.startsWith("const_")) {
    throw new DmlError("export: the network's output does not depend on its input");
  }
  return { ops, constants, output, outputShape };
}

/** `a`'s attributes with entries that follow the batch size (2 in `a`, 3 in `b`) set to -1. */
function batchFree(a: TracedOp, b: TracedOp, ba: number, bb: number): NamedAttrMap {
  const out: NamedAttrMap = {};
  for (const [key, va] of Object.entries(a.attrs)) {
    const vb = b.attrs[key];
    if (JSON.stringify(va) === JSON.stringify(vb)) {
      out[key] = va;
      continue;
    }
    const follows = Array.isArray(va) && Array.isArray(vb) && va.length === vb.length &&
      va.every((v, i) => v === vb[i] || (v === ba && vb[i] === bb));
    if (!follows || (a.kernel !== "Reshape" && a.kernel !== "Slice")) {
      throw new DmlError(`export: ${a.kernel}'s ${key} depends on the batch size in a way a graph cannot express`);
    }
    // A reshape may hold one -1 only: its other entries become the sizes it produced.
    const known = a.kernel === "Reshape" ? a.outputShapes[0] : (va as number[]);
    out[key] = (va as number[]).map((v, i) => v === (vb as number[])[i] ? known[i] : -1);
  }
  return out;
}
