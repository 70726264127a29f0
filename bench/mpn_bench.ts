/**
 * One message-passing forward + backward (the MPN of `plugins/mpn`, CUB size: 1 block, 2 heads,
 * D = 512, MLP 2048, dropout on) at batch sizes B = 64, 128, 256, on the cpu, wasm and blas backends,
 * and on WebGPU where Deno exposes an adapter and `DML_BENCH_WEBGPU=1` (lavapipe, the software
 * adapter, takes minutes here).
 *
 * Each entry also prints its GFLOP/s once, counting the matrix products only: per forward the
 * input projection, Q/K/V and output projections (5 · 2·B·D²), the scores and the weighted sum
 * (2 · 2·B²·D) and the 4×-wide MLP (2 · 8·B·D²); backward twice that: 3 · (26·B·D² + 4·B²·D).
 *
 * ```sh
 * deno task bench bench/mpn_bench.ts
 * DML_BENCH_MPN=full deno task bench bench/mpn_bench.ts   # cpu at B = 128 and 256 too
 * ```
 */
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { useBackend, webgpuAdapter } from "../core/backend.ts";
import { blas } from "../core/blas.ts";
import type { Tensor3D, Variable } from "@tensorflow/tfjs-core";
import { DEFAULT_NETWORK, MessagePassingNetwork } from "../plugins/mpn/network.ts";

const D = 512;
type Backend = "cpu" | "wasm" | "blas" | "webgpu";
const backends: Backend[] = ["cpu", "wasm", ...(blas() ? ["blas" as const] : [])];
if (Deno.env.get("DML_BENCH_WEBGPU") === "1" && await webgpuAdapter()) backends.push("webgpu");

/** One training-mode forward and the gradients of every weight and of the input. */
async function step(net: MessagePassingNetwork, x: Variable): Promise<void> {
  const { value, grads } = tf.variableGrads(
    () => tf.sum(net.forward(x as unknown as Tensor3D, true)),
    [x, ...net.trainableWeights],
  );
  await value.data(); // wait for the device
  tf.dispose([value, ...Object.values(grads)]);
}

const seen = new Set<string>(), printed = new Set<string>();
/** Prints an entry's throughput once, from a call after its first (which builds the network). */
function report(name: string, ms: number, flop: number): void {
  if (printed.has(name) || !seen.has(name)) return void seen.add(name);
  printed.add(name);
  console.log(`${name}: ${ms.toFixed(1)} ms, ${(flop / 1e9 / (ms / 1000)).toFixed(2)} GFLOP/s`);
}

for (const backend of backends) {
  for (const b of [64, 128, 256]) {
    // tfjs cpu takes seconds per call above B = 64 (0.7 GFLOP/s): only with DML_BENCH_MPN=full.
    if (backend === "cpu" && b > 64 && Deno.env.get("DML_BENCH_MPN") !== "full") continue;
    let setup: { net: MessagePassingNetwork; x: Variable } | undefined;
    Deno.bench({
      name: `mpn forward+backward B=${b} D=${D} (${backend})`,
      group: `B=${b}`,
      baseline: backend === "cpu",
      n: 5,
      warmup: 1,
      async fn() {
        await useBackend(backend);
        const t0 = performance.now();
        if (!setup) {
          const rng = new Rng(1);
          const net = new MessagePassingNetwork({ ...DEFAULT_NETWORK, inDim: D, dim: D }, new Rng(0));
          const x = tf.variable(tf.tensor3d(Float32Array.from({ length: b * D }, () => rng.normal()), [1, b, D]));
          setup = { net, x };
        }
        await step(setup.net, setup.x);
        report(
          `mpn forward+backward B=${b} D=${D} (${backend})`,
          performance.now() - t0,
          3 * (26 * b * D * D + 4 * b * b * D),
        );
      },
    });
  }
}
