/**
 * What a checkpoint's SHA-256 manifest costs (core/checkpoint.ts): saving and loading a state the
 * size of ResNet-50 trained with Adam (25.6 M weights and two moments: 307 MB of float32), beside
 * the SHA-256 of as many bytes alone, which is what the manifest adds to each (once on save, once
 * on load).
 *
 * ```sh
 * deno task bench bench/checkpoint_bench.ts
 * DML_BENCH_CHECKPOINT_MB=64 deno task bench bench/checkpoint_bench.ts   # a smaller state
 * ```
 */
import { loadCheckpoint, saveCheckpoint } from "../core/checkpoint.ts";

const MB = Number(Deno.env.get("DML_BENCH_CHECKPOINT_MB") ?? 307);
const DIR = ".cache/bench-checkpoint";
const third = new Float32Array(Math.floor((MB * 1e6) / 12));
for (let i = 0; i < third.length; i++) third[i] = Math.sin(i);
const state = { step: 1, trainables: [third], optimizer: { m: [third.slice()], v: [third.slice()] } };
const bytes = new Uint8Array(3 * third.byteLength);
await Deno.mkdir(".cache", { recursive: true });
await saveCheckpoint(`${DIR}/epoch-0001`, state);

Deno.bench(`sha256 of ${MB} MB`, { group: "checkpoint", baseline: true }, async () => {
  await crypto.subtle.digest("SHA-256", bytes);
});
Deno.bench(`save ${MB} MB (write to a temporary folder, manifest, rename)`, { group: "checkpoint" }, async () => {
  await saveCheckpoint(`${DIR}/epoch-0001`, state);
});
Deno.bench(`load ${MB} MB (read, verify the manifest, decode)`, { group: "checkpoint" }, async () => {
  await loadCheckpoint(`${DIR}/epoch-0001`);
});
globalThis.addEventListener("unload", () => Deno.removeSync(DIR, { recursive: true }));
