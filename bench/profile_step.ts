/**
 * Where a training step's time goes: one forward + backward + Adam step of a backbone under
 * `tf.profile`, kernels summed by name, slowest first, with the step's peak tensor bytes. This is
 * the profile that chose dml's fused kernels (core/batch_norm.ts, the Adam kernel).
 *
 * ```sh
 * deno run -A bench/profile_step.ts [--backbone resnet] [--options '{"depth":50}'] [--size 224]
 *   [--batch 32] [--backend blas] [--steps 1] [--top 20] [--loss multi-similarity --classes 16]
 * ```
 * The loss is the mean square of the embedding (the backbone is what is profiled), or with `--loss
 * multi-similarity` the trainer's loss and miner on labels `i % classes`. A kernel that wraps
 * others (a custom-gradient op shows as "unnamed scope") counts its inner kernels' time again.
 * Convolutions and matrix products get a GFLOP/s column (2·M·N·K from their shapes), and on blas the
 * sgemm ceiling (a 1024³ product and one of the step's own shapes through the same library) is
 * printed beside it.
 */
import { parseArgs } from "node:util";
import { tf } from "../core/tf.ts";
import type { Scalar } from "@tensorflow/tfjs-core";
import { type BackendName, useBackend } from "../core/backend.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Loss, Optimizer } from "../core/types.ts";
import { blas } from "../core/blas.ts";

const { values: args } = parseArgs({
  options: {
    backbone: { type: "string", default: "resnet" },
    options: { type: "string", default: '{"depth":50,"dim":512}' },
    size: { type: "string", default: "224" },
    channels: { type: "string", default: "3" },
    batch: { type: "string", default: "32" },
    backend: { type: "string", default: "blas" },
    top: { type: "string", default: "20" },
    steps: { type: "string", default: "1" },
    loss: { type: "string", default: "mean-square" },
    classes: { type: "string" },
  },
});

const choice = await useBackend(args.backend as BackendName);
const size = Number(args.size), batch = Number(args.batch);
const inputShape = [size, size, Number(args.channels)];
const registry = createRegistry();
const net = await registry.create<Backbone>("backbone", args.backbone!, JSON.parse(args.options!), { inputShape });
const optimizer = await registry.create<Optimizer>("optimizer", "adam", { lr: 1e-4 });
const x = tf.randomNormal([batch, ...inputShape]);
const classes = Number(args.classes ?? Math.max(2, batch / 2));
const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), "int32");
const loss = args.loss === "mean-square" ? null : await registry.create<Loss>("loss", args.loss!, {});
const objective = () => {
  const e = net.embed(x, true);
  return (loss ? loss.compute(e, y) : tf.mean(tf.square(e))) as Scalar;
};

const step = () =>
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(objective, net.trainableWeights);
    optimizer.step(net.trainableWeights, net.trainableWeights.map((w) => grads[w.name]), 1e-4);
    return value;
  });

const warm = step(); // compiles kernels, creates the optimizer's slots
await warm.data();
warm.dispose();
const steps = Number(args.steps);
const byName = new Map<string, { ms: number; calls: number; flop: number }>();

const prod = (shape: number[]) => shape.reduce((p, n) => p * n, 1);
/** Floating-point operations of a convolution or matrix-product kernel from its shapes; 0 for others. */
function flopOf(name: string, inputs: number[][], outputs: number[][]): number {
  // Each is 2 · (output pixels × out channels) · (kH · kW · in channels) of its filter [kH, kW, in, out].
  if (name === "Conv2D" || name === "FusedConv2D") return 2 * prod(outputs[0]) * prod(inputs[1].slice(0, 3));
  if (name === "Conv2DBackpropInput") return 2 * prod(inputs[0]) * prod(inputs[1].slice(0, 3));
  if (name === "Conv2DBackpropFilter") return 2 * prod(inputs[1]) * prod(outputs[0].slice(0, 3));
  if (name === "BatchMatMul" || name === "_FusedMatMul" || name === "MatMul") {
    // M·N·K from |A|·|B| = M·K·K·N and |C| = M·N (2-D or one batch).
    return 2 * prod(outputs[0]) * Math.sqrt(prod(inputs[0]) * prod(inputs[1]) / prod(outputs[0]));
  }
  return 0;
}
let wall = 0, peakBytes = 0;
for (let s = 0; s < steps; s++) {
  const t0 = performance.now();
  const profile = await tf.profile(() => step());
  wall += (performance.now() - t0) / steps;
  peakBytes = Math.max(peakBytes, profile.peakBytes);
  for (const k of profile.kernels) {
    const ms = (Number(await k.kernelTimeMs) || 0) / steps;
    const entry = byName.get(k.name) ?? { ms: 0, calls: 0, flop: 0 };
    entry.ms += ms;
    entry.calls += 1 / steps;
    entry.flop += flopOf(k.name, k.inputShapes, k.outputShapes) / steps;
    byName.set(k.name, entry);
  }
}
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
console.log(
  `${args.backbone} ${JSON.stringify(JSON.parse(args.options!))} B = ${batch}, mean of ${steps} step(s) at ${
    inputShape.join("×")
  } on ` +
    `${choice.backend}: step ${(wall / 1000).toFixed(2)} s (${(batch / wall * 1000).toFixed(2)} images/s), ` +
    `peak tensors ${gib(peakBytes)} GiB, RSS ${gib(Deno.memoryUsage().rss)} GiB`,
);
console.log(
  "kernel".padEnd(30),
  "ms".padStart(8),
  "calls".padStart(6),
  "share".padStart(6),
  "GFLOP".padStart(8),
  "GFLOP/s".padStart(8),
);
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) {
  console.log(
    name.padEnd(30),
    e.ms.toFixed(0).padStart(8),
    String(Math.round(e.calls)).padStart(6),
    `${(100 * e.ms / wall).toFixed(1)}%`.padStart(6),
    (e.flop ? (e.flop / 1e9).toFixed(2) : "").padStart(8),
    (e.flop ? (e.flop / 1e6 / e.ms).toFixed(1) : "").padStart(8),
  );
}
const all = [...byName.values()];
const convMs = [...byName].filter(([n]) => n.startsWith("Conv2D")).reduce((t, [, e]) => t + e.ms, 0);
const flop = all.reduce((t, e) => t + e.flop, 0);
console.log(
  `convolutions and products: ${(flop / 1e9).toFixed(1)} GFLOP a step; Conv2D* kernels ${convMs.toFixed(0)} ms ` +
    `(${(100 * convMs / wall).toFixed(0)}% of the step); whole step ${(flop / 1e6 / wall).toFixed(1)} GFLOP/s`,
);

const lib = args.backend === "blas" ? blas() : null;
if (lib) {
  /** Best GFLOP/s of C [m, n] = A [m, k] · B [k, n] over a few runs. */
  const sgemm = (m: number, n: number, k: number) => {
    const a = new Float32Array(m * k).fill(0.5), b = new Float32Array(k * n).fill(0.25);
    const c = new Float32Array(m * n);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      lib.gemm({ m, n, k, a, b, c });
      best = Math.min(best, performance.now() - t0);
    }
    return (2 * m * n * k / 1e6 / best).toFixed(1);
  };
  console.log(
    `sgemm ceiling (${lib.name}, ${lib.threads} threads): 1024³ ${sgemm(1024, 1024, 1024)} GFLOP/s; ` +
      `[${batch * 56 * 56}, 64] = [·, 576]·[576, 64] (a 3×3 64→64 conv at 56²) ${
        sgemm(batch * 56 * 56, 64, 576)
      } GFLOP/s`,
  );
}
