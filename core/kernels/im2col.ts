/**
 * im2col and its transpose for NHWC convolutions: each output pixel's receptive field becomes one
 * row, so a convolution is one matrix product with the filter seen as [kH·kW·inC, outC].
 *
 * ```ts
 * const g = convGeometry(tf.backend_util.computeConv2DInfo(x.shape, w.shape, 1, 1, "same"));
 * const col = new Float32Array(g.batch * g.outH * g.outW * g.patch);
 * im2col(x, g, 0, g.batch, col); // rows (b, y, x), columns (ky, kx, c)
 * ```
 */
import type { backend_util } from "@tensorflow/tfjs-core";

/** Everything the loops need from tfjs's Conv2DInfo (padding resolved to top/left). */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  /** Columns of a patch row: kH·kW·inC. */
  patch: number;
  /** Output pixels per image: outH·outW. */
  pixels: number;
}

export function convGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    dilationH: info.dilationHeight,
    dilationW: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    patch: info.filterHeight * info.filterWidth * info.inChannels,
    pixels: info.outHeight * info.outWidth,
  };
}

/** A 1×1 convolution with stride 1 and no padding: the input already is the patch matrix. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0 &&
    g.outH === g.inH && g.outW === g.inW;
}

/** Writes the patches of images [b0, b0 + n) into `col` [n·outH·outW, patch]; padding reads as 0. */
export function im2col(x: Float32Array, g: ConvGeometry, b0: number, n: number, col: Float32Array): void {
  const { inH, inW, inC, outH, outW, kH, kW, patch } = g;
  // A kernel row that lies inside the image is one contiguous run of kW·inC values (dilation 1):
  // copied by one loop, it saves a bounds test per tap, which dominates for few channels.
  const run = kW * inC;
  let row = 0;
  for (let b = b0; b < b0 + n; b++) {
    const image = b * inH * inW * inC;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, row++) {
        let at = row * patch;
        const ix0 = ox * g.strideW - g.padLeft;
        const inside = g.dilationW === 1 && ix0 >= 0 && ix0 + kW <= inW;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (inside && iy >= 0 && iy < inH) {
            const from = image + (iy * inW + ix0) * inC;
            for (let i = 0; i < run; i++) col[at + i] = x[from + i];
            at += run;
            continue;
          }
          for (let kx = 0; kx < kW; kx++, at += inC) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (iy < 0 || iy >= inH || ix < 0 || ix >= inW) {
              col.fill(0, at, at + inC);
              continue;
            }
            const from = image + (iy * inW + ix) * inC;
            for (let c = 0; c < inC; c++) col[at + c] = x[from + c];
          }
        }
      }
    }
  }
}

/** The transpose of {@link im2col}: adds each patch row of `col` back onto images [b0, b0 + n) of `dx`. */
export function col2im(col: Float32Array, g: ConvGeometry, b0: number, n: number, dx: Float32Array): void {
  const { inH, inW, inC, outH, outW, kH, kW, patch } = g;
  const run = kW * inC; // as in im2col: a kernel row inside the image is one contiguous run
  let row = 0;
  for (let b = b0; b < b0 + n; b++) {
    const image = b * inH * inW * inC;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, row++) {
        let at = row * patch;
        const ix0 = ox * g.strideW - g.padLeft;
        const inside = g.dilationW === 1 && ix0 >= 0 && ix0 + kW <= inW;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (inside && iy >= 0 && iy < inH) {
            const to = image + (iy * inW + ix0) * inC;
            for (let i = 0; i < run; i++) dx[to + i] += col[at + i];
            at += run;
            continue;
          }
          for (let kx = 0; kx < kW; kx++, at += inC) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (iy < 0 || iy >= inH || ix < 0 || ix >= inW) continue;
            const to = image + (iy * inW + ix) * inC;
            for (let c = 0; c < inC; c++) dx[to + c] += col[at + c];
          }
        }
      }
    }
  }
}
