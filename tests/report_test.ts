/**
 * Run reports, the parts without a model: PCA against a float64 reference, the tolerant
 * metrics.jsonl reader, the comparison's shared metrics, the PNG encoder, nearest neighbours,
 * thumbnails and the embedding map. Inputs are fresh random draws (the seed is in every message).
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { covariance, pca2 } from "../core/report/pca.ts";
import { blas } from "../core/blas.ts";
import { parseJsonl } from "../core/report/jsonl.ts";
import { comparisonPage, sharedMetrics } from "../core/report/compare.ts";
import { crc32, encodePng } from "../core/report/png.ts";
import { nearest } from "../core/report/examples.ts";
import { saveReportData } from "../core/report/collect.ts";
import type { RetrievalExamples } from "../core/report/files.ts";
import type { Dataset } from "../core/types.ts";
import { shrink } from "../core/report/thumbnail.ts";
import { embeddingMap } from "../core/report/embedding_map.ts";
import { evalCharts } from "../core/report/single.ts";
import { evalRows } from "../core/report/series.ts";
import type { RunData } from "../core/report/run_data.ts";
import { assertClose } from "./util.ts";

const SEED = Number(Deno.env.get("DML_TEST_SEED") ?? Date.now() % 1_000_000);

/** Rows with a known spectrum: independent columns of standard deviations `sd`, rotated at random, shifted. */
function spectrumData(rng: Rng, n: number, sd: number[]): Float64Array {
  const dim = sd.length;
  // A random orthogonal matrix from Gram–Schmidt on Gaussian columns.
  const q: number[][] = [];
  for (let k = 0; k < dim; k++) {
    const v = Array.from({ length: dim }, () => rng.normal());
    for (const u of q) {
      const p = v.reduce((s, x, i) => s + x * u[i], 0);
      for (let i = 0; i < dim; i++) v[i] -= p * u[i];
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  const shift = Array.from({ length: dim }, () => 5 * rng.normal());
  const out = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) {
    const z = sd.map((s) => s * rng.normal());
    for (let j = 0; j < dim; j++) out[i * dim + j] = shift[j] + z.reduce((s, zk, k) => s + zk * q[k][j], 0);
  }
  return out;
}

/** Reference: the covariance's top eigenpairs by power iteration with deflation, in float64. */
function referencePca(x: Float64Array, n: number, dim: number) {
  const mean = Array.from({ length: dim }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * dim + j];
    return s / n;
  });
  const c = Array.from({ length: dim }, (_, a) =>
    Array.from({ length: dim }, (_, b) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i * dim + a] - mean[a]) * (x[i * dim + b] - mean[b]);
      return s / (n - 1);
    }));
  const trace = c.reduce((s, row, i) => s + row[i], 0);
  const vectors: number[][] = [], values: number[] = [];
  for (let k = 0; k < 2; k++) {
    let v = Array.from({ length: dim }, (_, i) => Math.cos(i + k + 1));
    let lambda = 0;
    for (let it = 0; it < 20000; it++) {
      const w = c.map((row) => row.reduce((s, cij, j) => s + cij * v[j], 0));
      for (let t = 0; t < k; t++) {
        const p = vectors[t].reduce((s, u, i) => s + u * w[i], 0);
        for (let i = 0; i < dim; i++) w[i] -= p * vectors[t][i];
      }
      lambda = Math.hypot(...w);
      v = w.map((wi) => wi / lambda);
    }
    vectors.push(v);
    values.push(lambda);
  }
  return { vectors, values, trace, mean };
}

Deno.test("PCA: axes, projections and explained variance match a float64 reference", () => {
  for (const [n, sd] of [[400, [5, 3, 1.5, 1, 0.8, 0.5, 0.3, 0.2]], [150, [2, 1.2, 0.4]], [60, [1, 0.5]]] as const) {
    const rng = new Rng(SEED + n);
    const dim = sd.length;
    const x = spectrumData(rng, n, [...sd]);
    const got = pca2(x, n, dim);
    const ref = referencePca(x, n, dim);
    const msg = `seed ${SEED}, n ${n}, dim ${dim}`;
    for (let k = 0; k < 2; k++) {
      const cos = ref.vectors[k].reduce((s, v, i) => s + v * got.axes[k][i], 0);
      ok(Math.abs(Math.abs(cos) - 1) < 1e-9, `${msg}: axis ${k} |cos| ${Math.abs(cos)}`);
      assertClose(got.explained[k], ref.values[k] / ref.trace, { atol: 1e-10, rtol: 1e-9, msg });
      const sign = Math.sign(cos);
      const expected = Array.from({ length: n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < dim; j++) s += (x[i * dim + j] - ref.mean[j]) * ref.vectors[k][j];
        return sign * s;
      });
      const projected = Array.from({ length: n }, (_, i) => got.points[i * 2 + k]);
      assertClose(projected, expected, { atol: 1e-8, rtol: 1e-8, msg: `${msg}: projection ${k}` });
      // The sign convention: the largest loading is positive.
      const big = got.axes[k].reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
      ok(big > 0, msg);
    }
  }
});

Deno.test("PCA: one dimension, constant data and a large dim", () => {
  const one = pca2(Float64Array.of(1, 2, 3, 4), 4, 1);
  assertEquals([...one.axes[0]], [1]);
  assertClose([...one.points], [-1.5, 0, -0.5, 0, 0.5, 0, 1.5, 0], { atol: 1e-12 });
  assertEquals(one.explained, [1, 0]);
  const flat = pca2(new Float64Array(5 * 3).fill(2), 5, 3);
  ok(flat.points.every((v) => v === 0));
  assertEquals(flat.explained, [0, 0]);
  // 2,000 rows of 512-d embeddings: the trainer's subsample of a large head.
  const rng = new Rng(SEED);
  const big = Float64Array.from({ length: 2000 * 512 }, () => rng.normal());
  const p = pca2(big, 2000, 512);
  ok(p.explained[0] >= p.explained[1] && p.explained[1] > 0);
});

Deno.test("PCA: the BLAS covariance (dsyrk) equals the float64 loop's", { ignore: !blas()?.gramT64 }, () => {
  // Wide rows, as flattened feature maps are (the quickstart's are 3,136-d), with an offset per column.
  for (const [n, dim] of [[300, 200], [90, 400]]) {
    const rng = new Rng(SEED + dim);
    const x = Float64Array.from({ length: n * dim }, (_, i) => rng.normal() * (1 + (i % dim) / 50) + (i % 7));
    const mean = new Float64Array(dim);
    for (let i = 0; i < n * dim; i++) mean[i % dim] += x[i] / n;
    const loop = covariance(x, n, dim, mean, false), native = covariance(x, n, dim, mean, true);
    const scale = loop.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose([...native], [...loop], { atol: 1e-12 * scale, rtol: 0, msg: `seed ${SEED + dim}, ${n} × ${dim}` });
    for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) ok(native[a * dim + b] === native[b * dim + a]);
  }
});

Deno.test("metrics.jsonl reader keeps whole records and names the dropped lines", () => {
  const text = [
    `{"type":"step","step":1,"loss":0.5}`,
    ``,
    `not json`,
    `[1, 2]`,
    `{"type":"eval","epoch":1,"recall@1":0.7}`,
    `3`,
    `{"type":"step","step":2,"lo`,
  ].join("\n");
  const r = parseJsonl(text);
  assertEquals(r.records, [{ type: "step", step: 1, loss: 0.5 }, { type: "eval", epoch: 1, "recall@1": 0.7 }]);
  assertEquals(r.dropped, [3, 4, 6, 7]);
  assertEquals(parseJsonl(""), { records: [], dropped: [] });
  assertEquals(parseJsonl(`{"a":1}\n`).dropped, []);
});

function fakeRun(label: string, evals: Array<Record<string, number>>, steps = 3): RunData {
  const records = [
    ...Array.from({ length: steps }, (_, i) => ({ type: "step", step: i + 1, loss: 1 / (i + 1), lr: 0.01 })),
    ...evals.map((m, i) => ({ type: "eval", epoch: i + 1, step: steps, ...m })),
  ];
  return {
    dir: `/runs/${label}`,
    label,
    records,
    dropped: [],
    recipeYaml: null,
    info: null,
    examples: null,
    embedding: null,
    notes: [],
  };
}

Deno.test("comparison: the metrics every evaluated run has are compared, the others named", async () => {
  const a = fakeRun("a/1", [{ "recall@1": 0.1, nmi: 0.2, "map@r": 0.1 }, { "recall@1": 0.5, nmi: 0.3, "map@r": 0.2 }]);
  const b = fakeRun("b/1", [{ "recall@1": 0.6, "map@r": 0.25, f1: 0.4 }]);
  const c = fakeRun("c/1", []);
  const s = sharedMetrics([a, b, c]);
  assertEquals(s.shared, ["recall@1", "map@r"]);
  assertEquals(s.partial, [{ metric: "nmi", runs: ["a/1"] }, { metric: "f1", runs: ["b/1"] }]);
  assertEquals(s.unevaluated, ["c/1"]);
  // Only the last evaluation counts: a metric dropped later is not shared.
  const d = fakeRun("d/1", [{ "recall@1": 0.1, nmi: 0.2 }, { "recall@1": 0.2 }]);
  assertEquals(sharedMetrics([a, d]).shared, ["recall@1"]);
  assertEquals(sharedMetrics([c]).shared, []);

  const html = await comparisonPage([a, b, c, a]);
  match(html, /<th>run<\/th><th>recall@1<\/th><th>map@r<\/th><\/tr>/);
  match(html, /Only in a\/1, a\/1 #2, so not compared: nmi\./);
  match(html, /Only in b\/1, so not compared: f1\./);
  match(html, /Not evaluated yet: c\/1/);
  match(html, /<td class="best">0\.6000<\/td>/); // b's recall@1 is the best
  assertEquals((html.match(/<figure class="chart"/g) ?? []).length, 4); // loss, lr, 2 metrics; no images/s logged
  ok(!/nmi<\/th>/.test(html));
});

Deno.test("evaluation charts: fractions share a chart, counts get their own", () => {
  const rows = evalRows([
    { type: "eval", epoch: 1, "recall@1": 0.5, lone_queries: 0, nmi: 0.1 },
    { type: "eval", epoch: 2, "recall@1": 1, lone_queries: 3, nmi: 0.2 },
  ]);
  assertEquals(evalCharts(rows).map(([name]) => name), ["metrics", "metric-lone_queries"]);
});

/** CRC-32 bit by bit (the reference for the table-driven one). */
function crcBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("PNG: a valid file whose pixels inflate back exactly (grey and RGB)", async () => {
  assertEquals(crc32(new TextEncoder().encode("IEND")), 0xae426082);
  const rng = new Rng(SEED);
  for (const [w, h, ch] of [[28, 28, 1], [13, 7, 3], [1, 1, 1]]) {
    const data = Uint8Array.from({ length: w * h * ch }, () => rng.int(256));
    const png = await encodePng({ width: w, height: h, channels: ch, data });
    assertEquals([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const view = new DataView(png.buffer, png.byteOffset);
    const chunks: Record<string, Uint8Array> = {};
    for (let at = 8; at < png.length;) {
      const len = view.getUint32(at);
      const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
      assertEquals(view.getUint32(at + 8 + len), crcBitwise(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
      chunks[type] = png.subarray(at + 8, at + 8 + len);
      at += 12 + len;
    }
    assertEquals(Object.keys(chunks), ["IHDR", "IDAT", "IEND"]);
    const ihdr = new DataView(chunks.IHDR.buffer, chunks.IHDR.byteOffset);
    assertEquals([ihdr.getUint32(0), ihdr.getUint32(4), chunks.IHDR[8], chunks.IHDR[9]], [w, h, 8, ch === 1 ? 0 : 2]);
    const stream = new Blob([chunks.IDAT.slice()]).stream().pipeThrough(new DecompressionStream("deflate"));
    const raw = new Uint8Array(await new Response(stream).arrayBuffer());
    assertEquals(raw.length, h * (w * ch + 1));
    for (let y = 0; y < h; y++) {
      assertEquals(raw[y * (w * ch + 1)], 0);
      assertEquals([...raw.subarray(y * (w * ch + 1) + 1, (y + 1) * (w * ch + 1))], [
        ...data.subarray(y * w * ch, (y + 1) * w * ch),
      ]);
    }
  }
});

Deno.test("nearest neighbours match a brute-force sort, the query left out", () => {
  const rng = new Rng(SEED);
  const n = 60, dim = 5;
  const split = {
    n,
    dim,
    data: Float32Array.from({ length: n * dim }, () => rng.normal()),
    labels: Int32Array.from({ length: n }, () => rng.int(4)),
  };
  const row = (i: number) => Array.from(split.data.subarray(i * dim, (i + 1) * dim));
  for (const metric of ["cosine", "euclidean"] as const) {
    for (const q of [0, 17, n - 1]) {
      const a = row(q);
      const scored = Array.from({ length: n }, (_, j) => {
        const b = row(j);
        const dot = a.reduce((s, x, t) => s + x * b[t], 0);
        const score = metric === "cosine"
          ? dot / (Math.hypot(...a) * Math.hypot(...b))
          : Math.hypot(...a.map((x, t) => x - b[t]));
        return { index: j, score };
      }).filter((x) => x.index !== q);
      scored.sort((x, y) => (metric === "cosine" ? y.score - x.score : x.score - y.score) || x.index - y.index);
      const got = nearest(split, q, split, 8, metric, q);
      assertEquals(got.map((x) => x.index), scored.slice(0, 8).map((x) => x.index), `seed ${SEED} ${metric} q ${q}`);
      assertClose(got.map((x) => x.score), scored.slice(0, 8).map((x) => x.score), { atol: 1e-9 });
    }
  }
});

Deno.test("report examples with eval.center rank the neighbours the evaluator ranked", async () => {
  const rng = new Rng(SEED);
  const n = 40, dim = 5;
  // A large shared offset, as ReLU features have: cosine from the origin sees mostly the offset.
  const split = {
    n,
    dim,
    data: Float32Array.from({ length: n * dim }, () => 4 + rng.normal()),
    labels: Int32Array.from({ length: n }, () => rng.int(3)),
  };
  const vectors = { size: n, labels: split.labels, classes: 3, shape: [dim] } as unknown as Dataset;
  const dir = await Deno.makeTempDir();
  try {
    const shown = async (center: boolean) => {
      await saveReportData(dir, { train: vectors, test: vectors }, { query: split }, "cosine", center);
      const ex = JSON.parse(await Deno.readTextFile(`${dir}/report/examples.json`)) as RetrievalExamples;
      return ex.queries.map((q) => [q.item, q.neighbours.map((x) => x.item)] as const);
    };
    // Centred here from the definition: each column less its float64 mean.
    const mean = Array.from({ length: dim }, (_, j) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += split.data[i * dim + j];
      return sum / n;
    });
    const centred = { ...split, data: split.data.map((v, k) => v - mean[k % dim]) };
    const checked = async (center: boolean) => {
      const rows = await shown(center), s = center ? centred : split;
      for (const [q, items] of rows) {
        assertEquals(items, nearest(s, q, s, 8, "cosine", q).map((x) => x.index), `seed ${SEED} query ${q}`);
      }
      return JSON.stringify(rows);
    };
    ok(await checked(true) !== await checked(false), `seed ${SEED}: centring changed no neighbour list`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("thumbnails average whole blocks", () => {
  const p = { width: 4, height: 2, channels: 1, data: Uint8Array.of(0, 2, 10, 20, 4, 6, 30, 41) };
  assertEquals(shrink(p, 2), { width: 2, height: 1, channels: 1, data: Uint8Array.of(3, 25) });
  assertEquals(shrink(p, 4), p);
  const rgb = { width: 224, height: 224, channels: 3, data: new Uint8Array(224 * 224 * 3).fill(9) };
  const s = shrink(rgb, 96);
  assertEquals([s.width, s.height, s.data.length, s.data[100]], [74, 74, 74 * 74 * 3, 9]);
});

Deno.test("embedding map: a seeded subsample with PCA and UMAP, the same twice", () => {
  const rng = new Rng(SEED);
  const n = 300, dim = 6;
  const split = {
    n,
    dim,
    data: Float32Array.from({ length: n * dim }, () => rng.normal()),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
  };
  const a = embeddingMap(split, ["x", "y", "z"], { metric: "cosine", max: 120, seed: 5 });
  const b = embeddingMap(split, ["x", "y", "z"], { metric: "cosine", max: 120, seed: 5 });
  assertEquals(a, b);
  assertEquals(a.items.length, 120);
  assertEquals(a.total, n);
  ok(a.items.every((v, i) => i === 0 || v > a.items[i - 1]), "items sorted and distinct");
  assertEquals(a.labels, a.items.map((i) => i % 3));
  assertEquals(a.classNames, ["x", "y", "z"]);
  assertEquals(a.pca.points.length, 240);
  ok("points" in a.umap && a.umap.points.length === 240 && a.umap.points.every(Number.isFinite));
  // PCA of the L2-normalised rows of the subsample.
  const rows = a.items.map((i) => {
    const r = Array.from(split.data.subarray(i * dim, (i + 1) * dim));
    const norm = Math.hypot(...r);
    return r.map((x) => x / norm);
  });
  const ref = pca2(Float64Array.from(rows.flat()), rows.length, dim);
  assertClose(a.pca.points, [...ref.points], { atol: 1e-5, rtol: 1e-5 });
  const small = embeddingMap({ ...split, n: 3 }, undefined, { metric: "euclidean" });
  ok("error" in small.umap);
  assertEquals(small.classNames, ["0", "1", "2"]);
});
