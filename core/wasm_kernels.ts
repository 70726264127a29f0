/**
 * Kernels the tfjs wasm backend (4.22) lacks, registered so every built-in backbone and loss trains
 * on wasm: Conv2DBackpropFilter (im2col + the backend's own XNNPACK matmul), the depthwise
 * convolution gradients, and UnsortedSegmentSum (the gradient of gather); also the fused kernels of
 * core/host_kernels.ts. Importing this module
 * registers them; core/backend.ts does so when it loads wasm.
 *
 * They are JavaScript kernels: inputs are copied out of the wasm heap (an allocation may grow
 * and detach it) and results written back with `makeOutput`.
 *
 * ```ts
 * await import("./wasm_kernels.ts");
 * tf.getKernel("Conv2DBackpropFilter", "wasm"); // defined
 * ```
 */
import { tf } from "./tf.ts";
import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { convGeometry } from "./kernels/im2col.ts";
import { conv2dBackpropFilterByGemm, type GemmFn } from "./kernels/conv_gemm.ts";
import { depthwiseBackpropFilter, depthwiseBackpropInput } from "./kernels/depthwise.ts";
import { unsortedSegmentSum } from "./kernels/segment.ts";
import { registerHostBackend } from "./host_kernels.ts";

interface Args {
  inputs: Record<string, TensorInfo>;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}
type Shape4 = [number, number, number, number];

/** A copy of the tensor's values, safe from heap growth. */
function read(backend: BackendWasm, t: TensorInfo): Float32Array | Int32Array {
  const v = backend.typedArrayFromHeap(t);
  return v instanceof Int32Array ? v.slice() : Float32Array.from(v);
}

function write(backend: BackendWasm, shape: number[], values: Float32Array | Int32Array): TensorInfo {
  return backend.makeOutput(shape, values instanceof Int32Array ? "int32" : "float32", undefined, values);
}

/** C = op(A) · op(B) (+ C when beta is 1) on dense operands, by the wasm backend's BatchMatMul. */
function wasmGemm(backend: BackendWasm): GemmFn {
  const matMul = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc;
  return ({ m, n, k, a, b, c, transA = false, transB = false, alpha = 1, beta = 0, lda, ldb, ldc }) => {
    const dense = (lda === undefined || lda === (transA ? m : k)) && (ldb === undefined || ldb === (transB ? k : n)) &&
      (ldc === undefined || ldc === n);
    if (!dense || alpha !== 1 || (beta !== 0 && beta !== 1)) throw new Error("wasmGemm: only dense C = A·B (+ C)");
    const ta = write(backend, transA ? [1, k, m] : [1, m, k], a.subarray(0, m * k));
    const tb = write(backend, transB ? [1, n, k] : [1, k, n], b.subarray(0, k * n));
    const out = matMul({ inputs: { a: ta, b: tb }, backend, attrs: { transposeA: transA, transposeB: transB } });
    const product = backend.typedArrayFromHeap(out as TensorInfo);
    if (beta === 0) c.set(product);
    else for (let i = 0; i < m * n; i++) c[i] += product[i];
    for (const t of [ta, tb, out as TensorInfo]) backend.disposeData(t.dataId);
  };
}

function conv2dBackpropFilter({ inputs: { x, dy }, backend, attrs }: Args): TensorInfo {
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC") throw new Error("wasm Conv2DBackpropFilter: only NHWC");
  const filterShape = attrs.filterShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    attrs.strides as number,
    1,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor",
  );
  const dw = conv2dBackpropFilterByGemm(
    read(backend, x) as Float32Array,
    read(backend, dy) as Float32Array,
    convGeometry(info),
    info.outChannels,
    wasmGemm(backend),
  );
  return write(backend, filterShape, dw);
}

function depthwiseInfo(inShape: Shape4, filterShape: Shape4, attrs: NamedAttrMap) {
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides as number,
    attrs.dilations as number,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor",
    true,
  );
}

function depthwiseBackpropInputKernel({ inputs: { dy, filter }, backend, attrs }: Args): TensorInfo {
  const inShape = attrs.inputShape as Shape4;
  const info = depthwiseInfo(inShape, filter.shape as Shape4, attrs);
  const dx = depthwiseBackpropInput(
    read(backend, dy) as Float32Array,
    read(backend, filter) as Float32Array,
    convGeometry(info),
    filter.shape[3],
  );
  return write(backend, inShape, dx);
}

function depthwiseBackpropFilterKernel({ inputs: { x, dy }, backend, attrs }: Args): TensorInfo {
  const filterShape = attrs.filterShape as Shape4;
  const info = depthwiseInfo(x.shape as Shape4, filterShape, attrs);
  const dw = depthwiseBackpropFilter(
    read(backend, x) as Float32Array,
    read(backend, dy) as Float32Array,
    convGeometry(info),
    filterShape[3],
  );
  return write(backend, filterShape, dw);
}

function unsortedSegmentSumKernel({ inputs: { x, segmentIds }, backend, attrs }: Args): TensorInfo {
  const numSegments = attrs.numSegments as number;
  const inner = x.shape.slice(segmentIds.shape.length);
  const rowSize = inner.reduce((p, n) => p * n, 1);
  const values = read(backend, x);
  const out = values instanceof Int32Array
    ? new Int32Array(numSegments * rowSize)
    : new Float32Array(numSegments * rowSize);
  unsortedSegmentSum(values, read(backend, segmentIds), numSegments, rowSize, out);
  return write(backend, [numSegments, ...inner], out);
}

const KERNELS: Record<string, (args: Args) => TensorInfo> = {
  Conv2DBackpropFilter: conv2dBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInputKernel,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilterKernel,
  UnsortedSegmentSum: unsortedSegmentSumKernel,
};

for (const [kernelName, kernel] of Object.entries(KERNELS)) {
  // A later tfjs-backend-wasm may bring its own: keep it.
  if (!tf.getKernel(kernelName, "wasm")) {
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: kernel as unknown as KernelFunc });
  }
}

// The fused kernels (BatchNorm, Adam, the residual join); BatchNorm's float64 sums also avoid
// wasm's float32 Sum/Mean.
registerHostBackend("wasm", (backend) => ({
  read: (t) => read(backend as BackendWasm, t) as Float32Array,
  write: (shape, v) => write(backend as BackendWasm, shape, v),
}));

/** The kernels this module adds to wasm. */
export const WASM_KERNELS: readonly string[] = Object.keys(KERNELS);
