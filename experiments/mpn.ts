/**
 * The Fashion-MNIST MPN comparison (zero-shot split: train on 6 classes, retrieve among the 4
 * held-out ones), three seeds each, same backbone, sampler (6 classes × 9), optimizer and schedule:
 *
 * - `mpn`: the method, `recipes/mpn.yaml` as shipped;
 * - `no-attention`: the same with `loss.attention=none` (each block keeps its MLP and LayerNorms,
 *   but no sample receives messages from the others);
 * - `backbone-lsce`: `loss.mpnWeight=0`, the backbone's label-smoothed CE alone (the paper's
 *   classification baseline, no MPN);
 * - `normalized-softmax`: the backbone trained with plain cosine-softmax cross-entropy
 *   (`normalized-softmax`, T = 0.05, L2-normalised embedding).
 *
 * Runs one training process at a time, appends each result to `docs/results/mpn.jsonl` (a run
 * already there is not repeated) and rewrites the table in `docs/results/mpn.md`.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/mpn.ts            # the grid
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/mpn.ts --table    # table only
 * ```
 */

import {
  markdownTable,
  meanSeconds,
  meanStd,
  perSeedTable,
  readJsonl,
  recipeArgs,
  runMissing,
  summary,
  train,
  trainCommand,
  writeTable,
} from "./grid.ts";

const METHODS = ["mpn", "no-attention", "backbone-lsce", "normalized-softmax"] as const;
const SEEDS = [0, 1, 2];
const RESULTS = "docs/results/mpn.jsonl";
const REPORT = "docs/results/mpn.md";

type Method = typeof METHODS[number];
interface Result {
  method: Method;
  seed: number;
  metrics: Record<string, number>;
  seconds: number;
  runDir: string;
}

/** The `--set` overrides that turn `recipes/mpn.yaml` into each method. */
const OVERRIDES: Record<Method, string[]> = {
  "mpn": [],
  "no-attention": ["loss.attention=none", "name=mpn-no-attention"],
  "backbone-lsce": ["loss.mpnWeight=0", "name=mpn-backbone-lsce"],
  "normalized-softmax": [
    "loss={use: normalized-softmax, temperature: 0.05}",
    "backbone.normalize=true",
    "name=mpn-normalized-softmax",
  ],
};

/** The `deno task train` arguments of one run. */
function trainArgs(method: Method, seed: number): string[] {
  // wasm: the fastest CPU backend for an mlp (auto falls back to cpu, whose conv kernels it needs).
  const sets = [`seed=${seed}`, "train.backend=wasm", "eval.every=0", "output=runs/mpn-grid", ...OVERRIDES[method]];
  return recipeArgs("recipes/mpn.yaml", sets);
}

async function runOne(method: Method, seed: number): Promise<Result> {
  const { runDir, metrics, seconds } = await train(trainArgs(method, seed));
  return { method, seed, metrics, seconds, runDir };
}

function table(results: Result[]): string {
  const keys = ["recall@1", "recall@2", "recall@4", "recall@8", "map@r"];
  const lines = markdownTable(
    ["method", ...keys.map((k) => `${k} (%)`), "seeds", "s / run"],
    METHODS.map((m) => {
      const rs = results.filter((r) => r.method === m);
      const cells = keys.map((k) => meanStd(rs.map((r) => r.metrics[k]).filter((v) => v !== undefined)));
      return [m, ...cells, `${rs.length}`, meanSeconds(rs)];
    }),
  );
  const perSeed = [
    "",
    "Per seed, Recall@1 (%):",
    "",
    ...perSeedTable(results, METHODS, SEEDS, (r) => (100 * r.metrics["recall@1"]).toFixed(2)),
  ];
  const commands = [
    "",
    "```sh",
    "# the whole grid (one training process at a time):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/mpn.ts",
    "# one cell by hand, e.g. seed 1 of each method:",
    ...METHODS.map((m) => trainCommand(trainArgs(m, 1))),
    "```",
  ];
  return [...lines, ...perSeed, ...commands].join("\n");
}

if (import.meta.main) {
  const results = await readJsonl<Result>(RESULTS);
  if (!Deno.args.includes("--table")) {
    const cells = SEEDS.flatMap((seed) => METHODS.map((method) => ({ method, seed })));
    for await (const r of runMissing(RESULTS, results, cells, (c) => runOne(c.method, c.seed))) console.log(summary(r));
  }
  await writeTable(REPORT, "MPN on Fashion-MNIST", table(results));
}
