/**
 * NHWC 2-D convolution and both of its gradients as matrix products (im2col / col2im around a
 * gemm), for any engine that multiplies matrices fast: BLAS on the `blas` backend, the wasm
 * backend's own matmul for its missing Conv2DBackpropFilter.
 *
 * With P = kH·kW·inC patch columns and M = batch·outH·outW output pixels:
 *   y  [M, outC] = col(x) [M, P] · W [P, outC]
 *   dx           = col2im(dy [M, outC] · Wᵀ)
 *   dW [P, outC] = col(x)ᵀ · dy
 * A 1×1 stride-1 convolution skips im2col. Images are processed in chunks so that the patch
 * matrix stays near {@link CHUNK_FLOATS} (a ResNet stem at 224×224 would need ~240 MB at once).
 *
 * ```ts
 * const y = conv2dByGemm(x, w, g, outC, lib.gemm);
 * ```
 */
import type { Gemm } from "../blas.ts";
import { col2im, type ConvGeometry, im2col, isPointwise } from "./im2col.ts";

export type GemmFn = (g: Gemm) => void;

/** Patch-matrix floats per chunk (32 MB). */
export const CHUNK_FLOATS = 8 << 20;

let patches = new Float32Array(0);

/**
 * The patch matrix, kept between calls: fresh memory costs a page fault per 4 KB on first touch,
 * which is slower than the im2col that fills it. Every user overwrites what it reads.
 */
function patchBuffer(n: number): Float32Array {
  if (patches.length < n) patches = new Float32Array(n);
  return patches.subarray(0, n);
}

function imagesPerChunk(g: ConvGeometry): number {
  return Math.max(1, Math.min(g.batch, Math.floor(CHUNK_FLOATS / Math.max(1, g.pixels * g.patch))));
}

/** Calls `f` on successive chunks of images [b0, b0 + n), with the patch buffer sized for a chunk. */
function forEachChunk(g: ConvGeometry, f: (b0: number, n: number, col: Float32Array) => void): void {
  const per = imagesPerChunk(g);
  const col = patchBuffer(per * g.pixels * g.patch);
  for (let b0 = 0; b0 < g.batch; b0 += per) f(b0, Math.min(per, g.batch - b0), col);
}

/** y [batch, outH, outW, outC] of x [batch, inH, inW, inC] and filter w [kH, kW, inC, outC]. */
export function conv2dByGemm(
  x: Float32Array,
  w: Float32Array,
  g: ConvGeometry,
  outC: number,
  gemm: GemmFn,
): Float32Array {
  const y = new Float32Array(g.batch * g.pixels * outC);
  if (isPointwise(g)) {
    gemm({ m: g.batch * g.pixels, n: outC, k: g.inC, a: x, b: w, c: y });
    return y;
  }
  forEachChunk(g, (b0, n, col) => {
    im2col(x, g, b0, n, col);
    gemm({ m: n * g.pixels, n: outC, k: g.patch, a: col, b: w, c: y.subarray(b0 * g.pixels * outC) });
  });
  return y;
}

/** dx [batch, inH, inW, inC] from dy [batch, outH, outW, outC] and w [kH, kW, inC, outC]. */
export function conv2dBackpropInputByGemm(
  dy: Float32Array,
  w: Float32Array,
  g: ConvGeometry,
  outC: number,
  gemm: GemmFn,
): Float32Array {
  const dx = new Float32Array(g.batch * g.inH * g.inW * g.inC);
  if (isPointwise(g)) {
    gemm({ m: g.batch * g.pixels, n: g.inC, k: outC, a: dy, b: w, transB: true, c: dx });
    return dx;
  }
  forEachChunk(g, (b0, n, col) => {
    gemm({ m: n * g.pixels, n: g.patch, k: outC, a: dy.subarray(b0 * g.pixels * outC), b: w, transB: true, c: col });
    col2im(col, g, b0, n, dx);
  });
  return dx;
}

/** dW [kH, kW, inC, outC] from x [batch, inH, inW, inC] and dy [batch, outH, outW, outC]. */
export function conv2dBackpropFilterByGemm(
  x: Float32Array,
  dy: Float32Array,
  g: ConvGeometry,
  outC: number,
  gemm: GemmFn,
): Float32Array {
  const dw = new Float32Array(g.patch * outC);
  if (isPointwise(g)) {
    gemm({ m: g.inC, n: outC, k: g.batch * g.pixels, a: x, transA: true, b: dy, c: dw });
    return dw;
  }
  forEachChunk(g, (b0, n, col) => {
    im2col(x, g, b0, n, col);
    gemm({
      m: g.patch,
      n: outC,
      k: n * g.pixels,
      a: col,
      transA: true,
      b: dy.subarray(b0 * g.pixels * outC),
      c: dw,
      beta: b0 === 0 ? 0 : 1,
    });
  });
  return dw;
}
