/**
 * NHWC max-pooling and its gradient with the channel loop innermost (contiguous), replacing
 * tfjs cpu loops that index a TensorBuffer per element. Ties go to the first maximum in window
 * order, as in tfjs; a window entirely in the padding yields -Infinity and passes no gradient.
 *
 * ```ts
 * const g = convGeometry(tf.backend_util.computePool2DInfo(x.shape, 2, 2, 1, "same"));
 * const y = maxPool(x, g);
 * const dx = maxPoolGrad(x, dy, g);
 * ```
 */
import type { ConvGeometry } from "./im2col.ts";

/** Visits each output pixel's window; `visit(outBase, inBase)` per in-bounds input pixel, `done(outBase)` after. */
function eachWindow(
  g: ConvGeometry,
  start: () => void,
  visit: (inBase: number) => void,
  done: (outBase: number) => void,
): void {
  const { inH, inW, inC, outH, outW } = g;
  let out = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, out += inC) {
        start();
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
            if (ix < 0 || ix >= inW) continue;
            visit(((b * inH + iy) * inW + ix) * inC);
          }
        }
        done(out);
      }
    }
  }
}

export function maxPool(x: Float32Array, g: ConvGeometry): Float32Array {
  const C = g.inC;
  const y = new Float32Array(g.batch * g.pixels * C);
  const best = new Float32Array(C);
  eachWindow(
    g,
    () => best.fill(-Infinity),
    (at) => {
      for (let c = 0; c < C; c++) if (x[at + c] > best[c]) best[c] = x[at + c];
    },
    (out) => y.set(best, out),
  );
  return y;
}

/** dx of max-pooling x with upstream gradient dy. */
export function maxPoolGrad(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float32Array {
  const C = g.inC;
  const dx = new Float32Array(x.length);
  const best = new Float32Array(C);
  const arg = new Int32Array(C);
  eachWindow(
    g,
    () => {
      best.fill(-Infinity);
      arg.fill(-1);
    },
    (at) => {
      for (let c = 0; c < C; c++) {
        if (x[at + c] > best[c]) {
          best[c] = x[at + c];
          arg[c] = at + c;
        }
      }
    },
    (out) => {
      for (let c = 0; c < C; c++) if (arg[c] >= 0) dx[arg[c]] += dy[out + c];
    },
  );
  return dx;
}
