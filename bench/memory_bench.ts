/**
 * Cross-batch memory kernels at the papers' sizes: M = 8192 (XBM default) and 55,000 (XBM's SOP
 * set-up), D = 128 and 512, B = 64, on the CPU backends (cpu, wasm, blas) and on WebGPU where Deno
 * exposes a hardware adapter (a software one by name: DML_BENCH_BACKENDS=webgpu).
 *
 * - `xbm update`: enqueue one batch into a full ring buffer (moves the M×D store once: 8·M·D bytes).
 * - `xbn update`: re-standardise the whole memory to the batch's moments, write it back, enqueue
 *   (reads the store three times, writes it twice: ≈ 20·M·D bytes).
 * - `memory loss`: the official XBM contrastive loss of B anchors against the M entries, forward
 *   and backward to the anchors (two B×M×D matmuls: 4·B·M·D flop).
 *
 * Each entry prints its throughput (GB/s or GFLOP/s) once, measured on its timed section.
 *
 * ```sh
 * deno task bench bench/memory_bench.ts
 * DML_BENCH_BACKENDS=wasm deno task bench bench/memory_bench.ts   # one backend only
 * ```
 */
import { tf } from "../core/tf.ts";
import type { Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { isSoftwareAdapter, useBackend, webgpuAdapter } from "../core/backend.ts";
import { blas } from "../core/blas.ts";
import { RingBuffer } from "../core/ring_buffer.ts";
import type { Loss, Memory } from "../core/types.ts";
import { CrossBatchMemory } from "../plugins/xbm/mod.ts";
import { CrossBatchNorm } from "../plugins/xbn/mod.ts";
import { ContrastiveLoss } from "../plugins/losses/contrastive.ts";

type BenchBackend = "cpu" | "wasm" | "blas" | "webgpu";
const B = 64;
const SIZES = [8192, 55000];
const DIMS = [128, 512];

const env = Deno.env.get("DML_BENCH_BACKENDS");
const backends: BenchBackend[] = env
  ? env.split(",").map((s) => s.trim() as BenchBackend)
  : ["cpu", "wasm", ...(blas() ? ["blas" as const] : []), ...(await hardwareWebgpu() ? ["webgpu" as const] : [])];

/** A hardware adapter; a software one (lavapipe) takes minutes at M = 55,000: only by name (DML_BENCH_BACKENDS). */
async function hardwareWebgpu(): Promise<boolean> {
  const adapter = await webgpuAdapter();
  return adapter !== null && !isSoftwareAdapter(adapter);
}

/** A memory whose ring is already full of random unit vectors, without running M / B updates. */
function fullMemory(kind: "xbm" | "xbn", m: number, d: number, rng: Rng): Memory {
  const common = { size: m, start: 0, weight: 1, order: "before-loss" as const, dim: d };
  const memory = kind === "xbm"
    ? new CrossBatchMemory({ ...common, batchLoss: true })
    : new CrossBatchNorm({ ...common, batchLoss: false, normalize: true, eps: 1e-6 });
  const feats = Float32Array.from({ length: m * d }, () => rng.normal() / Math.sqrt(d));
  const labels = Int32Array.from({ length: m }, () => rng.int(m / 4));
  const ring = { size: m, dim: d, ptr: 0, count: m, feats, labels };
  memory.load(kind === "xbm" ? { method: "xbm", ring } : { method: "xbn", ring, kalman: null });
  return memory;
}

function randomBatch(d: number, rng: Rng): { e: Tensor2D; y: Tensor1D } {
  return {
    e: tf.tensor2d(Float32Array.from({ length: B * d }, () => rng.normal()), [B, d]),
    y: tf.tensor1d(Int32Array.from({ length: B }, (_, i) => i >> 2), "int32"),
  };
}

/** Waits until the device has finished everything queued before (a 1-element read). */
async function sync(): Promise<void> {
  const probe = tf.zeros([1]);
  await probe.data();
  probe.dispose();
}

const printed = new Set<string>();
function report(name: string, ms: number, amount: number, unit: "GB/s" | "GFLOP/s"): void {
  if (printed.has(name)) return;
  printed.add(name);
  console.log(`${name}: ${ms.toFixed(1)} ms, ${(amount / 1e9 / (ms / 1000)).toFixed(2)} ${unit}`);
}

for (const backend of backends) {
  for (const m of SIZES) {
    // tfjs cpu needs minutes at M = 55,000 (0.3 GFLOP/s): only when asked for by name.
    if (backend === "cpu" && m > 8192 && !env) continue;
    for (const d of DIMS) {
      const group = `M=${m} D=${d} B=${B}`;
      for (const kind of ["xbm", "xbn"] as const) {
        const name = `${kind} update ${group} (${backend})`;
        Deno.bench({
          name,
          group,
          n: 3,
          warmup: 1,
          async fn(t) {
            await useBackend(backend);
            const rng = new Rng(1);
            const memory = fullMemory(kind, m, d, rng);
            const { e, y } = randomBatch(d, rng);
            memory.update(e, y, 0); // warm-up: kernel compilation, buffer allocation
            await sync();
            t.start();
            const t0 = performance.now();
            memory.update(e, y, 1);
            await sync();
            const ms = performance.now() - t0;
            t.end();
            report(name, ms, (kind === "xbm" ? 8 : 20) * m * d, "GB/s");
            tf.dispose([e, y]);
            memory.dispose?.();
            await useBackend("cpu");
          },
        });
      }
      const name = `memory loss fwd+bwd ${group} (${backend})`;
      Deno.bench({
        name,
        group,
        n: 3,
        warmup: 1,
        async fn(t) {
          await useBackend(backend);
          const rng = new Rng(2);
          const ring = new RingBuffer(m, d);
          const loss: Loss = new ContrastiveLoss({
            variant: "xbm",
            posMargin: 0,
            negMargin: 0.5,
            metric: "cosine",
            selfBy: "index",
          });
          const { e, y } = randomBatch(d, rng);
          ring.load({
            size: m,
            dim: d,
            ptr: 0,
            count: m,
            feats: Float32Array.from({ length: m * d }, () => rng.normal()),
            labels: Int32Array.from({ length: m }, () => rng.int(m / 4)),
          });
          const anchors = tf.variable(e);
          const step = async () => {
            const { value, grads } = tf.variableGrads(() => {
              const ref = ring.reference();
              return loss.compute(anchors as unknown as Tensor2D, y, ref!);
            }, [anchors]);
            await value.data(); // wait for the device
            tf.dispose([value, ...Object.values(grads)]);
          };
          await step();
          t.start();
          const t0 = performance.now();
          await step();
          const ms = performance.now() - t0;
          t.end();
          report(name, ms, 4 * B * m * d, "GFLOP/s");
          tf.dispose([e, y, anchors]);
          ring.dispose();
          await useBackend("cpu");
        },
      });
    }
  }
}
