/**
 * Images per second of full training steps (batch, forward, backward, optimizer, the loss read
 * back) run by the project's own trainer, per backend, side by side in one process:
 *
 * - `quickstart`: recipes/quickstart.yaml as written (Fashion-MNIST 28×28, a small convnet,
 *   m-per-class B = 48, multi-similarity, Adam);
 * - `quickstart-mlp`: the same with an `mlp` backbone (one hidden layer of 256);
 * - `quickstart-random`: the quickstart on random 28×28 images of 8 classes (not run by default: for
 *   machines without the Fashion-MNIST cache, such as a GPU machine, bench/gpu/run.sh);
 * - `resnet50`: ResNet-50 at 224×224 on random images, B = `--resnet-batch` (32; a step's tensors
 *   peak at ~10 GiB with dml's fused BatchNorm, so B = 64 is at the edge of a 24 GiB machine).
 *
 * Each run is `train()` with `train.maxSteps` steps, a step record per step (`logEvery: 1`), no
 * checkpoint, and a tiny test split; the figure is the median of the trainer's own images/s over
 * the steps after the first (which compiles kernels). Slow pairs run fewer steps (see STEPS).
 * Ratios are against the fastest *plain tfjs* backend of the model: cpu, webgpu, and wasm where
 * it needs none of dml's added kernels (core/wasm_kernels.ts; a convolution's filter gradient
 * is one). `blas` is dml's (core/blas_backend.ts). A software WebGPU adapter is marked so.
 *
 * ```sh
 * deno run -A --unstable-webgpu bench/train_throughput.ts [--models quickstart,quickstart-mlp,resnet50]
 *   [--backends blas,wasm,cpu,webgpu] [--steps N] [--resnet-batch 32] [--note "machine shared with ..."] [--write]
 * ```
 * `--write` rewrites the section of bench/RESULTS.md; `--note` adds to its machine line.
 */
import { parseArgs } from "node:util";
import { loadRecipe, type RawRecipe } from "../core/recipe.ts";
import { availableBackends, isSoftwareAdapter, webgpuAdapter } from "../core/backend.ts";
import { trainerImagesPerSec } from "./trainer_steps.ts";
import { commandLine, machine, table, writeSection } from "./results_md.ts";

const QUICKSTART = new URL("../recipes/quickstart.yaml", import.meta.url).pathname;

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "quickstart,quickstart-mlp,resnet50" },
    backends: { type: "string" },
    steps: { type: "string" },
    write: { type: "boolean", default: false },
    note: { type: "string", default: "" },
    "resnet-batch": { type: "string", default: "32" },
  },
});

interface Model {
  name: string;
  describe: string;
  recipe(): Promise<RawRecipe>;
}

/** The quickstart recipe, or (until it exists) the same set-up written out. */
async function quickstart(): Promise<RawRecipe> {
  try {
    return await loadRecipe(QUICKSTART);
  } catch {
    return {
      name: "quickstart",
      seed: 0,
      data: { use: "fashion-mnist", trainClasses: [1, 2, 3, 4, 5, 7, 8, 9], testClasses: [0, 6] },
      backbone: { use: "convnet", channels: [16, 32, 64], dim: 64 },
      sampler: { use: "m-per-class", classes: 6, perClass: 8 },
      loss: { use: "multi-similarity" },
      optimizer: { use: "adam", lr: 0.003 },
      eval: { use: "retrieval", recallAt: [1] },
      train: { epochs: 1 },
    };
  }
}

const MODELS: Model[] = [
  {
    name: "quickstart",
    describe: "recipes/quickstart.yaml as written",
    recipe: quickstart,
  },
  {
    name: "quickstart-mlp",
    describe: "recipes/quickstart.yaml with backbone mlp (one hidden layer of 256, dim 64)",
    recipe: async () => ({ ...(await quickstart()), backbone: { use: "mlp", hidden: [256], dim: 64 } }),
  },
  {
    name: "quickstart-random",
    describe: "recipes/quickstart.yaml on random 28×28×1 images of 8 classes",
    recipe: async () => ({
      ...(await quickstart()),
      data: { use: "bench-random-images", side: 28, channels: 1, size: 512, testSize: 16, classes: 8 },
    }),
  },
  {
    name: "resnet50",
    describe: `ResNet-50, 224×224 random images, m-per-class B = ${args["resnet-batch"]}, multi-similarity, Adam`,
    recipe: () =>
      Promise.resolve({
        name: "resnet50",
        seed: 0,
        data: {
          use: "bench-random-images",
          side: 224,
          size: 256,
          classes: Math.max(2, Number(args["resnet-batch"]) / 2),
        },
        backbone: { use: "resnet", depth: 50, dim: 512 },
        sampler: { use: "m-per-class", classes: Number(args["resnet-batch"]) / 2, perClass: 2 },
        loss: { use: "multi-similarity" },
        optimizer: { use: "adam", lr: 0.0001 },
        eval: { use: "retrieval", recallAt: [1] },
        train: { epochs: 1 },
      }),
  },
];

/** Whether the recipe's backbone convolves (on wasm its filter gradient is dml's kernel). */
const convolutional = (raw: RawRecipe) => (raw.backbone as { use: string }).use !== "mlp";

/** Steps per run (the first is a warm-up); fewer where one step takes minutes. null: not run by default. */
function steps(model: Model, raw: RawRecipe, backend: string, software: boolean): number | null {
  if (args.steps) return Math.max(2, Number(args.steps));
  if (model.name === "resnet50") {
    // cpu's filter gradient runs at ~0.02 GFLOP/s (a step would take hours); lavapipe and wasm take minutes.
    return backend === "blas" ? 3 : null;
  }
  if (convolutional(raw)) return backend === "cpu" || software ? 2 : 10;
  return 30;
}

const throughput = (raw: RawRecipe, backend: string, maxSteps: number) => trainerImagesPerSec(raw, backend, maxSteps);

/** Images/s with one decimal, or two significant digits below 1 (a software adapter's ResNet-50). */
const rate = (v: number) => (v >= 1 ? v.toFixed(1) : v.toPrecision(2));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const adapter = await webgpuAdapter();
const software = adapter !== null && isSoftwareAdapter(adapter);
const backends = args.backends?.split(",") ?? await availableBackends();
const models = args.models!.split(",").map((n) => {
  const m = MODELS.find((x) => x.name === n);
  if (!m) throw new Error(`--models: unknown '${n}'; known: ${MODELS.map((x) => x.name).join(", ")}`);
  return m;
});
const label = (b: string) => (b === "webgpu" && software ? "webgpu (software: lavapipe)" : b);
const plain = (raw: RawRecipe, b: string) => b === "cpu" || b === "webgpu" || (b === "wasm" && !convolutional(raw));

const where = await machine() + (args.note ? `; ${args.note}` : "");
console.log(`machine: ${where}`);
const rows: string[][] = [];
for (const model of models) {
  const raw = await model.recipe();
  const figures = new Map<string, number>();
  const notes = new Map<string, string>();
  for (const backend of backends) {
    const n = steps(model, raw, backend, software && backend === "webgpu");
    if (n === null) {
      notes.set(backend, "not run by default (too slow; pass --steps)");
      continue;
    }
    const t0 = performance.now();
    try {
      const perStep = await throughput(raw, backend, n);
      figures.set(backend, median(perStep));
      console.log(
        `${model.name} on ${label(backend)}: ${rate(median(perStep))} images/s (steps after the first: ${
          perStep.map(rate).join(", ")
        }; ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    } catch (e) {
      notes.set(backend, `failed: ${(e as Error).message.split("\n")[0]}`);
      console.log(`${model.name} on ${label(backend)}: ${notes.get(backend)}`);
    }
  }
  const plainBest = Math.max(0, ...[...figures].filter(([b]) => plain(raw, b)).map(([, v]) => v));
  for (const backend of backends) {
    const v = figures.get(backend);
    rows.push([
      model.name,
      label(backend) + (plain(raw, backend) ? "" : backend === "wasm" ? " + dml kernels" : " (dml)"),
      v === undefined ? notes.get(backend) ?? "" : rate(v),
      v === undefined || plainBest === 0 ? "" : `${(v / plainBest).toFixed(1)}×`,
    ]);
  }
}
const head = ["model", "backend", "images/s", "vs best plain tfjs"];
console.log(`\n${table(head, rows)}`);

if (args.write) {
  await writeSection(
    "train_throughput",
    [
      "## Training throughput (bench/train_throughput.ts)",
      "",
      `${new Date().toISOString().slice(0, 10)} · ${where}`,
      "",
      `Command: \`${commandLine("train_throughput.ts")}\``,
      "",
      ...models.map((m) => `- \`${m.name}\`: ${m.describe}`),
      "",
      "Full training steps by the trainer (batch, forward, backward, Adam, loss read back); median of the",
      'steps after the first. "vs best plain tfjs": against the fastest backend tfjs ships as it is (the',
      "network is dml's on every backend, so its BatchNorm runs as core/batch_norm.ts's closed-form op there too).",
      "",
      table(head, rows),
    ].join("\n"),
  );
  console.log("bench/RESULTS.md updated");
}
