/**
 * Approximate vs exact nearest-neighbour search (core/search/ann_index.ts vs core/knn.ts) on
 * synthetic embeddings: Gaussian clusters, L2-normalised, compared by cosine (trained embeddings
 * are clustered; uniform random data, the worst case for a graph index, is measured too).
 *
 *   deno run -A bench/ann_bench.ts report [--sizes 60000x512,1000000x128] [--queries 1000] [--data both|clusters|uniform]
 *       index build time, queries per second (one query at a time and as a batch), recall@10
 *   deno run -A bench/ann_bench.ts crossover [--dims 128,512]
 *       one query's latency by gallery size, in process: exact kNN vs the index
 *   deno run -A bench/ann_bench.ts command [--dim 512] [--sizes 5000,20000,60000]
 *       `deno task search` for one query end to end, --engine exact vs ann (search's ANN_MIN_ITEMS)
 *
 * Under `deno bench` it registers a small exact-vs-index comparison (20,000 × 128).
 * The machine's load average is printed with each result: the cores may be shared.
 */
import { knn } from "../core/knn.ts";
import { Rng } from "../core/rng.ts";
import { buildIndex, searchIndex } from "../core/search/ann_index.ts";
import { prepareRows } from "../core/search/gallery.ts";

/**
 * n unit rows in `clusters` Gaussian clusters (uniform in the cube when clusters is 0). The
 * centres come from `centreSeed`, the points from `seed`: queries share the gallery's centres.
 */
function synthetic(n: number, dim: number, clusters: number, seed: number, centreSeed = 1): Float32Array {
  const crng = new Rng(centreSeed), rng = new Rng(seed);
  const centres = new Float32Array(Math.max(clusters, 1) * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = crng.normal() * 2;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = clusters ? rng.int(clusters) : 0;
    for (let j = 0; j < dim; j++) {
      out[i * dim + j] = clusters ? centres[c * dim + j] + rng.normal() : rng.uniform() - 0.5;
    }
  }
  return prepareRows(out, n, dim, null, "cosine");
}

function load(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function recallAt(exact: Int32Array, approx: Int32Array, nq: number, k: number): number {
  let found = 0;
  for (let q = 0; q < nq; q++) {
    const truth = new Set(exact.subarray(q * k, q * k + k));
    for (let j = 0; j < k; j++) if (truth.has(approx[q * k + j])) found++;
  }
  return found / (nq * k);
}

async function report(n: number, dim: number, nq: number, clusters: number) {
  const t0 = performance.now();
  const data = synthetic(n, dim, clusters, 1);
  const q = synthetic(nq, dim, clusters, 2);
  const generateSeconds = (performance.now() - t0) / 1000;
  const loadBefore = load();
  const { index, seconds: build } = buildIndex({ data, n, dim, metric: "cosine", center: false });
  const e0 = performance.now();
  const exact = await knn(q, nq, data, n, dim, 10, { metric: "cosine" });
  const exactBatch = (performance.now() - e0) / 1000;
  const single = Math.min(nq, 20);
  const s0 = performance.now();
  for (let i = 0; i < single; i++) await knn(q.subarray(i * dim, (i + 1) * dim), 1, data, n, dim, 10);
  const exactOne = (performance.now() - s0) / 1000 / single;
  const a0 = performance.now();
  const hits = searchIndex(index, q, nq, 10, "cosine");
  const annBatch = (performance.now() - a0) / 1000;
  const o0 = performance.now();
  for (let i = 0; i < nq; i++) searchIndex(index, q.subarray(i * dim, (i + 1) * dim), 1, 10, "cosine");
  const annOne = (performance.now() - o0) / 1000 / nq;
  return {
    n,
    dim,
    data: clusters ? `${clusters} clusters` : "uniform",
    queries: nq,
    generateSeconds: Number(generateSeconds.toFixed(1)),
    buildSeconds: Number(build.toFixed(1)),
    recallAt10: Number(recallAt(exact.indices, hits.indices, nq, 10).toFixed(4)),
    exactBatchQps: Math.round(nq / exactBatch),
    annBatchQps: Math.round(nq / annBatch),
    exactOneMs: Number((exactOne * 1e3).toFixed(2)),
    annOneMs: Number((annOne * 1e3).toFixed(3)),
    load: `${loadBefore} -> ${load()}`,
  };
}

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

if (Deno.args[0] === "report") {
  const sizes = flag("--sizes", "60000x512,1000000x128").split(",").map((s) => s.split("x").map(Number));
  const nq = Number(flag("--queries", "1000"));
  for (const [n, dim] of sizes) {
    const kinds = flag("--data", "both");
    const clustered = kinds === "uniform" ? [] : [Math.round(Math.sqrt(n))];
    for (const clusters of [...clustered, ...(kinds === "clusters" ? [] : [0])]) {
      console.log(JSON.stringify(await report(n, dim, nq, clusters)));
    }
  }
} else if (Deno.args[0] === "crossover") {
  for (const dim of flag("--dims", "128,512").split(",").map(Number)) {
    for (const n of [1000, 5000, 10000, 20000, 50000, 100000]) {
      const clusters = Math.round(Math.sqrt(n)), nq = 50;
      const data = synthetic(n, dim, clusters, 1), q = synthetic(nq, dim, clusters, 2);
      const { index, seconds } = buildIndex({ data, n, dim, metric: "cosine", center: false });
      await knn(q.subarray(0, dim), 1, data, n, dim, 10); // warm-up
      const e0 = performance.now();
      for (let i = 0; i < nq; i++) await knn(q.subarray(i * dim, (i + 1) * dim), 1, data, n, dim, 10);
      const exactMs = (performance.now() - e0) / nq;
      const a0 = performance.now();
      for (let i = 0; i < nq; i++) searchIndex(index, q.subarray(i * dim, (i + 1) * dim), 1, 10, "cosine");
      const annMs = (performance.now() - a0) / nq;
      console.log(JSON.stringify({
        n,
        dim,
        exactOneMs: Number(exactMs.toFixed(3)),
        annOneMs: Number(annMs.toFixed(3)),
        buildSeconds: Number(seconds.toFixed(2)),
        load: load(),
      }));
    }
  }
} else if (Deno.args[0] === "command") {
  // What a user waits for: `deno task search` on one query, exact vs with the index, end to end
  // (process start, reading the gallery, opening and checking the index, the search).
  const dir = await Deno.makeTempDir({ dir: "runs" }).catch(async () => {
    await Deno.mkdir("runs", { recursive: true });
    return await Deno.makeTempDir({ dir: "runs" });
  });
  const { encodeNpy } = await import("../core/npy.ts");
  const dim = Number(flag("--dim", "512"));
  for (const n of flag("--sizes", "5000,20000,60000").split(",").map(Number)) {
    const clusters = Math.round(Math.sqrt(n));
    await Deno.writeFile(`${dir}/g.npy`, encodeNpy(synthetic(n, dim, clusters, 1), [n, dim]));
    await Deno.writeFile(`${dir}/q.npy`, encodeNpy(synthetic(1, dim, clusters, 2), [1, dim]));
    const cli = async (...args: string[]) => {
      const t0 = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, ...args],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
      return (performance.now() - t0) / 1000;
    };
    await cli("index", "--embeddings", `${dir}/g.npy`, "--out", `${dir}/index`);
    const search = ["search", "--gallery", `${dir}/g.npy`, "--index", `${dir}/index`, `${dir}/q.npy`];
    const times = { exact: [] as number[], ann: [] as number[] };
    for (let rep = 0; rep < 3; rep++) {
      times.exact.push(await cli(...search, "--engine", "exact"));
      times.ann.push(await cli(...search, "--engine", "ann"));
    }
    const best = (t: number[]) => Number(Math.min(...t).toFixed(2));
    console.log(JSON.stringify({ n, dim, exactSeconds: best(times.exact), annSeconds: best(times.ann), load: load() }));
  }
  await Deno.remove(dir, { recursive: true });
} else {
  const n = 20_000, dim = 128;
  const data = synthetic(n, dim, 141, 1), q = synthetic(1, dim, 141, 2);
  const { index } = buildIndex({ data, n, dim, metric: "cosine", center: false });
  Deno.bench({ name: "one query, exact kNN, 20,000 × 128", group: "ann", baseline: true }, async () => {
    await knn(q, 1, data, n, dim, 10);
  });
  Deno.bench({ name: "one query, USearch HNSW, 20,000 × 128", group: "ann" }, () => {
    searchIndex(index, q, 1, 10, "cosine");
  });
}
