/**
 * k-means (core/kmeans.ts) at the size of a divide-and-conquer re-clustering: N = 60,000
 * L2-normalised D-dim features (D = 512, and 2,048 for ResNet-50's pooled features) into K = 8
 * and 32 clusters, per engine: the BLAS sgemm (`native`, what `auto` picks on a CPU) and the tfjs
 * backends cpu, wasm, and webgpu where Deno has an adapter.
 *
 * Each timing is one Lloyd iteration — the nearest-centroid search (a chunked N × K × D product
 * and arg-min) plus the float64 centroid update — so an iteration count is not needed to keep
 * the bench short: a full run is k-means++ seeding plus `iters` of these (the `seeding` group
 * times the seeding, on BLAS where present). After each entry a line gives the per-iteration time and the
 * GFLOP/s of the search (2·N·K·D flops over the iteration's seconds).
 *
 * ```sh
 * deno task bench bench/kmeans_bench.ts                                 # native, wasm, cpu (~2 min)
 * DML_BENCH_BACKENDS=native,wasm deno task bench bench/kmeans_bench.ts  # pick engines
 * DML_BENCH_BACKENDS=webgpu deno task bench bench/kmeans_bench.ts       # also on a software adapter
 * DML_BENCH_KMEANS_N=6000 deno task bench bench/kmeans_bench.ts         # a quick, smaller run
 * ```
 */
import { Rng } from "../core/rng.ts";
import { isSoftwareAdapter, useBackend, webgpuAdapter } from "../core/backend.ts";
import { kmeansPlusPlus, nearest, updateCentroids } from "../core/kmeans.ts";

const N = Number(Deno.env.get("DML_BENCH_KMEANS_N") ?? 60_000);
const DIMS = [512, 2048];
const KS = [8, 32];

/** `native`: the BLAS engine (on the cpu backend); the others: the tfjs backend of that name. */
type Engine = "native" | "cpu" | "wasm" | "webgpu";
const wanted = Deno.env.get("DML_BENCH_BACKENDS")?.split(",") as Engine[] | undefined;
const engines: Engine[] = wanted ?? ["native", "wasm", "cpu"];
// A software adapter (lavapipe) is slower than the CPU engines: only when asked for by name.
const adapter = await webgpuAdapter();
if (!wanted && adapter && !isSoftwareAdapter(adapter)) engines.push("webgpu");

/** Unit-norm points around 64 random directions: the shape of L2-normalised CNN features. */
function features(n: number, dim: number): Float32Array {
  const rng = new Rng(0);
  const centers = Array.from({ length: 64 }, () => Array.from({ length: dim }, () => rng.normal()));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centers[rng.int(64)];
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = c[j] + 2 * rng.normal();
      x[i * dim + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < dim; j++) x[i * dim + j] /= norm;
  }
  return x;
}

const data = new Map<number, Float32Array>();
const dataOf = (dim: number) => {
  if (!data.has(dim)) data.set(dim, features(N, dim));
  return data.get(dim)!;
};

/** The k-means++ centres of each (dim, K), computed once on BLAS, so every engine iterates from the same start. */
const starts = new Map<string, Float32Array>();
async function startOf(dim: number, k: number): Promise<Float32Array> {
  const key = `${dim}/${k}`;
  if (!starts.has(key)) starts.set(key, await kmeansPlusPlus(dataOf(dim), N, dim, k, new Rng(0), "auto"));
  return starts.get(key)!;
}

/** Runs per entry: a warm-up (kernel compilation) and the measured ones; the slow engines get fewer. */
const runsOf = (engine: Engine) => (engine === "cpu" || engine === "webgpu" ? 2 : 4);

for (const dim of DIMS) {
  for (const k of KS) {
    const group = `N=${N} D=${dim} K=${k}`;
    for (const engine of engines) {
      const backend = engine === "native" ? "cpu" : engine;
      const knnEngine = engine === "native" ? "native" as const : "backend" as const;
      const runs = runsOf(engine);
      const seconds: number[] = [];
      Deno.bench({
        name: `Lloyd iteration ${group} (${engine})`,
        group,
        baseline: engine === "native",
        n: runs,
        warmup: 1,
        async fn(t) {
          await useBackend(backend);
          const x = dataOf(dim);
          const centroids = (await startOf(dim, k)).slice();
          t.start();
          const start = performance.now();
          const { assignments, dist2 } = await nearest(x, N, dim, centroids, k, knnEngine);
          updateCentroids(x, N, dim, k, assignments, dist2, centroids);
          seconds.push((performance.now() - start) / 1000);
          t.end();
          await useBackend("cpu");
          if (seconds.length === runs + 1) {
            const best = Math.min(...seconds.slice(1));
            console.log(
              `  ${group} ${engine}: ${(best * 1000).toFixed(0)} ms per iteration, ` +
                `${((2 * N * k * dim) / best / 1e9).toPrecision(2)} GFLOP/s (best of ${runs})`,
            );
          }
        },
      });
    }
  }
}

for (const dim of DIMS) {
  for (const k of KS) {
    Deno.bench({
      name: `k-means++ seeding N=${N} D=${dim} K=${k} (auto engine)`,
      group: "seeding",
      n: 2,
      warmup: 0,
      async fn() {
        await kmeansPlusPlus(dataOf(dim), N, dim, k, new Rng(1), "auto");
      },
    });
  }
}
