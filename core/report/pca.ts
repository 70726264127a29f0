/**
 * Principal component analysis onto two axes, in float64: the linear view of an embedding map.
 * The covariance's top eigenvectors come from block subspace iteration (spare vectors make it
 * converge at the rate of the 11th eigenvalue, not the 3rd) with a Rayleigh–Ritz step. It stops
 * after at most 300 rounds: by then only axes whose eigenvalues are nearly equal can be unsettled,
 * and such axes are interchangeable for a picture (the variance shares stay accurate).
 *
 * ```ts
 * const { points, explained } = pca2(split.data, split.n, split.dim);   // points: [n, 2] row-major
 * ```
 */
import { Rng } from "../rng.ts";
import { blas } from "../blas.ts";

export interface Pca2 {
  /** Row i's coordinates on the two axes, row-major [n, 2]. */
  points: Float64Array;
  /** The two unit axes, each of length dim; the sign makes the largest loading positive. */
  axes: [Float64Array, Float64Array];
  /** Each axis's share of the total variance. */
  explained: [number, number];
}

/** Projects the rows of `data` [n, dim] onto their first two principal components. */
export function pca2(data: ArrayLike<number>, n: number, dim: number): Pca2 {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += data[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= Math.max(n, 1);
  const cov = covariance(data, n, dim, mean);
  let trace = 0;
  for (let j = 0; j < dim; j++) trace += cov[j * dim + j];
  const { vectors, values } = topEigen(cov, dim, Math.min(2, dim));
  const axes: [Float64Array, Float64Array] = [vectors[0], vectors[1] ?? new Float64Array(dim)];
  for (const a of axes) {
    let big = 0;
    for (let j = 0; j < dim; j++) if (Math.abs(a[j]) > Math.abs(big)) big = a[j];
    if (big < 0) { for (let j = 0; j < dim; j++) a[j] = -a[j]; }
  }
  const points = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (data[i * dim + j] - mean[j]) * axes[k][j];
      points[i * 2 + k] = s;
    }
  }
  const share = (v: number | undefined) => (trace > 0 && v !== undefined ? Math.max(0, v) / trace : 0);
  return { points, axes, explained: [share(values[0]), share(values[1])] };
}

/**
 * The sample covariance [dim, dim] (divided by n − 1), in float64. A BLAS dsyrk computes it where
 * one is loaded (`native`, default) and the product is large: 2,000 flattened 3,136-d feature
 * maps take 20 s in the loop below and a fraction of a second there.
 */
export function covariance(
  data: ArrayLike<number>,
  n: number,
  dim: number,
  mean: Float64Array,
  native = true,
): Float64Array {
  const cov = new Float64Array(dim * dim);
  const lib = native && n * dim * dim > NATIVE_MIN_WORK ? blas() : null;
  if (lib?.gramT64) {
    const centred = new Float64Array(n * dim);
    for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) centred[i * dim + j] = data[i * dim + j] - mean[j];
    lib.gramT64(centred, n, dim, cov);
    const d = Math.max(n - 1, 1);
    for (let i = 0; i < cov.length; i++) cov[i] /= d;
    return cov;
  }
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = data[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const base = a * dim;
      for (let b = a; b < dim; b++) cov[base + b] += ra * row[b];
    }
  }
  const d = Math.max(n - 1, 1);
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      cov[a * dim + b] /= d;
      cov[b * dim + a] = cov[a * dim + b];
    }
  }
  return cov;
}

/** Below this many multiply-adds the plain loop is quick enough (and needs no FFI). */
const NATIVE_MIN_WORK = 1e7;

/** The `count` largest eigenpairs of the symmetric matrix `m` [dim, dim]. */
function topEigen(m: Float64Array, dim: number, count: number): { vectors: Float64Array[]; values: number[] } {
  const b = Math.min(dim, count + 8);
  const rng = new Rng(1);
  let v = orthonormal(Array.from({ length: b }, () => Float64Array.from({ length: dim }, () => rng.normal())));
  let prev: Float64Array[] | null = null;
  let values: number[] = [];
  for (let it = 0; it < 300; it++) {
    const w = v.map((col) => multiply(m, col, dim));
    // Rayleigh–Ritz: the best approximations of eigenvectors inside span(v), largest first.
    const h = new Float64Array(b * b);
    for (let r = 0; r < b; r++) for (let c = 0; c < b; c++) h[r * b + c] = dot(v[r], w[c]);
    const small = jacobiEigen(h, b);
    values = small.values;
    v = small.vectors.map((u) => combine(v, u));
    const wr = small.vectors.map((u) => combine(w, u));
    const done = prev !== null &&
      prev.every((p, k) => 1 - Math.abs(dot(p, v[k])) < 1e-13);
    if (done) break;
    prev = v.slice(0, count).map((c) => c.slice());
    v = orthonormal(wr);
  }
  return { vectors: v.slice(0, count), values: values.slice(0, count) };
}

function multiply(m: Float64Array, x: Float64Array, dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (let r = 0; r < dim; r++) {
    let s = 0;
    const base = r * dim;
    for (let c = 0; c < dim; c++) s += m[base + c] * x[c];
    out[r] = s;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Σ_k cols[k] · u[k]. */
function combine(cols: Float64Array[], u: Float64Array): Float64Array {
  const out = new Float64Array(cols[0].length);
  cols.forEach((c, k) => {
    for (let i = 0; i < out.length; i++) out[i] += c[i] * u[k];
  });
  return out;
}

/** Modified Gram–Schmidt in column order; a dependent column is replaced by a fresh unit vector. */
function orthonormal(cols: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const c of cols) {
    const v = c.slice();
    for (const q of out) {
      const p = dot(q, v);
      for (let i = 0; i < v.length; i++) v[i] -= p * q[i];
    }
    let norm = Math.sqrt(dot(v, v));
    if (!(norm > 1e-300)) {
      v.fill(0);
      v[out.length % v.length] = 1;
      norm = 1;
    }
    for (let i = 0; i < v.length; i++) v[i] /= norm;
    out.push(v);
  }
  return out;
}

/** All eigenpairs of a small symmetric matrix (cyclic Jacobi), sorted by value, largest first. */
function jacobiEigen(input: Float64Array, n: number): { values: number[]; vectors: Float64Array[] } {
  const a = input.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y] - a[x * n + x]);
  return {
    values: order.map((i) => a[i * n + i]),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i])),
  };
}
