/**
 * Batched matrix products (tfjs BatchMatMul semantics: optional transposes of the last two axes,
 * broadcasting over the leading ones) as one gemm per batch entry, or one gemm in all when the
 * right operand is a single matrix.
 *
 * ```ts
 * const { values, shape } = batchMatMulByGemm(a, [8, 64, 32], b, [32, 16], false, false, lib.gemm);
 * // shape [8, 64, 16]
 * ```
 */
import type { GemmFn } from "./conv_gemm.ts";

export function batchMatMulByGemm(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  transA: boolean,
  transB: boolean,
  gemm: GemmFn,
): { values: Float32Array; shape: number[] } {
  const ra = aShape.length, rb = bShape.length;
  const m = transA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transA ? aShape[ra - 2] : aShape[ra - 1];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  const aBatch = aShape.slice(0, -2), bBatch = bShape.slice(0, -2);
  const batchShape = broadcastShape(aBatch, bBatch);
  const batches = batchShape.reduce((p, s) => p * s, 1);
  const c = new Float32Array(batches * m * n);
  const bCount = bBatch.reduce((p, s) => p * s, 1);
  if (bCount === 1 && !transA) {
    // Every batch entry of A against one B: stack A's rows into one product.
    gemm({ m: batches * m, n, k, a, b, c, transB });
    return { values: c, shape: [...batchShape, m, n] };
  }
  const aOffsets = batchOffsets(aBatch, batchShape, m * k);
  const bOffsets = batchOffsets(bBatch, batchShape, k * n);
  for (let i = 0; i < batches; i++) {
    gemm({
      m,
      n,
      k,
      a: a.subarray(aOffsets[i]),
      b: b.subarray(bOffsets[i]),
      c: c.subarray(i * m * n),
      transA,
      transB,
    });
  }
  return { values: c, shape: [...batchShape, m, n] };
}

function broadcastShape(x: number[], y: number[]): number[] {
  const rank = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const p = x[x.length - rank + i] ?? 1, q = y[y.length - rank + i] ?? 1;
    if (p !== q && p !== 1 && q !== 1) throw new Error(`matMul: batch shapes [${x}] and [${y}] do not broadcast`);
    out.push(Math.max(p, q));
  }
  return out;
}

/** Element offset of the operand's matrix for each entry of the broadcast batch, in row-major order. */
function batchOffsets(own: number[], batchShape: number[], matrix: number): number[] {
  const rank = batchShape.length;
  const shape = [...new Array(rank - own.length).fill(1), ...own];
  const strides = new Array(rank).fill(0);
  for (let d = rank - 1, s = matrix; d >= 0; d--) {
    strides[d] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  const total = batchShape.reduce((p, s) => p * s, 1);
  const out = new Array(total);
  const index = new Array(rank).fill(0);
  let offset = 0;
  for (let i = 0; i < total; i++) {
    out[i] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      offset += strides[d];
      if (++index[d] < batchShape[d]) break;
      index[d] = 0;
      offset -= strides[d] * batchShape[d];
    }
  }
  return out;
}
