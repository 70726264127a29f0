/**
 * The top-k selection kernels (core/topk_select.ts, core/score_scan.ts) against a full sort with
 * the lower-index tie rule: one-shot rows (insertion and selection paths), running lists fed in
 * blocks of columns by rows and by columns, and the WebAssembly SIMD scan against the JavaScript one.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { RunningTopK, selectTopK, TopKScratch } from "../core/topk_select.ts";
import { jsScan, ScoreArena } from "../core/score_scan.ts";
import { floatKey, keyToFloat, orderKey, reverseOrderKey } from "../core/float_key.ts";
import { Rng } from "../core/rng.ts";

/** The k best columns of a row by full sort: larger score first, then lower column. */
function reference(row: ArrayLike<number>, k: number, skip = -1): number[] {
  const cols = Array.from({ length: row.length }, (_, j) => j).filter((j) => j !== skip);
  return cols.sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

/** Scores with many exact ties: a few distinct values. */
function tiedRow(rng: Rng, n: number, levels: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.int(levels) / levels);
}

Deno.test("selectTopK: insertion (small k) and selection (large k) match a full sort, ties to the lower column", () => {
  const rng = new Rng(1);
  for (const n of [1, 5, 64, 300]) {
    for (const k of [1, 3, 48, 49, 120]) {
      for (const skip of [-1, 0, n - 1]) {
        const avail = n - (skip >= 0 ? 1 : 0);
        if (k > avail || avail < 1) continue;
        const row = tiedRow(rng, n, 7);
        const idx = new Int32Array(k + 2).fill(-9), val = new Float32Array(k + 2);
        selectTopK(row, 0, n, skip, k, idx, val, 2);
        const want = reference(row, k, skip);
        assertEquals(Array.from(idx.subarray(2)), want, `n ${n} k ${k} skip ${skip}`);
        assertEquals(Array.from(val.subarray(2)), want.map((j) => row[j]));
      }
    }
  }
});

Deno.test("selectTopK, selection path: signed scores, −0 equal to +0, infinities, long rows, one scratch for all", () => {
  const rng = new Rng(3);
  const scratch = new TopKScratch(8);
  const order = (row: Float32Array) => (a: number, b: number) =>
    Number(row[b] > row[a]) - Number(row[b] < row[a]) || a - b;
  for (const n of [60, 700, 5000, 301]) {
    // Values over many exponents and both signs, with exact ties, zeros of both signs and infinities.
    const row = Float32Array.from({ length: n + 5 }, () => {
      const r = rng.int(10);
      if (r === 0) return -0;
      if (r === 1) return 0;
      if (r === 2) return rng.int(3) - 1;
      if (r === 3) return rng.int(2) ? -Infinity : Infinity;
      return (rng.normal() * 10 ** rng.int(7)) / 1000;
    });
    for (const k of [49, Math.floor(n / 2), n - 1]) {
      const skip = rng.int(n);
      const idx = new Int32Array(k), val = new Float32Array(k);
      selectTopK(row, 5, n, skip, k, idx, val, 0, scratch);
      const body = row.subarray(5);
      const want = Array.from({ length: n }, (_, j) => j).filter((j) => j !== skip).sort(order(body)).slice(0, k);
      assertEquals(Array.from(idx), want, `n ${n} k ${k}`);
      assertEquals(Array.from(val), want.map((j) => body[j]), `n ${n} k ${k}`);
    }
  }
});

Deno.test("RunningTopK: rows fed in blocks by rows and by columns equal a sort of the whole row", () => {
  const rng = new Rng(2);
  const rows = 37, cols = 211;
  const m = Array.from({ length: rows }, () => tiedRow(rng, cols, 5));
  for (const arena of [null, ScoreArena.create([cols, rows])]) {
    for (const k of [1, 4, 11]) {
      for (const block of [1, 16, 50, cols]) {
        const top = new RunningTopK(rows, k, new Int32Array(rows * k), new Float32Array(rows * k), {
          worst: arena?.arrays[1],
          scan: arena?.scan,
        });
        // Odd blocks go row by row, even ones column by column (as the symmetric kNN's two uses of a
        // tile). Row 3 is never offered the first column of a block after the first (blocks wider than 1).
        for (let c0 = 0, b = 0; c0 < cols; c0 += block, b++) {
          const width = Math.min(block, cols - c0);
          if (b % 2 === 1) {
            for (let r = 0; r < rows; r++) {
              const src = arena ? arena.arrays[0] : new Float32Array(cols);
              src.set(m[r].subarray(c0, c0 + width));
              top.scanRow(r, src, 0, width, c0, r === 3 && block > 1 ? c0 : -1);
            }
          } else {
            for (let c = c0; c < c0 + width; c++) {
              const src = arena ? arena.arrays[0] : new Float32Array(cols);
              for (let r = 0; r < rows; r++) src[r] = m[r][c];
              if (c === c0 && b > 0 && block > 1) {
                top.scanColumn(0, 3, src, 0, c), top.scanColumn(4, rows - 4, src, 4, c);
              } else top.scanColumn(0, rows, src, 0, c);
            }
          }
        }
        for (let r = 0; r < rows; r++) {
          const left = (j: number) => r === 3 && block > 1 && j > 0 && j % block === 0;
          const row = Array.from(m[r], (v, j) => (left(j) ? -Infinity : v));
          const want = reference(row, k);
          const what = `${arena ? "simd" : "js"} k ${k} block ${block} row ${r}`;
          assertEquals(Array.from(top.indices.subarray(r * k, (r + 1) * k)), want, what);
          assertEquals(top.worst[r], m[r][want[k - 1]], what);
        }
      }
    }
  }
});

Deno.test("ScoreArena: the SIMD scan finds the same first score as the JavaScript loop, at every alignment", () => {
  const rng = new Rng(3);
  const n = 517;
  const arena = ScoreArena.create([n, n, 3]);
  assert(arena.scan !== jsScan, "WebAssembly SIMD is available in Deno");
  const [src, worst] = arena.arrays;
  for (let trial = 0; trial < 200; trial++) {
    src.set(Float32Array.from({ length: n }, () => rng.normal()));
    worst.set(Float32Array.from({ length: n }, () => rng.normal() + 2.5));
    const threshold = 2 + rng.uniform() * 1.5;
    const from = rng.int(n), end = from + rng.int(n - from + 1);
    assertEquals(arena.scan.firstAbove(src, from, end, threshold), jsScan.firstAbove(src, from, end, threshold));
    const w = rng.int(n), m = rng.int(Math.min(n - from, n - w) + 1);
    assertEquals(arena.scan.firstAboveEach(src, from, worst, w, m), jsScan.firstAboveEach(src, from, worst, w, m));
  }
  // Equal is not above; NaN never is; −Infinity thresholds take everything.
  src.fill(1);
  assertEquals(arena.scan.firstAbove(src, 0, n, 1), n);
  src[200] = NaN;
  worst.fill(-Infinity);
  assertEquals(arena.scan.firstAboveEach(src, 200, worst, 0, 50), 1);
  // Arrays outside the arena fall back to the JavaScript loop.
  const plain = Float32Array.of(0, 0, 5, 0);
  assertEquals(arena.scan.firstAbove(plain, 0, 4, 1), 2);
  assertEquals(arena.scan.firstAboveEach(plain, 0, worst, 0, 4), 0);
});

Deno.test("float keys: orderKey sorts as the floats do (−0 = +0, infinities), keyToFloat inverts it", () => {
  const rng = new Rng(4);
  const values = Float32Array.from(
    { length: 2000 },
    (_, i) =>
      i % 50 === 0 ? [-0, 0, Infinity, -Infinity, 1e-45, -1e-45][i % 6] : rng.normal() * 10 ** (rng.int(20) - 10),
  );
  const bits = new Uint32Array(values.buffer);
  for (let i = 0; i < values.length; i++) {
    const ki = orderKey(bits[i]);
    assertEquals(keyToFloat(ki), values[i] === 0 ? 0 : values[i], `value ${values[i]}`);
    assertEquals(floatKey(values[i]), ki);
    assertEquals(reverseOrderKey(bits[i]), (0xffffffff - ki) >>> 0);
    for (const j of [i - 1, i + 7].filter((j) => j >= 0 && j < values.length)) {
      const kj = orderKey(bits[j]);
      assertEquals(Math.sign(ki - kj), Math.sign(values[i] - values[j]), `${values[i]} vs ${values[j]}`);
    }
  }
});
