/**
 * Sums over a block of adjacent axes, accumulated in float64, without the transpose that tfjs's
 * cpu backend does first when the reduced axes are not the innermost (BatchNorm's moments over
 * [N, H, W] of an NHWC activation).
 *
 * ```ts
 * const v = asMiddleAxis([64, 28, 28, 32], [0, 1, 2]); // { outer: 1, size: 50176, inner: 32 }
 * const sums = sumMiddle(x, v!); // Float32Array(32)
 * ```
 */

/** x seen as [outer, size, inner] with the reduced axes in the middle. */
export interface MiddleAxis {
  outer: number;
  size: number;
  inner: number;
}

/** The [outer, size, inner] view reducing `axes` of `shape`, or null when they are not adjacent (ignoring size-1 axes). */
export function asMiddleAxis(shape: number[], axes: number[]): MiddleAxis | null {
  const reduced = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
  let outer = 1, size = 1, inner = 1, phase = 0; // 0: before the block, 1: in it, 2: after it
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    if (reduced.has(d)) {
      if (phase === 2) return null;
      phase = 1;
      size *= shape[d];
    } else if (phase === 0) {
      outer *= shape[d];
    } else {
      phase = 2;
      inner *= shape[d];
    }
  }
  return { outer, size, inner };
}

/** Sums of x [outer, size, inner] over the middle axis: [outer, inner]. */
export function sumMiddle(x: Float32Array, { outer, size, inner }: MiddleAxis): Float32Array {
  const out = new Float32Array(outer * inner);
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * size;
      for (let r = 0; r < size; r++) s += x[base + r];
      out[o] = s;
    }
    return out;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let at = o * size * inner;
    for (let r = 0; r < size; r++, at += inner) {
      for (let i = 0; i < inner; i++) acc[i] += x[at + i];
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i];
  }
  return out;
}
