/**
 * Host memory and live tensors over a long training run: the quickstart recipe, with an mlp
 * backbone unless `--recipe-backbone` (to be quick), for 1,000 steps by the project's trainer,
 * on blas where a BLAS library loads, else wasm. A
 * probe hook reads `Deno.memoryUsage().rss` and `tf.memory().numTensors` after every step; the
 * script prints them after the first step, at each tenth of the run and at the end, with the
 * peak, and fails (exit 1) if the tensor count grew or the RSS of the last tenth exceeds that of
 * the second tenth by more than `--rss-slack` MiB (the first steps allocate the pools).
 *
 * ```sh
 * deno run -A --unstable-webgpu bench/memory_flat.ts [--steps 1000] [--backend blas] [--recipe-backbone] [--write]
 * ```
 * `--write` rewrites its section of bench/RESULTS.md.
 */
import { parseArgs } from "node:util";
import { tf } from "../core/tf.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { blas } from "../core/blas.ts";
import type { Hooks, Plugin } from "../core/types.ts";
import { commandLine, machine, table, writeSection } from "./results_md.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "1000" },
    backend: { type: "string", default: blas() ? "blas" : "wasm" },
    "rss-slack": { type: "string", default: "64" },
    "recipe-backbone": { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    note: { type: "string", default: "" },
  },
});
const steps = Number(args.steps);

interface Sample {
  step: number;
  rssMiB: number;
  tensors: number;
}
const samples: Sample[] = [];
const probe: Plugin = {
  name: "memory-probe",
  components: [{
    kind: "evaluator",
    name: "memory-probe",
    doc: "the retrieval evaluator, plus a hook sampling host memory and live tensors after every step",
    options: {},
    async create(_o, ctx) {
      const inner = await ctx.registry.create("evaluator", "retrieval", { recallAt: [1] }, ctx);
      const hooks: Hooks = {
        afterStep: (t) =>
          void samples.push({
            step: t.step,
            rssMiB: Deno.memoryUsage().rss / 2 ** 20,
            tensors: tf.memory().numTensors,
          }),
      };
      return Object.assign(inner as object, hooks);
    },
  }],
};

const registry = createRegistry();
registry.register(probe);
const out = await Deno.makeTempDir({ prefix: "dml-memory-" });
const raw = await loadRecipe(new URL("../recipes/quickstart.yaml", import.meta.url).pathname);
raw.output = out;
raw.train = { ...(raw.train as object), backend: args.backend, epochs: 1000, maxSteps: steps, checkpoint: false };
raw.eval = { use: "memory-probe", every: 0, baselines: false };
raw.data = { ...(raw.data as object), testPerClass: 16 };
if (!args["recipe-backbone"]) raw.backbone = { use: "mlp", hidden: [256], dim: 64 };
const backbone = (raw.backbone as { use: string }).use;
const t0 = performance.now();
try {
  const result = await train(await resolveRecipe(raw, registry), registry, { quiet: true });
  console.log(
    `${result.steps} steps on ${result.backend.backend} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
} finally {
  await Deno.remove(out, { recursive: true });
}

const at = (i: number) => samples[Math.min(samples.length - 1, Math.max(0, i))];
const shown = [0, ...Array.from({ length: 10 }, (_, k) => Math.round(((k + 1) * samples.length) / 10) - 1)];
const rows = shown.map((i) => [String(at(i).step), at(i).rssMiB.toFixed(0), String(at(i).tensors)]);
const peak = Math.max(...samples.map((s) => s.rssMiB));
const tenth = Math.max(1, Math.floor(samples.length / 10));
const meanRss = (from: number) => samples.slice(from, from + tenth).reduce((s, x) => s + x.rssMiB, 0) / tenth;
const early = meanRss(tenth), late = meanRss(samples.length - tenth);
const first = samples[0], last = samples[samples.length - 1];
const summary =
  `peak RSS ${peak.toFixed(0)} MiB; mean RSS of steps ${tenth + 1}–${2 * tenth}: ${early.toFixed(0)} MiB, ` +
  `of the last ${tenth}: ${late.toFixed(0)} MiB; tensors after step 1: ${first.tensors}, at the end: ${last.tensors}`;
console.log(table(["after step", "RSS MiB", "live tensors"], rows));
console.log(summary);

if (args.write) {
  const where = await machine() + (args.note ? `; ${args.note}` : "");
  await writeSection(
    "memory_flat",
    [
      "## Memory over a long run (bench/memory_flat.ts)",
      "",
      `${new Date().toISOString().slice(0, 10)} · ${where}`,
      "",
      `Command: \`${commandLine("memory_flat.ts")}\``,
      "",
      `recipes/quickstart.yaml (backbone ${backbone}) for ${steps} steps on ${args.backend}, sampled after every step.`,
      "",
      table(["after step", "RSS MiB", "live tensors"], rows),
      "",
      summary + ".",
    ].join("\n"),
  );
  console.log("bench/RESULTS.md updated");
}

const grew = last.tensors > first.tensors || late - early > Number(args["rss-slack"]);
if (grew) {
  console.error(`memory is not flat: ${summary}`);
  Deno.exit(1);
}
