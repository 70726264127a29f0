/**
 * `deno bench` timings of evaluation kernels at a small size: the exact kNN (one set, cosine)
 * per engine, the whole retrieval evaluation, and k-means. The SOP-scale run is bench/eval_sop.ts.
 *
 * ```sh
 * deno task bench bench/eval_bench.ts
 * ```
 */
import { knn } from "../core/knn.ts";
import { selectTopK, TopKScratch } from "../core/topk_select.ts";
import { kmeans } from "../core/kmeans.ts";
import { evaluateRetrieval } from "../core/retrieval.ts";
import { verificationMetrics } from "../core/verification.ts";
import { ami } from "../core/clustering_metrics.ts";
import { blas } from "../core/blas.ts";
import { useBackend } from "../core/backend.ts";
import { Rng } from "../core/rng.ts";

const rng = new Rng(0);
const dim = 128;
const big = 4096, small = 1024;
const data = Float32Array.from({ length: big * dim }, () => rng.normal());
const labels = Int32Array.from({ length: big }, () => rng.int(big / 8));
await useBackend("cpu");

if (blas()) {
  Deno.bench(`knn native (BLAS), ${big} × ${dim}, k 8, symmetric tiles`, { group: "knn", baseline: true }, async () => {
    await knn(data, big, data, big, dim, 8, { excludeSelf: true, engine: "native" });
  });
  Deno.bench(`knn native (BLAS), ${big} × ${dim}, k 8, full rows`, { group: "knn" }, async () => {
    await knn(data, big, data, big, dim, 8, { excludeSelf: true, engine: "native", symmetric: false });
  });
  Deno.bench(`retrieval metrics without NMI, native, ${big} × ${dim}`, async () => {
    await evaluateRetrieval({ data, n: big, dim, labels }, undefined, { nmi: false, engine: "native" });
  });
}
Deno.bench(`fnmr@fmr at 3 rates (two passes over every pair), ${big} × ${dim}`, async () => {
  await verificationMetrics({ data, n: big, dim, labels }, undefined, { fmr: [0.001, 0.01, 0.1] });
});
Deno.bench(`knn tfjs cpu, ${small} × ${dim}, k 8`, { group: "knn" }, async () => {
  await knn(data.subarray(0, small * dim), small, data.subarray(0, small * dim), small, dim, 8, {
    excludeSelf: true,
    engine: "backend",
  });
});
Deno.bench(`kmeans ${big} × ${dim}, 64 clusters, 10 iterations`, async () => {
  await kmeans(data, big, dim, 64, { seed: 0, iters: 10, tol: 0 });
});

// Large k (R-Precision and MAP@R on few big classes, e.g. Fashion-MNIST's 7,000 images a class):
// the radix selection against the comparator sort of the k kept columns alone, which the
// selection replaced (the old path also ran a quickselect first, so the ratio understates it).
const rowLength = 14_000, wide = rowLength / 2;
const row = Float32Array.from({ length: rowLength }, () => rng.normal());
const topIdx = new Int32Array(wide), topVal = new Float32Array(wide), scratch = new TopKScratch(rowLength);
selectTopK(row, 0, rowLength, 0, wide, topIdx, topVal, 0, scratch);
const kept = Array.from(topIdx).sort((a, b) => a - b);
Deno.bench(
  `top-k of one row, ${rowLength} scores, k ${wide}: radix selection`,
  { group: "top-k", baseline: true },
  () => {
    selectTopK(row, 0, rowLength, 0, wide, topIdx, topVal, 0, scratch);
  },
);
Deno.bench(`top-k of one row, ${rowLength} scores, k ${wide}: comparator sort of the kept`, { group: "top-k" }, () => {
  kept.slice().sort((a, b) => row[b] - row[a] || a - b);
});

// AMI at Stanford Online Products scale: 60,502 items in classes of 2-12, 70% clustered by class.
const sopLabels: number[] = [];
for (let c = 0; sopLabels.length < 60_502; c++) {
  const size = 2 + rng.int(11);
  for (let i = 0; i < size; i++) sopLabels.push(c);
}
sopLabels.length = 60_502;
const sopClusters = sopLabels.map((y) => (rng.uniform() < 0.7 ? y : rng.int(sopLabels.at(-1)! + 1)));
Deno.bench("ami, 60,502 items in classes of 2-12 (SOP-like)", () => {
  ami(sopLabels, sopClusters);
});
