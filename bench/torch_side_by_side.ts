/**
 * dml against PyTorch on the CPU, side by side: images/s of a full training step (forward, loss,
 * backward, optimizer, the loss read back) of each model, dml on its blas backend run by the
 * project's own trainer (bench/trainer_steps.ts, as bench/train_throughput.ts) and PyTorch 1.13 CPU
 * with 2 threads (bench/torch_step.py), alternating dml, torch, dml, torch, … (`--rounds`, 3), the
 * warm-up steps of every run left out; the median images/s over each side's timed steps, and
 * PyTorch / dml.
 *
 * Models: `quickstart` (recipes/quickstart.yaml: its convnet, its B, multi-similarity + miner,
 * Adam, on Fashion-MNIST), `emoji` (recipes/emoji.yaml's network and batch on its emoji data),
 * `resnet50-b8` and `resnet50-b32` (ResNet-50 at 224², 512-d head, multi-similarity + miner, Adam,
 * random images). PyTorch times the same network on one random batch made once, so dml's figure
 * also carries the trainer's batch assembly (prefetched) and PyTorch's does not.
 *
 * Same numerics: before timing, each model's initial weights and one random batch are drawn by dml,
 * written as .npy, loaded into PyTorch, and both sides print the loss on them and the loss after
 * one Adam step (float32 on both; `--no-check` skips it). A difference over {@link TOLERANCE} marks the row
 * MISMATCH and the command exits 1 after printing its table.
 *
 * PyTorch is Debian's (`apt-get install python3-torch python3-torchvision`, for /usr/bin/python3);
 * where `import torch` fails the PyTorch column is skipped with a line saying so. CI never runs this.
 *
 * ```sh
 * deno run -A bench/torch_side_by_side.ts [--models quickstart,emoji,resnet50-b8,resnet50-b32]
 *   [--rounds 3] [--python /usr/bin/python3] [--note "..."] [--write]
 * ```
 */
import { parseArgs } from "node:util";
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor1D, Tensor4D } from "@tensorflow/tfjs-core";
import { loadRecipe, type RawRecipe } from "../core/recipe.ts";
import { useBackend } from "../core/backend.ts";
import { writeNpy } from "../core/npy.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Loss, Optimizer } from "../core/types.ts";
import { trainerImagesPerSec } from "./trainer_steps.ts";
import { commandLine, machine, table, writeSection } from "./results_md.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "quickstart,emoji,resnet50-b8,resnet50-b32" },
    rounds: { type: "string", default: "3" },
    python: { type: "string" },
    check: { type: "boolean", default: true },
    "no-check": { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    note: { type: "string", default: "" },
  },
});

const recipeUrl = (name: string) => new URL(`../recipes/${name}.yaml`, import.meta.url).pathname;
const TORCH_STEP = new URL("./torch_step.py", import.meta.url).pathname;

interface Model {
  name: string;
  describe: string;
  raw: RawRecipe;
  /** [H, W, C] of the images. */
  shape: [number, number, number];
  /** Trainer steps per dml run (the first `warmup` left out) and PyTorch's timed steps. */
  dmlSteps: number;
  torchSteps: number;
  warmup: number;
}

interface Setup {
  backbone: { use: string; channels?: number[]; dim: number; depth?: number };
  sampler: { classes: number; perClass: number };
  optimizer: { lr: number };
}

const resnet = (batch: number, dmlSteps: number, torchSteps: number): Model => ({
  name: `resnet50-b${batch}`,
  describe: `ResNet-50, 224×224 random images, B = ${batch} (${batch / 2} classes × 2), 512-d head, ` +
    "multi-similarity + miner, Adam lr 1e-4",
  shape: [224, 224, 3],
  dmlSteps,
  torchSteps,
  warmup: 1,
  raw: {
    name: `resnet50-b${batch}`,
    seed: 0,
    data: { use: "bench-random-images", side: 224, size: 256, classes: batch / 2 },
    backbone: { use: "resnet", depth: 50, dim: 512 },
    sampler: { use: "m-per-class", classes: batch / 2, perClass: 2 },
    loss: { use: "multi-similarity" },
    optimizer: { use: "adam", lr: 0.0001 },
    eval: { use: "retrieval", recallAt: [1] },
    train: { epochs: 1 },
  },
});

async function models(): Promise<Model[]> {
  const all: Model[] = [
    {
      name: "quickstart",
      describe: "recipes/quickstart.yaml: convnet [16, 32, 64], flatten, 128-d, B = 48, multi-similarity + miner, Adam",
      raw: await loadRecipe(recipeUrl("quickstart")),
      shape: [28, 28, 1],
      dmlSteps: 14,
      torchSteps: 20,
      warmup: 2,
    },
    {
      name: "emoji",
      describe: "recipes/emoji.yaml: convnet [32, 64, 128] on 32×32×3, flatten, 128-d, B = 64, " +
        "multi-similarity + miner, Adam",
      raw: await loadRecipe(recipeUrl("emoji")),
      shape: [32, 32, 3],
      dmlSteps: 10,
      torchSteps: 15,
      warmup: 2,
    },
    resnet(8, 4, 4),
    resnet(32, 3, 3),
  ];
  return args.models!.split(",").map((n) => {
    const m = all.find((x) => x.name === n);
    if (!m) throw new Error(`--models: unknown '${n}'; known: ${all.map((x) => x.name).join(", ")}`);
    return m;
  });
}

/** bench/torch_step.py's arguments for a model's network, batch and optimizer. */
function torchArgs(m: Model): string[] {
  const { backbone, sampler, optimizer } = m.raw as unknown as Setup;
  const net = backbone.use === "convnet"
    ? ["--model", "convnet", "--channels", ...backbone.channels!.map(String)]
    : ["--model", "resnet50"];
  return [
    ...net,
    ...["--side", String(m.shape[0]), "--in-channels", String(m.shape[2]), "--dim", String(backbone.dim)],
    ...["--batch", String(sampler.classes * sampler.perClass), "--classes", String(sampler.classes)],
    ...["--lr", String(optimizer.lr)],
  ];
}

async function python(pythonArgs: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await new Deno.Command(pythonBin, { args: pythonArgs, stdout: "piped", stderr: "piped" }).output();
  return { ok: r.success, out: new TextDecoder().decode(r.stdout), err: new TextDecoder().decode(r.stderr) };
}

async function torchImagesPerSec(m: Model): Promise<number[]> {
  const r = await python([
    TORCH_STEP,
    "time",
    ...torchArgs(m),
    ...["--steps", String(m.torchSteps), "--warmup", String(m.warmup), "--threads", "2"],
  ]);
  if (!r.ok) throw new Error(`torch_step.py failed: ${r.err.trim().split("\n").at(-1)}`);
  return JSON.parse(r.out.trim().split("\n").at(-1)!).imagesPerSec;
}

/**
 * The loss on dml's initial weights and a random batch, and after one Adam step, by dml (blas)
 * and by PyTorch loaded with the same weights and batch.
 */
async function sameLoss(m: Model): Promise<{ dml: number[]; torch: number[] }> {
  await useBackend("blas");
  const { backbone, sampler, optimizer } = m.raw as unknown as Setup;
  const registry = createRegistry();
  const { use, ...options } = m.raw.backbone as { use: string };
  const net = await registry.create<Backbone>("backbone", use, options, { inputShape: m.shape });
  const loss = await registry.create<Loss>("loss", "multi-similarity", {});
  const adam = await registry.create<Optimizer>("optimizer", "adam", { lr: optimizer.lr });
  const batch = sampler.classes * sampler.perClass;
  const x = tf.randomNormal([batch, ...m.shape], 0, 1, "float32", 7) as Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % sampler.classes), "int32") as Tensor1D;
  const dir = await Deno.makeTempDir({ prefix: "dml-vs-torch-" });
  try {
    // ResNet's Variables by torchvision name (running moments included); the convnet's in order.
    const named: Array<[string, tf.Variable]> = backbone.use === "resnet"
      ? (net as unknown as { named(): Array<[string, tf.Variable]> }).named()
      : net.trainableWeights.map((v, i) => [`p${i}`, v]);
    for (const [i, [, v]] of named.entries()) {
      await writeNpy(`${dir}/w${i}.npy`, await v.data() as Float32Array, v.shape);
    }
    await Deno.writeTextFile(`${dir}/weights.json`, JSON.stringify(named.map(([n]) => n)));
    await writeNpy(`${dir}/x.npy`, await x.data() as Float32Array, x.shape);
    await writeNpy(`${dir}/y.npy`, await y.data() as Int32Array, y.shape);
    const lossOf = () => loss.compute(net.embed(x, true), y);
    const first = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(lossOf as () => Scalar, net.trainableWeights);
      adam.step(net.trainableWeights, net.trainableWeights.map((w) => grads[w.name]), optimizer.lr);
      return value;
    });
    const second = tf.tidy(lossOf);
    const dml = [(await first.data())[0], (await second.data())[0]];
    tf.dispose([first, second, x, y]);
    (net as unknown as { dispose?(): void }).dispose?.();
    const r = await python([TORCH_STEP, "check", ...torchArgs(m), "--dir", dir]);
    if (!r.ok) throw new Error(`torch_step.py check failed: ${r.err.trim().split("\n").at(-1)}`);
    const t = JSON.parse(r.out.trim().split("\n").at(-1)!);
    return { dml, torch: [t.loss, t.lossAfterStep] };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Largest |dml − torch| of the loss before and after one Adam step (float32 sums in different orders). */
const TOLERANCE = [1e-4, 1e-3];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(", ");

const pythonBin = args.python ??
  (await Deno.stat("/usr/bin/python3").then(() => "/usr/bin/python3", () => "python3"));
const probe = await python(["-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)"])
  .catch((e) => ({ ok: false, out: "", err: String(e) }));
const torchVersion = probe.ok ? probe.out.trim() : null;
if (!torchVersion) {
  console.log(
    `PyTorch: skipped (${pythonBin} cannot import torch and torchvision: ` +
      `${probe.err.trim().split("\n").at(-1)}); install Debian's python3-torch python3-torchvision for it`,
  );
}
const where = await machine() + (torchVersion ? `; PyTorch ${torchVersion.replace(" ", ", torchvision ")}` : "") +
  (args.note ? `; ${args.note}` : "");
const loadBefore = load();
console.log(`machine: ${where}\nload average before: ${loadBefore}`);
const blasEnv = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"]
  .map((k) => `${k}=${Deno.env.get(k) ?? "(unset)"}`).join(" ");
console.log(`environment (the same for both sides): ${blasEnv}`);

const rounds = Number(args.rounds);
const rows: string[][] = [], checks: string[][] = [];
const selected = await models();
for (const m of selected) {
  if (torchVersion && args.check && !args["no-check"]) {
    const c = await sameLoss(m);
    const d = c.dml.map((v, i) => Math.abs(v - c.torch[i]));
    const same = d.every((x, i) => x <= TOLERANCE[i]);
    if (!same) Deno.exitCode = 1;
    console.log(
      `${m.name} same weights and batch: loss dml ${c.dml[0].toFixed(6)} torch ${c.torch[0].toFixed(6)} ` +
        `(|Δ| ${d[0].toExponential(1)}); after one Adam step dml ${c.dml[1].toFixed(6)} torch ${
          c.torch[1].toFixed(6)
        } (|Δ| ${d[1].toExponential(1)})${same ? "" : ` MISMATCH (tolerance ${TOLERANCE.join(", ")})`}`,
    );
    checks.push([
      m.name,
      `${c.dml[0].toFixed(5)} / ${c.torch[0].toFixed(5)}`,
      d[0].toExponential(1),
      `${c.dml[1].toFixed(5)} / ${c.torch[1].toFixed(5)}`,
      d[1].toExponential(1) + (same ? "" : " MISMATCH"),
    ]);
  }
  const dmlAll: number[] = [], torchAll: number[] = [], dmlRounds: string[] = [], torchRounds: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await trainerImagesPerSec(m.raw, "blas", m.dmlSteps, m.warmup);
    dmlAll.push(...a);
    dmlRounds.push(rate(median(a)));
    console.log(`${m.name} round ${r + 1} dml (blas): ${a.map(rate).join(", ")} images/s`);
    if (!torchVersion) continue;
    const b = await torchImagesPerSec(m);
    torchAll.push(...b);
    torchRounds.push(rate(median(b)));
    console.log(`${m.name} round ${r + 1} torch: ${b.map(rate).join(", ")} images/s`);
  }
  const dmlRate = median(dmlAll), torchRate = torchAll.length ? median(torchAll) : NaN;
  rows.push([
    m.name,
    `${rate(dmlRate)} (${dmlRounds.join(", ")})`,
    torchVersion ? `${rate(torchRate)} (${torchRounds.join(", ")})` : "skipped",
    torchVersion ? `${(torchRate / dmlRate).toFixed(2)}×` : "",
  ]);
}
const loadAfter = load();
const head = ["model", "dml blas: images/s (per round)", "PyTorch CPU, 2 threads (per round)", "PyTorch / dml"];
const checkHead = ["model", "loss dml / torch", "|Δ|", "after one Adam step dml / torch", "|Δ|"];
console.log(`\n${table(head, rows)}`);
if (checks.length) console.log(`\n${table(checkHead, checks)}`);
console.log(`\nload average after: ${loadAfter}`);

if (args.write) {
  await writeSection(
    "torch_side_by_side",
    [
      "## dml vs PyTorch on the CPU (bench/torch_side_by_side.ts)",
      "",
      `${new Date().toISOString().slice(0, 10)} · ${where}`,
      "",
      `Load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadAfter}. ${blasEnv}.`,
      "",
      `Command: \`${commandLine("torch_side_by_side.ts")}\``,
      "",
      ...selected.map((m) => `- \`${m.name}\`: ${m.describe}`),
      "",
      `Full training steps, ${rounds} rounds alternating dml and PyTorch; the median over every timed step of a`,
      "side (in brackets each round's median), warm-up steps left out. dml's steps are the trainer's (batch",
      "assembly prefetched, forward, backward, Adam, loss read back); PyTorch's run on one fixed random batch.",
      "",
      table(head, rows),
      ...(checks.length
        ? [
          "",
          "Same numerics: dml's initial weights and one random batch loaded into PyTorch (float32 on both):",
          "",
          table(checkHead, checks),
        ]
        : []),
    ].join("\n"),
  );
  console.log("bench/RESULTS.md updated");
}
