/**
 * FNMR@FMR and its thresholds (core/verification.ts) against a reference written here: every
 * ordered pair's distance in float64, sorted, numpy's linear quantile of the negatives, and the
 * share of positives at or past it. Integer embeddings with the Euclidean metric make float32
 * distances exact (many ties); cosine runs on continuous data with a tolerance of one pair.
 */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { verificationMetrics } from "../core/verification.ts";
import { evaluateRetrieval } from "../core/retrieval.ts";
import { blas } from "../core/blas.ts";
import { DmlError } from "../core/errors.ts";
import { Rng } from "../core/rng.ts";
import type { Split } from "../core/types.ts";
import { assertClose, onBackend, testBackends } from "./util.ts";

const SEED = Number(Deno.env.get("DML_TEST_SEED") ?? Date.now() % 1_000_000);

/** numpy.quantile(x, f) with the default linear method, x sorted ascending. */
function npQuantile(sorted: number[], f: number): number {
  const h = (sorted.length - 1) * f, lo = Math.floor(h), hi = Math.ceil(h), t = h - lo;
  const a = sorted[lo], b = sorted[hi];
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

function reference(q: Split, g: Split | undefined, fmr: number[], metric: "cosine" | "euclidean") {
  const ref = g ?? q;
  const pos: number[] = [], neg: number[] = [];
  for (let i = 0; i < q.n; i++) {
    for (let j = 0; j < ref.n; j++) {
      if (!g && i === j) continue;
      let dot = 0, qq = 0, gg = 0, sq = 0;
      for (let t = 0; t < q.dim; t++) {
        const a = q.data[i * q.dim + t], b = ref.data[j * q.dim + t];
        dot += a * b, qq += a * a, gg += b * b, sq += (a - b) ** 2;
      }
      // Float32 distances, as the evaluator reports them; exact for integer data under Euclidean.
      const d = Math.fround(metric === "cosine" ? 1 - dot / Math.sqrt(qq * gg) : Math.sqrt(sq));
      (q.labels[i] === ref.labels[j] ? pos : neg).push(d);
    }
  }
  neg.sort((a, b) => a - b);
  const out: Record<string, number> = {};
  for (const f of fmr) {
    const t = npQuantile(neg, f);
    out[`fnmr@fmr=${f}`] = pos.filter((d) => d >= t).length / pos.length;
    out[`threshold@fmr=${f}`] = t;
  }
  return { out, positives: pos.length };
}

function intSplit(rng: Rng, n: number, dim: number, classes: number): Split {
  const data = Float32Array.from({ length: n * dim }, () => rng.int(5) - 2);
  return { data, n, dim, labels: Int32Array.from({ length: n }, () => rng.int(classes)) };
}

function normalSplit(rng: Rng, n: number, dim: number, classes: number): Split {
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  const data = Float32Array.from(
    { length: n * dim },
    (_, i) => rng.normal() + 0.8 * ((labels[Math.floor(i / dim)] + i) % 3),
  );
  return { data, n, dim, labels };
}

const RATES = [0, 0.001, 0.05, 0.3, 0.5, 0.77, 1];
const ENGINES = blas() ? (["native", "backend"] as const) : (["backend"] as const);

Deno.test("fnmr@fmr: integer embeddings, Euclidean (exact, many ties) — one set and query/gallery, every backend, engine and chunk", async () => {
  const rng = new Rng(SEED);
  const s = intSplit(rng, 70, 3, 4), q = intSplit(rng, 25, 3, 5);
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      for (const [query, gallery] of [[s, undefined], [q, s]] as const) {
        const want = reference(query, gallery, RATES, "euclidean").out;
        for (const engine of ENGINES) {
          for (const chunk of [1, 7, 0]) {
            if (backend === "webgpu" && (engine === "native" || chunk === 1)) continue; // BLAS is host-side; few dispatches
            const got = await verificationMetrics(query, gallery, { fmr: RATES, metric: "euclidean", engine, chunk });
            const what = `seed ${SEED}, ${backend}, ${
              gallery ? "query/gallery" : "one set"
            }, ${engine}, chunk ${chunk}`;
            assertEquals(got, want, what);
          }
        }
      }
    });
  }
});

Deno.test("fnmr@fmr: continuous embeddings, cosine, within float32 rounding (one pair at most)", async () => {
  const rng = new Rng(SEED + 1);
  const s = normalSplit(rng, 120, 8, 3);
  const { out: want, positives } = reference(s, undefined, RATES, "cosine");
  for (const engine of ENGINES) {
    const got = await verificationMetrics(s, undefined, { fmr: RATES, engine });
    for (const f of RATES) {
      const msg = `seed ${SEED + 1}, ${engine}, fmr ${f}`;
      assertClose(got[`threshold@fmr=${f}`], want[`threshold@fmr=${f}`], { atol: 1e-6, msg });
      ok(Math.abs(got[`fnmr@fmr=${f}`] - want[`fnmr@fmr=${f}`]) <= 1 / positives + 1e-12, msg);
    }
  }
});

Deno.test("fnmr@fmr: evaluateRetrieval's fnmrAtFmr ranks the centred embeddings, next to the other metrics", async () => {
  const rng = new Rng(SEED + 2);
  const s = normalSplit(rng, 50, 4, 3);
  const m = await evaluateRetrieval(s, undefined, {
    metric: "euclidean",
    center: true,
    nmi: false,
    fnmrAtFmr: [0.1, 0.5],
  });
  // Centring as its definition says: the column means (float64) subtracted, stored as float32.
  const mean = Array.from({ length: 4 }, (_, j) => s.labels.reduce((t, _y, i) => t + s.data[i * 4 + j], 0) / s.n);
  const centred = { ...s, data: s.data.map((v, i) => v - mean[i % 4]) };
  const want = await verificationMetrics(centred, undefined, { fmr: [0.1, 0.5], metric: "euclidean" });
  for (const key of Object.keys(want)) assertEquals(m[key], want[key], key);
  ok("recall@1" in m && "map@r" in m);
});

Deno.test("fnmr@fmr: bad input is one clear DmlError", async () => {
  const rng = new Rng(SEED + 3);
  const s = intSplit(rng, 20, 3, 3);
  const fails = (p: Promise<unknown>, re: RegExp) =>
    rejects(p, (e: unknown) => e instanceof DmlError && re.test(e.message));
  await fails(verificationMetrics(s, undefined, { fmr: [1.5] }), /1\.5 is not a false match rate/);
  await fails(verificationMetrics(s, undefined, { fmr: [NaN] }), /not a false match rate/);
  const oneLabel = { ...s, labels: new Int32Array(20) };
  await fails(verificationMetrics(oneLabel, undefined, { fmr: [0.1] }), /no negative pair/);
  const distinct = { ...s, labels: Int32Array.from({ length: 20 }, (_, i) => i) };
  await fails(verificationMetrics(distinct, undefined, { fmr: [0.1] }), /no positive pair/);
});
