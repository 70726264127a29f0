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

/** Row-major C = A · Bᵀ with A [m, d], B [n, d], C [m, n]. */
export interface Blas {
  /** Which library answered, e.g. "libopenblas.so.0". */
  readonly name: string;
  gemmNT(a: Float32Array, m: number, b: Float32Array, n: number, d: number, c: Float32Array): void;
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
} as const;

// CBLAS enum values.
const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

let cached: Blas | null | undefined;

/** The BLAS library, loaded once; null where FFI is not permitted or no library is found. */
export function blas(): Blas | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (env("DML_BLAS") === "off") return cached;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return cached;
  } catch {
    return cached;
  }
  const custom = env("DML_BLAS");
  for (const name of custom ? [custom] : CANDIDATES) {
    try {
      const lib = Deno.dlopen(name, SYMBOLS);
      cached = {
        name,
        gemmNT(a, m, b, n, d, c) {
          if (m === 0 || n === 0) return;
          lib.symbols.cblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, m, n, d, 1, a, d, b, d, 0, c, n);
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
