/**
 * A BLAS sgemm through Deno's FFI: the fast CPU path for similarity matrices (kNN, k-means).
 * OpenBLAS reaches most of the machine's sgemm ceiling where tfjs's cpu kernels reach about 1%.
 *
 * Optional by design: it needs `--allow-ffi` and a BLAS library (Debian: `apt-get install
 * libopenblas0-pthread`; or set `DML_BLAS=/path/to/libblas.so`). Without either, {@link blas}
 * returns null and callers use the tfjs backend instead. It never prompts for the permission.
 *
 * ```ts
 * const lib = blas();
 * if (lib) lib.gemmNT(a, m, b, n, d, c); // c[m, n] = a[m, d] · b[n, d]ᵀ
 * ```
 */

/**
 * A general row-major product C [m, n] = alpha · op(A) · op(B) + beta · C, where op(A) is [m, k] and
 * op(B) is [k, n]: A is stored [m, k], or [k, m] when `transA`; B is [k, n], or [n, k] when `transB`.
 * Leading dimensions default to the dense row lengths; views (`subarray`) address submatrices.
 */
export interface Gemm {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** 0 overwrites C; 1 accumulates into it. */
  beta?: number;
  lda?: number;
  ldb?: number;
  ldc?: number;
}

export interface Blas {
  /** Which library answered, e.g. "libopenblas.so.0". */
  readonly name: string;
  /** Threads the library computes with (OpenBLAS), or null where it cannot say. */
  readonly threads: number | null;
  /** How the library describes its build (OpenBLAS: version, target core, threading), or null. */
  readonly config: string | null;
  /** Row-major C = A · Bᵀ with A [m, d], B [n, d], C [m, n]. */
  gemmNT(a: Float32Array, m: number, b: Float32Array, n: number, d: number, c: Float32Array): void;
  gemm(g: Gemm): void;
  /**
   * Float64 Aᵀ·A of a row-major A [n, d] into C [d, d] (both triangles), or null where the library
   * lacks cblas_dsyrk. For covariances that must stay in double precision.
   */
  readonly gramT64: ((a: Float64Array, n: number, d: number, c: Float64Array) => void) | null;
}

const CANDIDATES = [
  "libopenblas.so.0",
  "libopenblas.so",
  "libopenblas.dylib",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libblas.so.3",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  cblas_dsyrk: {
    parameters: ["i32", "i32", "i32", "i32", "i32", "f64", "buffer", "i32", "f64", "buffer", "i32"],
    result: "void",
    optional: true,
  },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

// CBLAS enum values.
const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112, UPPER = 121;

let cached: Blas | null | undefined;
let missing = "";

/** Why {@link blas} returns null, in a few words ("" when it does not). */
export function whyNoBlas(): string {
  blas();
  return missing;
}

/** The BLAS library, loaded once; null where FFI is not permitted or no library is found. */
export function blas(): Blas | null {
  if (cached !== undefined) return cached;
  cached = null;
  missing = "DML_BLAS=off";
  if (env("DML_BLAS") === "off") return cached;
  missing = "FFI not permitted: run with --allow-ffi";
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return cached;
  } catch {
    return cached;
  }
  const custom = env("DML_BLAS");
  missing = custom
    ? `DML_BLAS=${custom} does not load or lacks cblas_sgemm`
    : "no BLAS library found: install libopenblas0-pthread or set DML_BLAS=/path/to/libblas.so";
  for (const name of custom ? [custom] : CANDIDATES) {
    try {
      const lib = Deno.dlopen(name, SYMBOLS);
      const config = lib.symbols.openblas_get_config?.();
      const dsyrk = lib.symbols.cblas_dsyrk;
      cached = {
        name,
        gramT64: dsyrk
          ? (a, n, d, c) => {
            if (a.length < n * d || c.length < d * d) {
              throw new RangeError(`gramT64: arrays too short for [${n}, ${d}]ᵀ · [${n}, ${d}] -> [${d}, ${d}]`);
            }
            if (n === 0) return void c.fill(0, 0, d * d);
            dsyrk(ROW_MAJOR, UPPER, TRANS, d, n, 1, a, d, 0, c, d);
            for (let i = 1; i < d; i++) for (let j = 0; j < i; j++) c[i * d + j] = c[j * d + i];
          }
          : null,
        threads: lib.symbols.openblas_get_num_threads?.() ?? null,
        config: config ? new Deno.UnsafePointerView(config).getCString() : null,
        gemmNT(a, m, b, n, d, c) {
          if (m === 0 || n === 0) return;
          // BLAS reads and writes raw memory: a short array would be a crash, not an error.
          if (a.length < m * d || b.length < n * d || c.length < m * n) {
            throw new RangeError(`gemmNT: arrays too short for [${m}, ${d}] · [${n}, ${d}]ᵀ -> [${m}, ${n}]`);
          }
          lib.symbols.cblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, m, n, d, 1, a, d, b, d, 0, c, n);
        },
        gemm({ m, n, k, a, b, c, transA = false, transB = false, alpha = 1, beta = 0, lda, ldb, ldc }) {
          if (m === 0 || n === 0) return;
          lda ??= transA ? m : k;
          ldb ??= transB ? k : n;
          ldc ??= n;
          if (k === 0) {
            // An empty product; BLAS would reject the zero leading dimensions.
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) c[i * ldc + j] = beta === 0 ? 0 : beta * c[i * ldc + j];
            }
            return;
          }
          const rowsA = transA ? k : m, rowsB = transB ? n : k;
          if (
            a.length < (rowsA - 1) * lda + (transA ? m : k) || b.length < (rowsB - 1) * ldb + (transB ? k : n) ||
            c.length < (m - 1) * ldc + n
          ) {
            throw new RangeError(`gemm: arrays too short for [${m}, ${k}] · [${k}, ${n}]`);
          }
          lib.symbols.cblas_sgemm(
            ROW_MAJOR,
            transA ? TRANS : NO_TRANS,
            transB ? TRANS : NO_TRANS,
            m,
            n,
            k,
            alpha,
            a,
            lda,
            b,
            ldb,
            beta,
            c,
            ldc,
          );
        },
      };
      return cached;
    } catch {
      // not this one (absent, or lacks cblas_sgemm): try the next
    }
  }
  return cached;
}

function env(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
