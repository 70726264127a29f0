/**
 * Where a training step's time goes: one forward + backward + Adam step of a backbone under
 * `tf.profile`, kernels summed by name, slowest first, with the step's peak tensor bytes. This is
 * the profile that chose dml's fused kernels (core/batch_norm.ts, the Adam kernel).
 *
 * ```sh
 * deno run -A bench/profile_step.ts [--backbone resnet] [--options '{"depth":50}'] [--size 224]
 *   [--batch 32] [--backend blas] [--steps 1] [--top 20]
 * ```
 * The loss is the mean square of the embedding (the backbone is what is profiled). A kernel that
 * wraps others (a custom-gradient op shows as "unnamed scope") counts its inner kernels' time again.
 */
import { parseArgs } from "node:util";
import { tf } from "../core/tf.ts";
import type { Scalar } from "@tensorflow/tfjs-core";
import { type BackendName, useBackend } from "../core/backend.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Optimizer } from "../core/types.ts";

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
  },
});

const choice = await useBackend(args.backend as BackendName);
const size = Number(args.size), batch = Number(args.batch);
const inputShape = [size, size, Number(args.channels)];
const registry = createRegistry();
const net = await registry.create<Backbone>("backbone", args.backbone!, JSON.parse(args.options!), { inputShape });
const optimizer = await registry.create<Optimizer>("optimizer", "adam", { lr: 1e-4 });
const x = tf.randomNormal([batch, ...inputShape]);

const step = () =>
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(net.embed(x, true))) as Scalar,
      net.trainableWeights,
    );
    optimizer.step(net.trainableWeights, net.trainableWeights.map((w) => grads[w.name]), 1e-4);
    return value;
  });

const warm = step(); // compiles kernels, creates the optimizer's slots
await warm.data();
warm.dispose();
const steps = Number(args.steps);
const byName = new Map<string, { ms: number; calls: number }>();
let wall = 0, peakBytes = 0;
for (let s = 0; s < steps; s++) {
  const t0 = performance.now();
  const profile = await tf.profile(() => step());
  wall += (performance.now() - t0) / steps;
  peakBytes = Math.max(peakBytes, profile.peakBytes);
  for (const k of profile.kernels) {
    const ms = (Number(await k.kernelTimeMs) || 0) / steps;
    const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1 / steps;
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
console.log("kernel".padEnd(30), "ms".padStart(8), "calls".padStart(6), "share".padStart(6));
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) {
  console.log(
    name.padEnd(30),
    e.ms.toFixed(0).padStart(8),
    String(Math.round(e.calls)).padStart(6),
    `${(100 * e.ms / wall).toFixed(1)}%`.padStart(6),
  );
}
