/**
 * Evaluation at Stanford Online Products scale: 60,502 × 512 embeddings in 11,318 classes of 2–12
 * items (synthetic, seeded), one-set retrieval with cosine distance, timed per kNN engine.
 *
 * Prints a table: wall time of Recall@K + Precision@1 + R-Precision + MAP@R, the similarity
 * stage's seconds and achieved GFLOP/s (the flops of the products it ran / their seconds; the
 * one-set BLAS path computes half of the symmetric N × N product) next to the sgemm ceiling,
 * measured just before and just after that engine's run (the machine may be shared: the ratio
 * is what carries over), then NMI (k-means with 11,318 clusters) timed on its own. The tfjs backends are far too
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
import process from "node:process";
import { blas } from "../core/blas.ts";
import { kmeansPlusPlus, nearest, updateCentroids } from "../core/kmeans.ts";
import { nmi } from "../core/clustering_metrics.ts";
import { type KnnStats, neighbourMetrics, neighbourStage, relevantCounts } from "../core/retrieval.ts";
import { knn } from "../core/knn.ts";
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

/**
 * BLAS sgemm GFLOP/s now, on a 2048 × 8192 × `dim` product: the mean over about a second of
 * runs (what the machine gives at the moment) and the best single run.
 */
function sgemmCeiling(): { mean: number; best: number } | null {
  const lib = blas();
  if (!lib) return null;
  const m = 2048, cols = 8192;
  const x = Float32Array.from({ length: m * dim }, () => Math.random());
  const y = Float32Array.from({ length: cols * dim }, () => Math.random());
  const c = new Float32Array(m * cols);
  const flop = 2 * m * cols * dim;
  let best = 0, runs = 0;
  const start = performance.now();
  while (runs < 3 || performance.now() - start < 1000) {
    const t0 = performance.now();
    lib.gemmNT(x, m, y, cols, dim, c);
    best = Math.max(best, flop / ((performance.now() - t0) / 1000) / 1e9);
    runs++;
  }
  return { mean: (runs * flop) / ((performance.now() - start) / 1000) / 1e9, best };
}

/** CPU seconds of this process so far (all threads, BLAS's included). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const load = () => Deno.loadavg().map((l) => l.toFixed(2)).join(" ");

const t0 = performance.now();
const split = sopLike(0);
console.log(`data: ${n} × ${dim}, ${classes} classes (made in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
const lib = blas();
console.log(
  `machine: ${navigator.hardwareConcurrency} CPUs, load average ${load()}; BLAS: ${
    lib ? `${lib.name}, ${lib.threads ?? "?"} threads, ${lib.config ?? "no config string"}` : "absent"
  }`,
);

const rows: string[][] = [];
const summary: Record<string, unknown> = { n, dim, classes };
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
  const before = sgemmCeiling();
  const loadBefore = load();
  const cpu0 = cpuSeconds();
  const start = performance.now();
  let r: KnnStats, m: Record<string, number>;
  if (queries === n) {
    // Exactly what the evaluator runs (validation, chunked kNN, metrics).
    const stage = await neighbourStage(split, undefined, { recallAt, metric: "cosine", engine: "native" });
    r = stage.knn, m = stage.metrics;
  } else {
    // The first `queries` items against the whole set, self removed by index: the same kNN call.
    const labels = split.labels.subarray(0, queries);
    const relevant = relevantCounts(labels, split.labels, 1);
    const k = Math.max(1, ...relevant);
    const lists = await knn(split.data.subarray(0, queries * dim), queries, split.data, n, dim, k, {
      metric: "cosine",
      excludeSelf: true,
      engine: "backend",
      labels: { query: labels, gallery: split.labels },
    });
    r = lists;
    m = neighbourMetrics(lists.indices, k, labels, split.labels, relevant, recallAt, lists.firstRelevantRank);
  }
  const wall = (performance.now() - start) / 1000;
  const cpu = cpuSeconds() - cpu0;
  const after = sgemmCeiling();
  const scale = n / queries;
  const similarity = r.seconds.similarity ?? r.seconds.total;
  const gflops = r.similarityFlops / similarity / 1e9;
  // The ceiling while this engine ran: the mean of the measurements just before and after.
  const ceiling = before && after ? (before.mean + after.mean) / 2 : null;
  rows.push([
    name === "native" ? `native (BLAS) on cpu` : `tfjs ${name}`,
    `${(wall * scale).toFixed(1)} s${scale > 1 ? ` est. (${queries} queries)` : ""}`,
    `${(cpu * scale).toFixed(1)} s`,
    `${(similarity * scale).toFixed(1)} s`,
    `${(r.similarityFlops * scale / 1e12).toFixed(2)}`,
    `${gflops.toFixed(1)}`,
    ceiling ? `${ceiling.toFixed(1)} (${((100 * gflops) / ceiling).toFixed(0)}%)` : "",
  ]);
  console.log(
    `${name}: sgemm ceiling before ${before?.mean.toFixed(1)} (best ${before?.best.toFixed(1)}), after ` +
      `${after?.mean.toFixed(1)} (best ${after?.best.toFixed(1)}) GFLOP/s; load average before ${loadBefore}, ` +
      `after ${load()}`,
  );
  summary[name] = {
    seconds: wall * scale,
    cpuSeconds: cpu * scale,
    similaritySeconds: similarity * scale,
    similarityTflop: (r.similarityFlops * scale) / 1e12,
    gflops,
    ceilingBefore: before,
    ceilingAfter: after,
    queries,
    ...m,
  };
  if (scale === 1) console.log(`metrics (${name}): ${JSON.stringify(m)}`);
}
console.log("\nRecall@K, P@1, RP and MAP@R together, one set, cosine:");
const widths = [22, 30, 12, 12, 11, 9, 20];
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(" ");
console.log(line(["engine", "wall", "CPU", "similarity", "TFLOP run", "GFLOP/s", "sgemm ceiling then"]));
for (const row of rows) console.log(line(row));

if (!a["no-nmi"]) {
  await useBackend("cpu");
  const iters = Number(a["nmi-iters"]);
  const normalized = normalizeRows(split.data, n, dim);
  // The steps of core/kmeans.ts's kmeans() (tol 0), timed one by one: k-means++ seeding and the
  // first assignment, then each Lloyd iteration (centroid update + nearest-centroid search).
  let start = performance.now();
  const centroids = await kmeansPlusPlus(normalized, n, dim, classes, new Rng(0));
  let { assignments, dist2 } = await nearest(normalized, n, dim, centroids, classes);
  const seeding = (performance.now() - start) / 1000;
  const perIter: number[] = [];
  for (let it = 0; it < iters; it++) {
    start = performance.now();
    updateCentroids(normalized, n, dim, classes, assignments, dist2, centroids);
    ({ assignments, dist2 } = await nearest(normalized, n, dim, centroids, classes));
    perIter.push((performance.now() - start) / 1000);
  }
  const value = nmi(split.labels, assignments);
  const mean = perIter.reduce((x, y) => x + y, 0) / Math.max(1, iters);
  const flop = 2 * n * classes * dim;
  console.log(
    `\nNMI (k-means, ${classes} clusters, ${iters} Lloyd iterations, ${blas() ? "BLAS" : "tfjs cpu"}): ` +
      `${value.toFixed(4)}; seeding + first assignment ${seeding.toFixed(1)} s, ${mean.toFixed(1)} s per iteration ` +
      `(${(flop / mean / 1e9).toFixed(1)} GFLOP/s), so ${(seeding + 20 * mean).toFixed(0)} s for faiss's 20; ` +
      `load average ${load()}`,
  );
  summary.nmi = { value, seeding, perIter, iters };
}
console.log(JSON.stringify(summary));
