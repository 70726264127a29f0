/**
 * Evaluation at Stanford Online Products scale: 60,502 × 512 embeddings in 11,318 classes of 2–12
 * items (synthetic, seeded), one-set retrieval with cosine distance, timed per kNN engine.
 *
 * Prints a table: wall time of Recall@K + Precision@1 + R-Precision + MAP@R, the similarity
 * stage's seconds and achieved GFLOP/s (2·N·N·D / seconds) next to the sgemm ceiling measured
 * here, then NMI (k-means with 11,318 clusters) timed on its own. The tfjs backends are far too
 * slow for the full set: they run the first `--sample` queries against the full gallery and the
 * time is extrapolated (marked "est."). `--noise` sets how hard the synthetic set is (2.2 gives
 * Recall@1 near SOP's published numbers).
 *
 * ```sh
 * deno run -A --unstable-webgpu bench/eval_sop.ts [--n 60502] [--dim 512] [--classes 11318]
 *   [--engines native,cpu,wasm,webgpu] [--sample 128] [--nmi-iters 20] [--no-nmi] [--noise 2.2]
 * ```
 */
import { parseArgs } from "node:util";
import { blas } from "../core/blas.ts";
import { kmeans } from "../core/kmeans.ts";
import { nmi } from "../core/clustering_metrics.ts";
import { neighbourMetrics, neighbourStage, relevantCounts } from "../core/retrieval.ts";
import { knn, type KnnResult } from "../core/knn.ts";
import { normalizeRows } from "../core/knn.ts";
import { useBackend } from "../core/backend.ts";
import { Rng } from "../core/rng.ts";
import type { Split } from "../core/types.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "60502" },
    dim: { type: "string", default: "512" },
    classes: { type: "string", default: "11318" },
    engines: { type: "string", default: "native,cpu,wasm,webgpu" },
    sample: { type: "string", default: "128" },
    "nmi-iters": { type: "string", default: "20" },
    "no-nmi": { type: "boolean", default: false },
    noise: { type: "string", default: "2.2" },
  },
});
const n = Number(a.n), dim = Number(a.dim), classes = Number(a.classes), sample = Number(a.sample);
const noise = Number(a.noise);
const recallAt = [1, 10, 100, 1000].filter((K) => K < n);

/** SOP-like: every class has 2..12 items, embeddings are noisy copies of a class centre. */
function sopLike(seed: number): Split {
  const rng = new Rng(seed);
  const sizes = new Int32Array(classes).fill(2);
  for (let left = n - 2 * classes; left > 0;) {
    const c = rng.int(classes);
    if (sizes[c] < 12) sizes[c]++, left--;
  }
  const labels = new Int32Array(n);
  for (let c = 0, i = 0; c < classes; c++) for (let t = 0; t < sizes[c]; t++) labels[i++] = c;
  rng.shuffle(labels);
  const centres = Float32Array.from({ length: classes * dim }, () => rng.normal());
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[labels[i] * dim + j] + noise * rng.normal();
  }
  return { data, n, dim, labels };
}

/** Best of a few BLAS sgemm runs on a large product: this machine's practical ceiling now. */
function sgemmCeiling(): number | null {
  const lib = blas();
  if (!lib) return null;
  const m = 2048, k = 512, cols = 8192;
  const x = Float32Array.from({ length: m * k }, () => Math.random());
  const y = Float32Array.from({ length: cols * k }, () => Math.random());
  const c = new Float32Array(m * cols);
  let best = 0;
  for (let r = 0; r < 4; r++) {
    const t0 = performance.now();
    lib.gemmNT(x, m, y, cols, k, c);
    best = Math.max(best, (2 * m * cols * k) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return best;
}

const t0 = performance.now();
const split = sopLike(0);
console.log(`data: ${n} × ${dim}, ${classes} classes (made in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
const ceiling = sgemmCeiling();
console.log(
  `sgemm ceiling measured now (BLAS ${blas()?.name ?? "absent"}): ${ceiling?.toFixed(0) ?? "n/a"} GFLOP/s ` +
    `(nominal for this 2-core machine: about 230)`,
);
const flops = (queries: number) => 2 * queries * n * dim;

const rows: string[][] = [];
const summary: Record<string, unknown> = { n, dim, classes, ceilingGflops: ceiling };
for (const name of a.engines!.split(",")) {
  if (name === "native" && !blas()) {
    rows.push([name, "skipped: no BLAS (needs --allow-ffi and libopenblas)"]);
    continue;
  }
  const backend = name === "native" ? "cpu" : name;
  try {
    await useBackend(backend as "cpu");
  } catch (e) {
    rows.push([name, `skipped: ${(e as Error).message}`]);
    continue;
  }
  const queries = name === "native" ? n : Math.min(sample, n);
  const start = performance.now();
  let r: KnnResult, m: Record<string, number>;
  if (queries === n) {
    // Exactly what the evaluator runs (validation, chunked kNN, metrics).
    const stage = await neighbourStage(split, undefined, { recallAt, metric: "cosine", engine: "native" });
    r = stage.knn, m = stage.metrics;
  } else {
    // The first `queries` items against the whole set, self removed by index: the same kNN call.
    const labels = split.labels.subarray(0, queries);
    const relevant = relevantCounts(labels, split.labels, 1);
    const k = Math.max(1, ...relevant);
    r = await knn(split.data.subarray(0, queries * dim), queries, split.data, n, dim, k, {
      metric: "cosine",
      excludeSelf: true,
      engine: "backend",
      labels: { query: labels, gallery: split.labels },
    });
    m = neighbourMetrics(r.indices, k, labels, split.labels, relevant, recallAt, r.firstRelevantRank);
  }
  const wall = (performance.now() - start) / 1000;
  const scale = n / queries;
  const similarity = r.seconds.similarity ?? r.seconds.total;
  const gflops = flops(queries) / similarity / 1e9;
  rows.push([
    name === "native" ? `native (BLAS) on cpu` : `tfjs ${name}`,
    `${(wall * scale).toFixed(1)} s${scale > 1 ? ` est. (${queries} queries)` : ""}`,
    `${(similarity * scale).toFixed(1)} s`,
    `${gflops.toFixed(1)}`,
    ceiling ? `${((100 * gflops) / ceiling).toFixed(0)}%` : "",
  ]);
  summary[name] = { seconds: wall * scale, similaritySeconds: similarity * scale, gflops, queries, ...m };
  if (scale === 1) console.log(`metrics (${name}): ${JSON.stringify(m)}`);
}
console.log("\nRecall@K, P@1, RP and MAP@R together, one set, cosine:");
console.log(["engine", "wall", "similarity", "GFLOP/s", "of ceiling"].map((h) => h.padEnd(26)).join(""));
for (const row of rows) console.log(row.map((c) => c.padEnd(26)).join(""));

if (!a["no-nmi"]) {
  await useBackend("cpu");
  const iters = Number(a["nmi-iters"]);
  const normalized = normalizeRows(split.data, n, dim);
  // k-means++ seeding plus one assignment pass, then the whole clustering: their difference is
  // the Lloyd iterations' share.
  let start = performance.now();
  await kmeans(normalized, n, dim, classes, { seed: 0, iters: 0 });
  const seeding = (performance.now() - start) / 1000;
  start = performance.now();
  const km = await kmeans(normalized, n, dim, classes, { seed: 0, iters });
  const seconds = (performance.now() - start) / 1000;
  const value = nmi(split.labels, km.assignments);
  const perIter = km.iters > 0 ? (seconds - seeding) / km.iters : 0;
  console.log(
    `\nNMI (k-means, ${classes} clusters, ${km.iters} Lloyd iterations, ${blas() ? "BLAS" : "tfjs cpu"}): ` +
      `${value.toFixed(4)} in ${seconds.toFixed(1)} s (seeding + first assignment ${seeding.toFixed(1)} s, ` +
      `${perIter.toFixed(1)} s per iteration, so ${(seeding + 20 * perIter).toFixed(0)} s for faiss's 20)`,
  );
  summary.nmi = { value, seconds, seeding, perIter, iters: km.iters };
}
console.log(JSON.stringify(summary));
