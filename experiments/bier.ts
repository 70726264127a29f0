/**
 * The Fashion-MNIST BIER comparison (zero-shot split: train on 6 classes, retrieve among the 4
 * held-out ones), three seeds each, same backbone (mlp 784→256→512 linear head), sampler
 * (6 classes × 8), optimizer and step budget (`recipes/bier.yaml`):
 *
 * - `binomial-512`: one 512-d learner (`loss.groups=[512]`): plain binomial deviance with BIER's pair
 *   weighting (= the built-in `binomial-deviance` with `countSelf: true`), no boosting;
 * - `bier`: learners 96/160/256 boosted, no diversity loss (the recipe as shipped);
 * - `bier-activation`: plus the activation diversity loss during training (λ_div 5e-5, λ_w 1e5);
 * - `bier-adversarial`: plus the adversarial diversity loss during training (A-BIER, same λs).
 *
 * Besides the retrieval metrics it reads the last `{"type": "bier"}` record of each run: the mean
 * |Pearson correlation| between dimensions of different learners (96/160/256 blocks for every
 * method, the 512-d baseline included) on 2000 test images.
 *
 * Runs one training process at a time, appends each result to `docs/results/bier.jsonl` (a run
 * already there is not repeated) and rewrites the table in `docs/results/bier.md`.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/bier.ts            # the grid
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/bier.ts --table    # table only
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

const METHODS = ["binomial-512", "bier", "bier-activation", "bier-adversarial"] as const;
const SEEDS = [0, 1, 2];
const RESULTS = "docs/results/bier.jsonl";
const REPORT = "docs/results/bier.md";

type Method = typeof METHODS[number];
interface Result {
  method: Method;
  seed: number;
  metrics: Record<string, number>;
  /** Mean |corr| between learners at the end of training, and at initialisation. */
  learnerCorr: number;
  learnerCorrInit: number;
  seconds: number;
  runDir: string;
}

/** The `--set` overrides that turn `recipes/bier.yaml` into each method. */
const OVERRIDES: Record<Method, string[]> = {
  "binomial-512": ["loss.groups=[512]", "loss.correlationGroups=[96,160,256]", "name=bier-binomial-512"],
  "bier": [],
  "bier-activation": ["loss.diversity=activation", "name=bier-activation"],
  "bier-adversarial": ["loss.diversity=adversarial", "name=bier-adversarial"],
};

/** The `deno task train` arguments of one run. */
function trainArgs(method: Method, seed: number): string[] {
  // wasm: the fastest CPU backend for an mlp (auto falls back to cpu, whose conv kernels it needs).
  return recipeArgs("recipes/bier.yaml", [
    `seed=${seed}`,
    "train.backend=wasm",
    "train.checkpoint=false",
    "eval.every=0",
    "output=runs/bier-grid",
    ...OVERRIDES[method],
  ]);
}

async function runOne(method: Method, seed: number): Promise<Result> {
  const { runDir, metrics, seconds } = await train(trainArgs(method, seed));
  const records = await readJsonl<Record<string, unknown>>(`${runDir}/metrics.jsonl`);
  const corr = records.filter((r) => r.type === "bier").map((r) => r["learner-corr"] as number);
  return {
    method,
    seed,
    metrics,
    learnerCorr: corr[corr.length - 1],
    learnerCorrInit: corr[0],
    seconds,
    runDir,
  };
}

function table(results: Result[]): string {
  const keys = ["recall@1", "recall@2", "recall@4", "recall@8", "map@r"];
  const lines = markdownTable(
    ["method", ...keys.map((k) => `${k} (%)`), "learner corr.", "seeds", "s / run"],
    METHODS.map((m) => {
      const rs = results.filter((r) => r.method === m);
      const cells = keys.map((k) => meanStd(rs.map((r) => r.metrics[k]).filter((v) => v !== undefined)));
      return [m, ...cells, meanStd(rs.map((r) => r.learnerCorr), 1, 3), `${rs.length}`, meanSeconds(rs)];
    }),
  );
  const init = meanStd(results.map((r) => r.learnerCorrInit), 1, 3);
  const perSeed = [
    "",
    `Learner correlation at initialisation (every run, before training): ${init}.`,
    "",
    "Per seed, Recall@1 (%) / learner correlation:",
    "",
    ...perSeedTable(
      results,
      METHODS,
      SEEDS,
      (r) => `${(100 * r.metrics["recall@1"]).toFixed(2)} / ${r.learnerCorr.toFixed(3)}`,
    ),
  ];
  const commands = [
    "",
    "```sh",
    "# the whole grid (one training process at a time):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/bier.ts",
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
    for await (const r of runMissing(RESULTS, results, cells, (c) => runOne(c.method, c.seed))) {
      console.log(summary(r, `corr ${r.learnerCorr?.toFixed(3)} `));
    }
  }
  await writeTable(REPORT, "BIER on Fashion-MNIST", table(results));
}
