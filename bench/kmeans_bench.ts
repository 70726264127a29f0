/**
 * k-means (core/kmeans.ts) as divide-and-conquer re-clusters: N points of L2-normalised
 * D-dim features into K clusters, a fixed number of Lloyd iterations. The nearest-centroid
 * search runs on each tfjs backend (`engine: backend` on cpu, wasm, and webgpu where Deno exposes
 * an adapter) and on the native BLAS engine (`engine: native`, what `auto` picks on a CPU).
 *
 * The default run is small (N = 6,000, D = 512, K = 8 and 32, 5 iterations), so that it
 * finishes in seconds. The sizes of a real re-clustering (N = 60,000, D = 512 and 2,048,
 * K = 8 and 32; 2,048 is ResNet-50's pooled feature) take minutes on a CPU backend:
 *
 * ```sh
 * deno task bench bench/kmeans_bench.ts                                  # small
 * DML_BENCH_KMEANS=full deno task bench bench/kmeans_bench.ts            # N = 60,000
 * DML_BENCH_KMEANS=full DML_BENCH_BACKENDS=native,wasm deno task bench bench/kmeans_bench.ts
 * DML_BENCH_BACKENDS=webgpu deno task bench bench/kmeans_bench.ts       # also on a software adapter
 * ```
 *
 * Each timing is one `kmeans` call (k-means++ seeding + `ITERS` iterations, tol 0 so every
 * iteration runs), after one warm-up call that compiles the kernels.
 */
import { Rng } from "../core/rng.ts";
import { isSoftwareAdapter, useBackend, webgpuAdapter } from "../core/backend.ts";
import { kmeans } from "../core/kmeans.ts";

const full = Deno.env.get("DML_BENCH_KMEANS") === "full";
const N = full ? 60_000 : 6_000;
const DIMS = full ? [512, 2048] : [512];
const KS = [8, 32];
const ITERS = 5;

/** `native`: the BLAS engine (on the cpu backend); the others: the tfjs backend of that name. */
type Engine = "native" | "cpu" | "wasm" | "webgpu";
const wanted = Deno.env.get("DML_BENCH_BACKENDS")?.split(",") as Engine[] | undefined;
const engines: Engine[] = wanted ?? ["native", "cpu", "wasm"];
// A software adapter (lavapipe) takes ~15 s for the small size: only when asked for by name.
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

for (const dim of DIMS) {
  for (const k of KS) {
    for (const engine of engines) {
      const backend = engine === "native" ? "cpu" : engine;
      const opts = { seed: 0, tol: 0, engine: engine === "native" ? "native" as const : "backend" as const };
      Deno.bench({
        name: `kmeans N=${N} D=${dim} K=${k} ${ITERS} iters (${engine})`,
        group: `N=${N} D=${dim} K=${k}`,
        baseline: engine === "native",
        // Each call runs for a second to a minute: a few samples are enough (the warm-up is below).
        n: full ? 1 : 3,
        warmup: 0,
        async fn(t) {
          await useBackend(backend);
          const x = dataOf(dim);
          await kmeans(x, N, dim, k, { ...opts, iters: 1 }); // warm-up: kernel compilation
          t.start();
          const r = await kmeans(x, N, dim, k, { ...opts, iters: ITERS });
          t.end();
          if (r.iters !== ITERS) throw new Error(`kmeans stopped after ${r.iters} of ${ITERS} iterations`);
          await useBackend("cpu");
        },
      });
    }
  }
}
