/**
 * `deno bench` timings of the training-side kernels per backend (cpu, wasm, blas where a BLAS
 * library loads; webgpu on a hardware adapter, or any adapter with DML_BENCH_WEBGPU=1):
 *
 * - `similarity`: the pairwise cosine similarity of B anchors against M references of D dims
 *   (what every pair loss and memory loss computes first): 2·B·M·D flop;
 * - `loss <name>`: each registered loss, forward + backward to the embeddings, B = 128, D = 128,
 *   100 classes (proxy losses); the flop column counts only its B×N similarity, forward and the
 *   two backward products (6·B·N·D, N = B or the classes), so it is a lower bound;
 * - `top-k`: the exact kNN of core/knn.ts (cosine, k = 8), 256 queries against 8,192 items,
 *   on the tfjs backend and on the native BLAS engine: 2·Q·N·D flop.
 *
 * XBM/XBN memory updates and the memory loss are in memory_bench.ts, MPN attention in
 * mpn_bench.ts, k-means in kmeans_bench.ts. At the end a table gives each entry's best time and
 * GFLOP/s.
 *
 * ```sh
 * deno task bench bench/kernels_bench.ts
 * DML_BENCH_BACKENDS=blas,wasm deno task bench bench/kernels_bench.ts
 * ```
 */
import { tf } from "../core/tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { availableBackends, isSoftwareAdapter, useBackend, webgpuAdapter } from "../core/backend.ts";
import { pairwise } from "../core/pairs.ts";
import { knn } from "../core/knn.ts";
import { blas } from "../core/blas.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Loss } from "../core/types.ts";

type Backend = "cpu" | "wasm" | "blas" | "webgpu";
const adapter = await webgpuAdapter();
const wanted = Deno.env.get("DML_BENCH_BACKENDS")?.split(",") as Backend[] | undefined;
const backends: Backend[] = wanted ??
  (await availableBackends()).filter((b): b is Backend =>
    b !== "webgpu" || (adapter !== null && (!isSoftwareAdapter(adapter) || Deno.env.get("DML_BENCH_WEBGPU") === "1"))
  ) as Backend[];

const rng = new Rng(0);
const normals = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

/** Best milliseconds and flop per entry, for the closing table. */
const best = new Map<string, { ms: number; flop: number }>();
function record(name: string, ms: number, flop: number): void {
  const prev = best.get(name);
  if (!prev || ms < prev.ms) best.set(name, { ms, flop });
}
addEventListener("unload", () => {
  const rows = [...best].map(([name, { ms, flop }]) =>
    `${name.padEnd(58)} ${ms.toFixed(2).padStart(10)} ms ${(flop / 1e9 / (ms / 1000)).toFixed(2).padStart(9)} GFLOP/s`
  );
  console.log(`\nbest time and throughput per entry:\n${rows.join("\n")}`);
});

/** Waits until the device has finished what is queued (a 1-element read). */
async function sync(): Promise<void> {
  const probe = tf.zeros([1]);
  await probe.data();
  probe.dispose();
}

const B = 128, D = 128, CLASSES = 100;
const SIM_SIZES: Array<[number, number, number]> = [[128, 128, 128], [64, 8192, 128], [64, 8192, 512]];

for (const backend of backends) {
  for (const [b, m, d] of SIM_SIZES) {
    const name = `similarity B=${b} M=${m} D=${d} (${backend})`;
    const a = normals(b * d), r = normals(m * d);
    Deno.bench({
      name,
      group: `similarity ${b}×${m}×${d}`,
      baseline: backend === "cpu",
      n: 5,
      warmup: 1,
      async fn(t) {
        await useBackend(backend);
        const [x, y] = [tf.tensor2d(a, [b, d]), tf.tensor2d(r, [m, d])];
        await sync();
        t.start();
        const t0 = performance.now();
        const s = pairwise(x, y, "cosine");
        await s.data();
        record(name, performance.now() - t0, 2 * b * m * d);
        t.end();
        tf.dispose([x, y, s]);
      },
    });
  }
}

const registry = createRegistry();
const lossNames = registry.list("loss").map((c) => c.name);
const embeddings = normals(B * D);
const labels = Int32Array.from({ length: B }, (_, i) => i % 32);
for (const backend of backends) {
  for (const lossName of lossNames) {
    const name = `loss ${lossName} fwd+bwd B=${B} D=${D} (${backend})`;
    Deno.bench({
      name,
      group: `loss ${lossName}`,
      baseline: backend === "cpu",
      n: 5,
      warmup: 1,
      async fn(t) {
        await useBackend(backend);
        let loss: Loss;
        try {
          loss = await registry.create<Loss>("loss", lossName, {}, {
            path: "loss",
            rng: new Rng(1),
            classes: CLASSES,
            dim: D,
            batchSize: B,
          });
        } catch (e) {
          console.log(`${name}: skipped (${(e as Error).message})`);
          return;
        }
        const e = tf.variable(tf.tensor2d(embeddings, [B, D]));
        const y = tf.tensor1d(labels, "int32") as Tensor1D;
        const vars = [e, ...(loss.trainableWeights ?? [])];
        const step = async () => {
          const { value, grads } = tf.variableGrads(() => loss.compute(e as unknown as Tensor2D, y), vars);
          await value.data();
          tf.dispose([value, ...Object.values(grads)]);
        };
        t.start();
        const t0 = performance.now();
        await step();
        const proxies = loss.usesReference === false;
        record(name, performance.now() - t0, 6 * B * (proxies ? CLASSES : B) * D);
        t.end();
        tf.dispose([e, y, ...(loss.trainableWeights ?? [])]);
      },
    });
  }
}

const Q = 256, N = 8192, K = 8;
const gallery = normals(N * D);
const engines: Array<[string, Backend, "backend" | "native"]> = [
  ...backends.map((b) => [b, b, "backend"] as [string, Backend, "backend"]),
  ...(blas() ? [["native BLAS", "cpu", "native"] as [string, Backend, "native"]] : []),
];
for (const [label, backend, engine] of engines) {
  const name = `top-k Q=${Q} N=${N} D=${D} k=${K} (${label})`;
  Deno.bench({
    name,
    group: "top-k",
    baseline: label === "cpu",
    n: 4,
    warmup: 1,
    async fn(t) {
      await useBackend(backend);
      const query = gallery.subarray(0, Q * D);
      t.start();
      const t0 = performance.now();
      await knn(query, Q, gallery, N, D, K, { engine, excludeSelf: true });
      record(name, performance.now() - t0, 2 * Q * N * D);
      t.end();
    },
  });
}
