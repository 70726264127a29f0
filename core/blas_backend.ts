/**
 * The `blas` tfjs backend: tfjs's cpu backend under another name, with its heavy kernels replaced.
 * Matrix products and convolutions (and their gradients) call BLAS sgemm through Deno's FFI;
 * broadcasting arithmetic and comparisons, common unary ops, sums over adjacent axes and
 * max-pooling use loops that run at memory speed instead of tfjs cpu's per-element index
 * arithmetic; the fused kernels of core/host_kernels.ts (BatchNorm, Adam, the residual join) run
 * here too. Every other kernel is the cpu backend's own, so anything that runs on `cpu` runs here,
 * with the same results up to float32 rounding.
 *
 * It exists only where core/blas.ts loads a BLAS library (`--allow-ffi` and e.g. libopenblas).
 *
 * ```ts
 * if (registerBlasBackend()) await tf.setBackend("blas");
 * ```
 */
import { tf } from "./tf.ts";
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { type Blas, blas } from "./blas.ts";
import { convGeometry } from "./kernels/im2col.ts";
import {
  conv2dBackpropFilterByGemm,
  conv2dBackpropInputByGemm,
  conv2dByGemm,
  type GemmFn,
} from "./kernels/conv_gemm.ts";
import { batchMatMulByGemm } from "./kernels/matmul.ts";
import { binaryOp, unaryOp, type Values } from "./kernels/elementwise.ts";
import { asMiddleAxis, sumMiddle } from "./kernels/reduce.ts";
import { maxPool, maxPoolGrad } from "./kernels/pool.ts";
import { registerHostBackend } from "./host_kernels.ts";

export const BLAS_BACKEND = "blas";

interface Args {
  inputs: Record<string, TensorInfo>;
  backend: MathBackendCPU;
  attrs: NamedAttrMap;
}
type Kernel = (args: Args) => TensorInfo;

let registered = false;

/** Registers the `blas` backend once; false, registering nothing, where no BLAS library loads. */
export function registerBlasBackend(): boolean {
  if (registered) return true;
  const lib = blas();
  if (!lib) return false;
  // Priority below cpu's: tfjs never picks it by itself.
  tf.registerBackend(BLAS_BACKEND, () => new MathBackendCPU(), -1);
  const own = blasKernels(lib);
  for (const config of tf.getKernelsForBackend("cpu")) {
    if (!own.has(config.kernelName)) tf.registerKernel({ ...config, backendName: BLAS_BACKEND });
  }
  for (const [kernelName, kernel] of own) {
    tf.registerKernel({ kernelName, backendName: BLAS_BACKEND, kernelFunc: kernel as unknown as KernelFunc });
  }
  registerHostBackend(BLAS_BACKEND, (backend) => ({
    read: (t) => values(backend as MathBackendCPU, t),
    write: (shape, v) => output(backend as MathBackendCPU, shape, v),
  }));
  registered = true;
  return true;
}

/** A float32 input's values. */
function values(backend: MathBackendCPU, t: TensorInfo): Float32Array {
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

/** The stored values as they are (float32, int32 or bool arrays). */
function raw(backend: MathBackendCPU, t: TensorInfo): Values {
  return backend.data.get(t.dataId).values as Values;
}

function output(backend: MathBackendCPU, shape: number[], v: Values): TensorInfo {
  return backend.makeTensorInfo(shape, "float32", v);
}

/** The cpu backend's kernel of that name, for inputs the fast paths do not cover. */
function cpu(name: string): Kernel {
  const config = tf.getKernel(name, "cpu");
  if (!config) throw new Error(`the cpu backend has no ${name} kernel`);
  return config.kernelFunc as unknown as Kernel;
}

const allFloat = (inputs: NamedTensorInfoMap) => Object.values(inputs).every((t) => !t || t.dtype === "float32");

function blasKernels(lib: Blas): Map<string, Kernel> {
  const gemm: GemmFn = (g) => lib.gemm(g);
  const kernels = new Map<string, Kernel>();
  const own = (name: string, fast: Kernel, usable: (args: Args) => boolean = (a) => allFloat(a.inputs)) => {
    const fallback = cpu(name);
    kernels.set(name, (args) => (usable(args) ? fast(args) : fallback(args)));
  };
  const nhwc = (a: Args) => allFloat(a.inputs) && (a.attrs.dataFormat ?? "NHWC") === "NHWC";

  const matMul = ({ inputs: { a, b }, backend, attrs }: Args) => {
    const r = batchMatMulByGemm(
      values(backend, a),
      a.shape,
      values(backend, b),
      b.shape,
      attrs.transposeA as boolean,
      attrs.transposeB as boolean,
      gemm,
    );
    return output(backend, r.shape, r.values);
  };
  own("BatchMatMul", matMul);

  const conv = ({ inputs: { x, filter }, backend, attrs }: Args) => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides as number,
      attrs.dilations as number,
      attrs.pad as "same",
      attrs.dimRoundingMode as "floor",
    );
    const y = conv2dByGemm(values(backend, x), values(backend, filter), convGeometry(info), info.outChannels, gemm);
    return output(backend, info.outShape, y);
  };
  own("Conv2D", conv, nhwc);
  own("Conv2DBackpropInput", ({ inputs: { dy, filter }, backend, attrs }) => {
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides as number,
      1,
      attrs.pad as "same",
      attrs.dimRoundingMode as "floor",
    );
    const g = convGeometry(info);
    const dx = conv2dBackpropInputByGemm(values(backend, dy), values(backend, filter), g, info.outChannels, gemm);
    return output(backend, info.inShape, dx);
  }, nhwc);
  own("Conv2DBackpropFilter", ({ inputs: { x, dy }, backend, attrs }) => {
    const filterShape = attrs.filterShape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      attrs.strides as number,
      1,
      attrs.pad as "same",
      attrs.dimRoundingMode as "floor",
    );
    const dw = conv2dBackpropFilterByGemm(
      values(backend, x),
      values(backend, dy),
      convGeometry(info),
      info.outChannels,
      gemm,
    );
    return output(backend, filterShape, dw);
  }, nhwc);

  // The fused forms (graph models use them): the product, then bias and activation by kernel.
  own("_FusedMatMul", (args) => {
    const { bias, preluActivationWeights } = args.inputs;
    const y = matMul(args);
    return activate(args.backend, withBias(args.backend, y, bias), args.attrs, preluActivationWeights);
  });
  own("FusedConv2D", (args) => {
    const { bias, preluActivationWeights } = args.inputs;
    const y = conv(args);
    return activate(args.backend, withBias(args.backend, y, bias), args.attrs, preluActivationWeights);
  }, nhwc);

  // Element-wise ops, with tfjs cpu's results (NaN and infinities included). Relu and Step are
  // written without a data-dependent branch: on activations of random sign a branch mispredicts
  // half the time, which costs 8× the arithmetic.
  const binary = (name: string, expr: string) => {
    const fn = binaryOp(expr);
    own(name, ({ inputs: { a, b }, backend }) => {
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      return output(backend, shape, fn(values(backend, a), a.shape, values(backend, b), b.shape, shape));
    });
  };
  binary("Add", "x + y");
  binary("Sub", "x - y");
  binary("Multiply", "x * y");
  binary("RealDiv", "x / y");
  binary("Maximum", "Math.max(x, y)");
  binary("Minimum", "Math.min(x, y)");
  binary("SquaredDifference", "(x - y) * (x - y)");
  // Comparisons (labels against a memory's labels: [B, 1] against [1, M]) on matching dtypes.
  const compare = (name: string, expr: string) => {
    const fn = binaryOp(expr, "bool");
    own(name, ({ inputs: { a, b }, backend }) => {
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      return backend.makeTensorInfo(shape, "bool", fn(raw(backend, a), a.shape, raw(backend, b), b.shape, shape));
    }, ({ inputs: { a, b } }) => a.dtype === b.dtype && a.dtype !== "string" && a.dtype !== "complex64");
  };
  compare("Equal", "+(x === y)");
  compare("NotEqual", "+(x !== y)");
  compare("Greater", "+(x > y)");
  compare("GreaterEqual", "+(x >= y)");
  compare("Less", "+(x < y)");
  compare("LessEqual", "+(x <= y)");
  compare("LogicalAnd", "x & y");
  compare("LogicalOr", "x | y");
  const unary = (name: string, expr: string) => {
    const fn = unaryOp(expr);
    own(
      name,
      ({ inputs: { x }, backend, attrs }) => output(backend, x.shape, fn(values(backend, x), attrs?.alpha as number)),
    );
  };
  unary("Relu", "x === -Infinity ? 0 : (x + Math.abs(x)) * 0.5");
  unary("Relu6", "Math.min(Math.max(0, x), 6)");
  unary("Step", "x !== x ? x : alpha + (1 - alpha) * (x > 0)");
  unary("Neg", "-x");
  unary("Square", "x * x");
  unary("Sqrt", "Math.sqrt(x)");
  unary("Rsqrt", "1 / Math.sqrt(x)");
  unary("Exp", "Math.exp(x)");
  unary("Log", "Math.log(x)");
  unary("Sigmoid", "1 / (1 + Math.exp(-x))");

  const reduce = (name: string, scale: (count: number) => number) =>
    own(name, ({ inputs: { x }, backend, attrs }) => {
      const axes = tf.util.parseAxisParam(attrs.axis as number[], x.shape);
      const view = asMiddleAxis(x.shape, axes)!;
      const out = sumMiddle(values(backend, x), view);
      const s = scale(view.size);
      if (s !== 1) {
        for (let i = 0; i < out.length; i++) out[i] *= s;
      }
      const shape = attrs.keepDims
        ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n))
        : x.shape.filter((_, d) => !axes.includes(d));
      return output(backend, shape, out);
    }, (a) =>
      allFloat(a.inputs) &&
      asMiddleAxis(a.inputs.x.shape, tf.util.parseAxisParam(a.attrs.axis as number[], a.inputs.x.shape)) !== null);
  reduce("Sum", () => 1);
  reduce("Mean", (count) => 1 / count);

  const poolInfo = (shape: number[], attrs: NamedAttrMap) =>
    convGeometry(
      tf.backend_util.computePool2DInfo(
        shape as [number, number, number, number],
        attrs.filterSize as number,
        attrs.strides as number,
        1,
        attrs.pad as "same",
        attrs.dimRoundingMode as "floor",
      ),
    );
  own("MaxPool", ({ inputs: { x }, backend, attrs }) => {
    const g = poolInfo(x.shape, attrs);
    return output(backend, [g.batch, g.outH, g.outW, g.inC], maxPool(values(backend, x), g));
  });
  own("MaxPoolGrad", ({ inputs: { dy, input }, backend, attrs }) => {
    const g = poolInfo(input.shape, attrs);
    return output(backend, input.shape, maxPoolGrad(values(backend, input), values(backend, dy), g));
  });
  return kernels;
}

function withBias(backend: MathBackendCPU, y: TensorInfo, bias: TensorInfo | undefined): TensorInfo {
  if (!bias) return y;
  const add = tf.getKernel("Add", BLAS_BACKEND)!.kernelFunc;
  const out = add({ inputs: { a: y, b: bias }, backend, attrs: {} }) as TensorInfo;
  backend.disposeIntermediateTensorInfo(y);
  return out;
}

/** Applies a fused op's activation with the backend's own kernel of that name. */
function activate(
  backend: MathBackendCPU,
  y: TensorInfo,
  attrs: NamedAttrMap,
  preluWeights: TensorInfo | undefined,
): TensorInfo {
  const activation = (attrs.activation as string | undefined) ?? "linear";
  if (activation === "linear") return y;
  const names: Record<string, string> = {
    relu: "Relu",
    relu6: "Relu6",
    elu: "Elu",
    sigmoid: "Sigmoid",
    prelu: "Prelu",
    leakyrelu: "LeakyRelu",
  };
  const name = names[activation];
  if (!name) throw new Error(`blas backend: unknown fused activation '${activation}'`);
  const kernel = tf.getKernel(name, BLAS_BACKEND)!.kernelFunc;
  const inputs: NamedTensorInfoMap = activation === "prelu" ? { x: y, alpha: preluWeights! } : { x: y };
  const out = kernel({ inputs, backend, attrs: { alpha: attrs.leakyreluAlpha ?? 0.2 } }) as TensorInfo;
  backend.disposeIntermediateTensorInfo(y);
  return out;
}
