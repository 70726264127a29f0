/**
 * Gradients of an NHWC depthwise convolution (filter [kH, kW, inC, mult], output channel
 * c·mult + q), for backends that lack them. Plain loops: a depthwise convolution does little
 * arithmetic per byte, so there is no matrix product to hand to a faster engine.
 *
 * ```ts
 * const info = tf.backend_util.computeConv2DInfo(x.shape, w.shape, strides, dilations, pad, undefined, true);
 * const dx = depthwiseBackpropInput(dy, w, convGeometry(info), info.outChannels / info.inChannels);
 * ```
 */
import type { ConvGeometry } from "./im2col.ts";

/** Calls `visit(inBase, outBase, tap)` for every in-bounds (output pixel, filter tap) pair; bases index channel 0. */
function eachTap(g: ConvGeometry, outC: number, visit: (inBase: number, outBase: number, tap: number) => void): void {
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        const outBase = ((b * g.outH + oy) * g.outW + ox) * outC;
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (ix < 0 || ix >= g.inW) continue;
            visit(((b * g.inH + iy) * g.inW + ix) * g.inC, outBase, ky * g.kW + kx);
          }
        }
      }
    }
  }
}

/** dx [batch, inH, inW, inC] from dy [batch, outH, outW, inC·mult] and w [kH, kW, inC, mult]. */
export function depthwiseBackpropInput(dy: Float32Array, w: Float32Array, g: ConvGeometry, mult: number): Float32Array {
  const dx = new Float32Array(g.batch * g.inH * g.inW * g.inC);
  const C = g.inC, outC = C * mult;
  eachTap(g, outC, (inBase, outBase, tap) => {
    const wBase = tap * outC;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let q = 0; q < mult; q++) s += dy[outBase + c * mult + q] * w[wBase + c * mult + q];
      dx[inBase + c] += s;
    }
  });
  return dx;
}

/** dW [kH, kW, inC, mult] from x [batch, inH, inW, inC] and dy [batch, outH, outW, inC·mult]. */
export function depthwiseBackpropFilter(
  x: Float32Array,
  dy: Float32Array,
  g: ConvGeometry,
  mult: number,
): Float32Array {
  const C = g.inC, outC = C * mult;
  // float64 sums: each weight collects batch·outH·outW terms.
  const dw = new Float64Array(g.kH * g.kW * outC);
  eachTap(g, outC, (inBase, outBase, tap) => {
    const wBase = tap * outC;
    for (let c = 0; c < C; c++) {
      const v = x[inBase + c];
      for (let q = 0; q < mult; q++) dw[wBase + c * mult + q] += v * dy[outBase + c * mult + q];
    }
  });
  return Float32Array.from(dw);
}
