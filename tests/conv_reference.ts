/**
 * Float64 references for the kernel tests: NHWC convolution (plain and depthwise) straight from
 * the definition, its two gradients by the chain rule on the same loops, matrix products, and
 * random-case helpers. Padding is given as top/left offsets; the output size is the caller's.
 */
import { Rng } from "../core/rng.ts";

export interface ConvCase {
  /** [batch, inH, inW, inC] */
  x: number[];
  /** [kH, kW, inC, outC] (depthwise: [kH, kW, inC, multiplier]) */
  w: number[];
  stride: [number, number];
  dilation: [number, number];
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/** Calls `f(xIndex, wIndex, yIndex)` for every multiply-add of the convolution. */
function eachProduct(c: ConvCase, depthwise: boolean, f: (xi: number, wi: number, yi: number) => void): void {
  const [batch, inH, inW, inC] = c.x;
  const [kH, kW, , k3] = c.w;
  const outC = depthwise ? inC * k3 : k3;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < c.outH; oy++) {
      for (let ox = 0; ox < c.outW; ox++) {
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * c.stride[0] - c.padTop + ky * c.dilation[0];
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * c.stride[1] - c.padLeft + kx * c.dilation[1];
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((b * inH + iy) * inW + ix) * inC;
            const yBase = ((b * c.outH + oy) * c.outW + ox) * outC;
            const wBase = (ky * kW + kx) * inC * k3;
            for (let ci = 0; ci < inC; ci++) {
              for (let q = 0; q < k3; q++) {
                const yc = depthwise ? ci * k3 + q : q;
                f(xBase + ci, wBase + ci * k3 + q, yBase + yc);
              }
            }
          }
        }
      }
    }
  }
}

function outSize(c: ConvCase, depthwise: boolean): number {
  return c.x[0] * c.outH * c.outW * (depthwise ? c.x[3] * c.w[3] : c.w[3]);
}

export function conv64(c: ConvCase, x: ArrayLike<number>, w: ArrayLike<number>, depthwise = false): Float64Array {
  const y = new Float64Array(outSize(c, depthwise));
  eachProduct(c, depthwise, (xi, wi, yi) => (y[yi] += x[xi] * w[wi]));
  return y;
}

export function convBackpropInput64(c: ConvCase, dy: ArrayLike<number>, w: ArrayLike<number>, depthwise = false) {
  const dx = new Float64Array(c.x.reduce((p, n) => p * n, 1));
  eachProduct(c, depthwise, (xi, wi, yi) => (dx[xi] += dy[yi] * w[wi]));
  return dx;
}

export function convBackpropFilter64(c: ConvCase, x: ArrayLike<number>, dy: ArrayLike<number>, depthwise = false) {
  const dw = new Float64Array(c.w.reduce((p, n) => p * n, 1));
  eachProduct(c, depthwise, (xi, wi, yi) => (dw[wi] += x[xi] * dy[yi]));
  return dw;
}

/** Padding as the test cases give it: "same", "valid", or explicit [[top, bottom], [left, right]]. */
export type Pad = "same" | "valid" | [[number, number], [number, number]];

/** The same padding as a tfjs conv kernel attribute (explicit padding covers all four NHWC axes). */
export const tfPad = (pad: Pad) => (typeof pad === "string" ? pad : [[0, 0], ...pad, [0, 0]]);

/** TensorFlow's output size and top/left padding for "same" / "valid" / explicit [[t, b], [l, r]]. */
export function convGeometry64(
  inH: number,
  inW: number,
  kH: number,
  kW: number,
  stride: [number, number],
  dilation: [number, number],
  pad: Pad,
): { outH: number; outW: number; padTop: number; padLeft: number } {
  const eh = (kH - 1) * dilation[0] + 1, ew = (kW - 1) * dilation[1] + 1;
  if (pad === "valid") {
    return {
      outH: Math.ceil((inH - eh + 1) / stride[0]),
      outW: Math.ceil((inW - ew + 1) / stride[1]),
      padTop: 0,
      padLeft: 0,
    };
  }
  if (pad === "same") {
    const outH = Math.ceil(inH / stride[0]), outW = Math.ceil(inW / stride[1]);
    const padH = Math.max(0, (outH - 1) * stride[0] + eh - inH), padW = Math.max(0, (outW - 1) * stride[1] + ew - inW);
    return { outH, outW, padTop: Math.floor(padH / 2), padLeft: Math.floor(padW / 2) };
  }
  const [[t, b], [l, r]] = pad;
  return {
    outH: Math.floor((inH + t + b - eh) / stride[0]) + 1,
    outW: Math.floor((inW + l + r - ew) / stride[1]) + 1,
    padTop: t,
    padLeft: l,
  };
}

/** C = op(A) · op(B) for one matrix, float64; A [m, k] (or [k, m] transposed), B [k, n] (or [n, k]). */
export function matMul64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  }
  return c;
}

/** `n` standard normal float32 values. */
export function normals(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}
