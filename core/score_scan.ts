/**
 * The inner loop of top-k selection — where is the next score above the current k-th best? —
 * in WebAssembly SIMD, 16 scores a step, for float32 arrays that live in a {@link ScoreArena}'s
 * memory. V8 runs the same loop one score at a time (about 1.5 ns a score, 3.5 when the
 * threshold is per row); this reads the scores at memory speed. Other arrays, or a runtime
 * without WebAssembly SIMD, get the plain JavaScript loop: same results.
 *
 * ```ts
 * const arena = ScoreArena.create([1 << 20, 1024]); // float32 arrays in WebAssembly memory
 * const [scores, thresholds] = arena.arrays;
 * arena.scan.firstAbove(scores, 0, scores.length, 0.5);               // first index with a score > 0.5
 * arena.scan.firstAboveEach(scores, 0, thresholds, 0, 1024);          // first i with scores[i] > thresholds[i]
 * ```
 */

export interface ScoreScan {
  /** The first p in [from, end) with src[p] > threshold, or end. */
  firstAbove(src: Float32Array, from: number, end: number, threshold: number): number;
  /** The first t in [0, m) with src[from + t] > worst[w + t], or m. */
  firstAboveEach(src: Float32Array, from: number, worst: Float32Array, w: number, m: number): number;
}

/** The scan in plain JavaScript, for any arrays. */
export const jsScan: ScoreScan = {
  firstAbove(src, from, end, threshold) {
    for (let p = from; p < end; p++) if (src[p] > threshold) return p;
    return end;
  },
  firstAboveEach(src, from, worst, w, m) {
    for (let t = 0; t < m; t++) if (src[from + t] > worst[w + t]) return t;
    return m;
  },
};

/**
 * scan.wasm, 370 bytes, assembled with wabt's wat2wasm from this text (byte addresses; the
 * second loop finishes the tail, or finds the hit among the 16 scores that hold it):
 *
 * ```wat
 * (module
 *   (import "env" "memory" (memory 1))
 *   (func (export "firstAbove") (param $p i32) (param $end i32) (param $t f32) (result i32)
 *     (local $tv v128)
 *     (local.set $tv (f32x4.splat (local.get $t)))
 *     (block $tail (loop $wide
 *       (br_if $tail (i32.gt_s (local.get $p) (i32.sub (local.get $end) (i32.const 64))))
 *       (br_if $tail (v128.any_true (v128.or
 *         (v128.or (f32x4.gt (v128.load (local.get $p)) (local.get $tv))
 *                  (f32x4.gt (v128.load offset=16 (local.get $p)) (local.get $tv)))
 *         (v128.or (f32x4.gt (v128.load offset=32 (local.get $p)) (local.get $tv))
 *                  (f32x4.gt (v128.load offset=48 (local.get $p)) (local.get $tv))))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *       (br $wide)))
 *     (block $done (loop $one
 *       (br_if $done (i32.ge_s (local.get $p) (local.get $end)))
 *       (br_if $done (f32.gt (f32.load (local.get $p)) (local.get $t)))
 *       (local.set $p (i32.add (local.get $p) (i32.const 4)))
 *       (br $one)))
 *     (local.get $p))
 *   (func (export "firstAboveEach") (param $s i32) (param $w i32) (param $n i32) (result i32)
 *     (local $i i32)
 *     (block $tail (loop $wide
 *       (br_if $tail (i32.gt_s (local.get $i) (i32.sub (local.get $n) (i32.const 16))))
 *       (br_if $tail (v128.any_true (v128.or
 *         (v128.or (f32x4.gt (v128.load (local.get $s)) (v128.load (local.get $w)))
 *                  (f32x4.gt (v128.load offset=16 (local.get $s)) (v128.load offset=16 (local.get $w))))
 *         (v128.or (f32x4.gt (v128.load offset=32 (local.get $s)) (v128.load offset=32 (local.get $w)))
 *                  (f32x4.gt (v128.load offset=48 (local.get $s)) (v128.load offset=48 (local.get $w)))))))
 *       (local.set $i (i32.add (local.get $i) (i32.const 16)))
 *       (local.set $s (i32.add (local.get $s) (i32.const 64)))
 *       (local.set $w (i32.add (local.get $w) (i32.const 64)))
 *       (br $wide)))
 *     (block $done (loop $one
 *       (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
 *       (br_if $done (f32.gt (f32.load (local.get $s)) (f32.load (local.get $w))))
 *       (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *       (local.set $s (i32.add (local.get $s) (i32.const 4)))
 *       (local.set $w (i32.add (local.get $w) (i32.const 4)))
 *       (br $one)))
 *     (local.get $i)))
 * ```
 */
const SCAN_WASM =
  "AGFzbQEAAAABDwJgA39/fQF/YAN/f38BfwIPAQNlbnYGbWVtb3J5AgABAwMCAAEHHwIKZmlyc3RBYm92ZQAADmZpcnN0QWJvdmVF" +
  "YWNoAAEKnwICeQEBeyAC/RMhAwJAA0AgACABQcAAa0oNASAA/QAEACAD/UQgAP0ABBAgA/1E/VAgAP0ABCAgA/1EIAD9AAQwIAP9RP1Q/VD9" +
  "Uw0BIABBwABqIQAMAAsLAkADQCAAIAFODQEgACoCACACXg0BIABBBGohAAwACwsgAAuiAQEBfwJAA0AgAyACQRBrSg0BIAD9AAQAIAH9AAQA" +
  "/UQgAP0ABBAgAf0ABBD9RP1QIAD9AAQgIAH9AAQg/UQgAP0ABDAgAf0ABDD9RP1Q/VD9Uw0BIANBEGohAyAAQcAAaiEAIAFBwABqIQEMAAsL" +
  "AkADQCADIAJODQEgACoCACABKgIAXg0BIANBAWohAyAAQQRqIQAgAUEEaiEBDAALCyADCw==";

let compiled: WebAssembly.Module | null | undefined;

/** The compiled scan, or null where WebAssembly SIMD is missing. */
function scanModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Uint8Array.from(atob(SCAN_WASM), (c) => c.charCodeAt(0)));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

interface ScanExports {
  firstAbove(p: number, end: number, t: number): number;
  firstAboveEach(s: number, w: number, n: number): number;
}

/** Float32 arrays in one WebAssembly memory, and the scan that reads them 16 scores a step. */
export class ScoreArena {
  private constructor(readonly arrays: Float32Array[], readonly scan: ScoreScan) {}

  /**
   * Zeroed arrays of the given lengths; plain ones, scanned in JavaScript, without WebAssembly
   * SIMD or beyond what a WebAssembly memory can hold (4 GB).
   */
  static create(lengths: number[]): ScoreArena {
    const plain = () => new ScoreArena(lengths.map((n) => new Float32Array(n)), jsScan);
    const module = scanModule();
    if (!module) return plain();
    // Each array starts on a 16-byte boundary; the memory never grows, so the views stay valid.
    const starts: number[] = [];
    let bytes = 0;
    for (const n of lengths) starts.push(bytes), bytes += Math.ceil((4 * n) / 16) * 16;
    const pages = Math.max(1, Math.ceil(bytes / 65536));
    if (pages > 65536) return plain();
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages });
    } catch {
      return plain(); // the engine's limit may be lower
    }
    const fns = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ScanExports;
    const buffer = memory.buffer;
    const scan: ScoreScan = {
      firstAbove(src, from, end, threshold) {
        if (src.buffer !== buffer) return jsScan.firstAbove(src, from, end, threshold);
        const base = src.byteOffset;
        return (fns.firstAbove(base + 4 * from, base + 4 * end, threshold) - base) >> 2;
      },
      firstAboveEach(src, from, worst, w, m) {
        if (src.buffer !== buffer || worst.buffer !== buffer) return jsScan.firstAboveEach(src, from, worst, w, m);
        return fns.firstAboveEach(src.byteOffset + 4 * from, worst.byteOffset + 4 * w, m);
      },
    };
    return new ScoreArena(lengths.map((n, i) => new Float32Array(buffer, starts[i], n)), scan);
  }
}
