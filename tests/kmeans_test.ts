/** k-means (core/kmeans.ts): the k-means++ draw, Lloyd fixed points, empty clusters, determinism, backends. */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { kmeans, kmeansPlusPlus, updateCentroids } from "../core/kmeans.ts";
import { blas } from "../core/blas.ts";
import { DmlError } from "../core/errors.ts";
import { Rng } from "../core/rng.ts";
import { assertClose, assertNoLeak, onBackend, testBackends } from "./util.ts";

/** `classes` blobs of `per` points around far-apart centres, rows interleaved by class. */
function blobs(rng: Rng, classes: number, per: number, dim: number, spread = 0.1, scale = 20) {
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => rng.normal() * scale));
  const n = classes * per;
  const data = new Float32Array(n * dim), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % classes;
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[labels[i]][j] + rng.normal() * spread;
  }
  return { data, labels, n };
}

/** Float64 squared distance of row i of a to row c of b. */
function d2(a: Float32Array, i: number, b: Float32Array, c: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += (a[i * dim + j] - b[c * dim + j]) ** 2;
  return s;
}

Deno.test("kmeans: separable blobs are recovered exactly, whatever the seed", async () => {
  const dim = 8, classes = 6;
  const { data, labels, n } = blobs(new Rng(1), classes, 20, dim);
  for (const seed of [0, 1, 2]) {
    const { assignments } = await kmeans(data, n, dim, classes, { seed });
    // Same partition up to renaming: a bijection between classes and clusters.
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (!map.has(labels[i])) map.set(labels[i], assignments[i]);
      assertEquals(map.get(labels[i]), assignments[i], `seed ${seed}: point ${i}`);
    }
    assertEquals(new Set(map.values()).size, classes);
  }
});

Deno.test("kmeans: the result is a Lloyd fixed point (float64 check of assignments, means, inertia)", async () => {
  const rng = new Rng(7);
  const n = 300, dim = 5, k = 7;
  const data = Float32Array.from({ length: n * dim }, () => rng.normal());
  const r = await kmeans(data, n, dim, k, { seed: 3, iters: 200, tol: 0 });
  assert(r.iters < 200, "converged before the cap");
  let inertia = 0;
  const sums = new Float64Array(k * dim), counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const dists = Array.from({ length: k }, (_, c) => d2(data, i, r.centroids, c, dim));
    const best = Math.min(...dists);
    // The assigned centroid is the nearest (up to float32 rounding of the distance).
    assert(dists[r.assignments[i]] <= best + 1e-4 * (1 + best), `point ${i} is not at its nearest centroid`);
    inertia += dists[r.assignments[i]];
    counts[r.assignments[i]]++;
    for (let j = 0; j < dim; j++) sums[r.assignments[i] * dim + j] += data[i * dim + j];
  }
  for (let c = 0; c < k; c++) {
    assert(counts[c] > 0, `cluster ${c} is empty`);
    const mean = Array.from({ length: dim }, (_, j) => sums[c * dim + j] / counts[c]);
    assertClose(r.centroids.subarray(c * dim, (c + 1) * dim), mean, { atol: 1e-5, msg: `centroid ${c}` });
  }
  assertClose(r.inertia, inertia, { rtol: 1e-4 });
});

Deno.test("kmeans: the same seed gives the same clustering; no tensors leak", async () => {
  const rng = new Rng(11);
  const n = 200, dim = 4, k = 5;
  const data = Float32Array.from({ length: n * dim }, () => rng.normal());
  const a = await assertNoLeak(() => kmeans(data, n, dim, k, { seed: 5 }), "kmeans");
  const b = await kmeans(data, n, dim, k, { seed: 5 });
  assertEquals(a.assignments, b.assignments);
  assertEquals(a.centroids, b.centroids);
  assertEquals(a.inertia, b.inertia);
});

Deno.test("kmeans++: the draw follows D² exactly (chi-square on all ordered triples of 5 points)", async () => {
  // Points on a line; k = 3 takes the third centre through the rejection step (stale D² bounds).
  const xs = [0, 1, 3, 7, 8];
  const n = xs.length;
  const data = Float32Array.from(xs);
  const expected = new Map<string, number>();
  for (let a = 0; a < n; a++) {
    const da = xs.map((x) => (x - xs[a]) ** 2);
    const sa = da.reduce((s, v) => s + v, 0);
    for (let b = 0; b < n; b++) {
      if (da[b] === 0) continue;
      const dab = xs.map((x, i) => Math.min(da[i], (x - xs[b]) ** 2));
      const sab = dab.reduce((s, v) => s + v, 0);
      for (let c = 0; c < n; c++) {
        if (dab[c] > 0) expected.set(`${a},${b},${c}`, (1 / n) * (da[b] / sa) * (dab[c] / sab));
      }
    }
  }
  const draws = 3000;
  const seen = new Map<string, number>();
  const rng = new Rng(123);
  for (let t = 0; t < draws; t++) {
    const c = await kmeansPlusPlus(data, n, 1, 3, rng, "backend");
    const key = [...c].map((v) => xs.indexOf(v)).join(",");
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  let chi2 = 0;
  for (const [key, p] of expected) chi2 += ((seen.get(key) ?? 0) - draws * p) ** 2 / (draws * p);
  for (const key of seen.keys()) assert(expected.has(key), `impossible draw ${key}`);
  // 5·4·3 = 60 cells at most (59 degrees of freedom): the 99.9% quantile is about 99.6.
  assert(chi2 < 99.6, `chi-square ${chi2.toFixed(1)} over ${expected.size} cells`);
});

Deno.test("kmeans: an empty cluster takes the farthest point of a cluster that can spare it", () => {
  // Points 0..4 in 1D; all assigned to cluster 0 except point 4 in cluster 1; cluster 2 empty.
  const data = Float32Array.of(0, 1, 2, 10, 20);
  const assignments = Int32Array.of(0, 0, 0, 0, 1);
  const centroids = Float32Array.of(3, 20, 99);
  // Farthest is point 4 (its cluster has one point, so it cannot be spared), then point 3.
  const dist2 = Float32Array.of(9, 4, 1, 49, 400);
  updateCentroids(data, 5, 1, 3, assignments, dist2, centroids);
  assertClose(centroids, [1, 20, 10]);
});

Deno.test("kmeans: fewer distinct points than clusters still returns k centroids", async () => {
  const data = Float32Array.of(0, 0, 0, 0, 5, 5);
  const r = await kmeans(data, 6, 1, 3, { seed: 0 });
  assertEquals(r.centroids.length, 3);
  assertEquals(r.inertia, 0);
});

Deno.test("kmeans: bad k is a DmlError", async () => {
  await rejects(() => kmeans(new Float32Array(4), 2, 2, 3), DmlError);
  await rejects(() => kmeans(new Float32Array(4), 2, 2, 0), DmlError);
});

Deno.test("kmeans: cpu, webgpu and BLAS agree", async () => {
  const dim = 6, classes = 4;
  const { data, n } = blobs(new Rng(3), classes, 16, dim, 0.5, 3);
  const runs: Array<[string, Awaited<ReturnType<typeof kmeans>>]> = [];
  for (const backend of await testBackends()) {
    runs.push([backend, await onBackend(backend, () => kmeans(data, n, dim, classes, { seed: 2, engine: "backend" }))]);
  }
  if (blas()) runs.push(["blas", await kmeans(data, n, dim, classes, { seed: 2, engine: "native" })]);
  for (const [name, r] of runs.slice(1)) {
    assertEquals(r.assignments, runs[0][1].assignments, name);
    assertClose(r.centroids, runs[0][1].centroids, { atol: 1e-4, msg: name });
  }
});
