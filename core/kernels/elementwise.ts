/**
 * Element-wise float32 ops at memory speed: binary ops with NumPy broadcasting, and unary ops.
 *
 * tfjs's cpu backend computes every broadcast element through index arithmetic on arrays
 * (~100 ns each), which makes `x - mean` on a [64, 28, 28, 32] activation cost tens of
 * milliseconds. Here adjacent axes that broadcast alike are merged first, so `[N, H, W, C] op [C]`
 * becomes one loop over [N·H·W, C] whose inner loop is contiguous.
 *
 * Each op's loop is generated from its expression (`new Function`) rather than taking the op as a
 * callback: V8 compiles one loop for all closures of a factory, so a callback stays a real call
 * per element, 5–8× slower than the inlined expression.
 *
 * ```ts
 * const sub = binaryOp("x - y");
 * const y = sub(x, [64, 28, 28, 32], mean, [32], [64, 28, 28, 32]); // Float32Array
 * const relu = unaryOp("x > 0 ? x : (x === x ? 0 : x)");
 * ```
 */

/** What the loops read and write: float32, int32, or bool (0/1 bytes). */
export type Values = Float32Array | Int32Array | Uint8Array;
export type BinaryFn = (a: Values, aShape: number[], b: Values, bShape: number[], outShape: number[]) => Values;
export type UnaryFn = (x: Float32Array, alpha?: number) => Float32Array;

/** Merged loop nest: sizes and element strides of a and b per axis, outermost first. */
interface Nest {
  size: number[];
  a: number[];
  b: number[];
}

function nest(aShape: number[], bShape: number[], outShape: number[]): Nest {
  const rank = outShape.length;
  const pad = (s: number[]) => [...new Array(rank - s.length).fill(1), ...s];
  const as = pad(aShape), bs = pad(bShape);
  // Innermost first while merging.
  const size: number[] = [], sa: number[] = [], sb: number[] = [];
  let strideA = 1, strideB = 1;
  for (let d = rank - 1; d >= 0; d--) {
    const n = outShape[d];
    const da = as[d] === 1 ? 0 : strideA, db = bs[d] === 1 ? 0 : strideB;
    strideA *= as[d];
    strideB *= bs[d];
    if (n === 1) continue;
    const last = size.length - 1;
    if (last >= 0 && sa[last] * size[last] === da && sb[last] * size[last] === db) {
      size[last] *= n;
    } else {
      size.push(n);
      sa.push(da);
      sb.push(db);
    }
  }
  if (size.length === 0) return { size: [1], a: [0], b: [0] };
  return { size: size.reverse(), a: sa.reverse(), b: sb.reverse() };
}

/** The loop over a merged nest: the innermost axis specialised by which operand moves, an odometer outside. */
const binaryLoop = (expr: string) => `
  const depth = size.length - 1, inner = size[depth], ia = sa[depth], ib = sb[depth];
  const index = new Array(depth).fill(0);
  let pa = 0, pb = 0;
  for (let o = 0; o < out.length; o += inner) {
    if (ia === 1 && ib === 1) {
      for (let i = 0; i < inner; i++) { const x = a[pa + i], y = b[pb + i]; out[o + i] = ${expr}; }
    } else if (ia === 1) {
      const y = b[pb];
      for (let i = 0; i < inner; i++) { const x = a[pa + i]; out[o + i] = ${expr}; }
    } else if (ib === 1) {
      const x = a[pa];
      for (let i = 0; i < inner; i++) { const y = b[pb + i]; out[o + i] = ${expr}; }
    } else {
      for (let i = 0; i < inner; i++) { const x = a[pa + i * ia], y = b[pb + i * ib]; out[o + i] = ${expr}; }
    }
    for (let d = depth - 1; d >= 0; d--) {
      pa += sa[d];
      pb += sb[d];
      if (++index[d] < size[d]) break;
      index[d] = 0;
      pa -= sa[d] * size[d];
      pb -= sb[d] * size[d];
    }
  }`;

/**
 * A broadcasting kernel computing `expr` of `x` (from a) and `y` (from b), e.g. "x * y"; its
 * result is float32, or bool (0/1 bytes) for comparisons such as "+(x === y)".
 */
export function binaryOp(expr: string, result: "float32" | "bool" = "float32"): BinaryFn {
  const loop = new Function("out", "a", "b", "size", "sa", "sb", binaryLoop(expr)) as (
    out: Values,
    a: Values,
    b: Values,
    size: number[],
    sa: number[],
    sb: number[],
  ) => void;
  return (a, aShape, b, bShape, outShape) => {
    const { size, a: sa, b: sb } = nest(aShape, bShape, outShape);
    const total = outShape.reduce((p, n) => p * n, 1);
    const out = result === "bool" ? new Uint8Array(total) : new Float32Array(total);
    if (out.length > 0) loop(out, a, b, size, sa, sb);
    return out;
  };
}

/** A kernel computing `expr` of `x` (and the attribute `alpha`) per element, e.g. "Math.sqrt(x)". */
export function unaryOp(expr: string): UnaryFn {
  const loop = new Function(
    "out",
    "xs",
    "alpha",
    `for (let i = 0; i < xs.length; i++) { const x = xs[i]; out[i] = ${expr}; }`,
  ) as (out: Float32Array, xs: Float32Array, alpha: number) => void;
  return (x, alpha = 0) => {
    const out = new Float32Array(x.length);
    loop(out, x, alpha);
    return out;
  };
}
