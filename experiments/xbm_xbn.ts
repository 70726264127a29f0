/**
 * The Fashion-MNIST memory comparison: no memory, XBM, XBN and AXBN with the same loss, at batch
 * sizes 16, 32 and 64, three seeds each. Every run is one `deno task train` of the shipped recipes
 * (`recipes/xbm.yaml`, `xbn.yaml`, `axbn.yaml`; "none" is `xbm.yaml` with `--set memory=null`), with
 * the same number of training images at every batch size (steps = images / B) and the memory
 * switched on after the same number of images; on the wasm backend, without checkpoints.
 *
 * Runs one training process at a time, appends each result to `docs/results/xbm_xbn.jsonl`
 * (a run already there is not repeated) and rewrites the table in `docs/results/xbm_xbn.md`.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/xbm_xbn.ts            # the grid
 * deno run --allow-read --allow-write --allow-run --allow-env experiments/xbm_xbn.ts --table    # table only
 * ```
 */

import {
  markdownTable,
  meanSeconds,
  meanStd,
  readJsonl,
  recipeArgs,
  runMissing,
  summary,
  train,
  trainCommand,
  writeTable,
} from "./grid.ts";

const BATCHES = [16, 32, 64];
const METHODS = ["none", "xbm", "xbn", "axbn"] as const;
const SEEDS = [0, 1, 2];
/** Training images per run, the same at every batch size. */
const IMAGES = 3200;
/** Images before the memory is switched on (a short warm-up), the same at every batch size. */
const WARMUP_IMAGES = 384;
const RESULTS = "docs/results/xbm_xbn.jsonl";
const REPORT = "docs/results/xbm_xbn.md";

type Method = typeof METHODS[number] | "untrained";
interface Result {
  method: Method;
  batch: number;
  seed: number;
  metrics: Record<string, number>;
  seconds: number;
  runDir: string;
}

/** The `deno task train` arguments of one run ("untrained": one step, then the baselines). */
function trainArgs(method: Method, batch: number, seed: number): string[] {
  if (method === "untrained") {
    const sets = [`seed=${seed}`, "memory=null", "name=fashion-untrained", "train.maxSteps=1", "eval.baselines=true"];
    return recipeArgs("recipes/xbm.yaml", [
      ...sets,
      "train.backend=wasm",
      "train.checkpoint=false",
      "output=runs/xbm-xbn-grid",
    ]);
  }
  const recipe = method === "none" ? "recipes/xbm.yaml" : `recipes/${method}.yaml`;
  const sets = [
    `seed=${seed}`,
    `sampler.perClass=${batch / 4}`,
    `train.maxSteps=${IMAGES / batch}`,
    "train.backend=wasm",
    "train.checkpoint=false",
    "output=runs/xbm-xbn-grid",
    ...(method === "none" ? ["memory=null", "name=fashion-no-memory"] : [`memory.start=${WARMUP_IMAGES / batch}`]),
  ];
  return recipeArgs(recipe, sets);
}

async function runOne(method: Method, batch: number, seed: number): Promise<Result> {
  const { runDir, metrics, seconds } = await train(trainArgs(method, batch, seed));
  if (method !== "untrained") return { method, batch, seed, metrics, seconds, runDir };
  // The untrained network's metrics are the run's "untrained" baseline record.
  const records = await readJsonl<Record<string, unknown>>(`${runDir}/metrics.jsonl`);
  const { type: _t, name: _n, ...baseline } = records.find((r) => r.type === "baseline" && r.name === "untrained")!;
  return { method, batch, seed, metrics: baseline as Record<string, number>, seconds, runDir };
}

/** Mean ± std over seeds of the per-seed difference a − b (same seed: same init, batches, augmentation). */
function pairedDiff(results: Result[], batch: number, a: Method, b: Method, key: string): string {
  const diffs = SEEDS.flatMap((seed) => {
    const ra = results.find((r) => r.batch === batch && r.method === a && r.seed === seed);
    const rb = results.find((r) => r.batch === batch && r.method === b && r.seed === seed);
    return ra && rb ? [ra.metrics[key] - rb.metrics[key]] : [];
  });
  const s = meanStd(diffs);
  return s.startsWith("-") || s === "–" ? s : `+${s}`;
}

function table(results: Result[]): string {
  const metricCells = (rs: Result[]) => [
    meanStd(rs.map((r) => r.metrics["recall@1"])),
    meanStd(rs.map((r) => r.metrics["map@r"])),
    `${rs.length}`,
  ];
  const rows = BATCHES.flatMap((b) =>
    METHODS.map((m) => {
      const rs = results.filter((r) => r.batch === b && r.method === m);
      return [`${b}`, `${IMAGES / b}`, m, ...metricCells(rs), meanSeconds(rs)];
    })
  );
  const untrained = results.filter((r) => r.method === "untrained");
  if (untrained.length) rows.push(["–", "0", "untrained network", ...metricCells(untrained), "–"]);
  const lines = markdownTable(["B", "steps", "method", "Recall@1 (%)", "MAP@R (%)", "runs", "s / run"], rows);
  const pairs: [Method, Method][] = [["xbm", "none"], ["xbn", "none"], ["xbn", "xbm"], ["axbn", "xbn"]];
  lines.push(
    "",
    "Paired differences over seeds (percentage points, mean ± std of the per-seed difference):",
    "",
    ...markdownTable(
      ["B", ...pairs.flatMap(([a, b]) => [`${a} − ${b} R@1`, `${a} − ${b} MAP@R`])],
      BATCHES.map((b) => [
        `${b}`,
        ...pairs.flatMap(([x, y]) => [pairedDiff(results, b, x, y, "recall@1"), pairedDiff(results, b, x, y, "map@r")]),
      ]),
    ),
  );
  const seeds = SEEDS.join(" ");
  const commands = [
    "```sh",
    "# the whole grid (one training process at a time; ~15 minutes on 2 busy CPU cores):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/xbm_xbn.ts",
    `# one cell, e.g. XBN at B = 16 (perClass = B / 4, maxSteps = ${IMAGES} / B, memory.start = ${WARMUP_IMAGES} / B):`,
    `for s in ${seeds}; do ${trainCommand(trainArgs("xbn", 16, 0)).replace("seed=0", "seed=$s")}; done`,
    "# no memory: the XBM recipe without its memory section",
    trainCommand(trainArgs("none", 16, 0)),
    "# the untrained network (one step, then the baselines; read from the run's metrics.jsonl)",
    trainCommand(trainArgs("untrained", 16, 0)),
    "```",
  ];
  return [...lines, "", ...commands].join("\n");
}

if (import.meta.main) {
  const results = await readJsonl<Result>(RESULTS);
  if (!Deno.args.includes("--table")) {
    // Per seed: the untrained network (batch 0), then every batch size and method.
    const cells = SEEDS.flatMap((seed) => [
      { method: "untrained" as Method, batch: 0, seed },
      ...BATCHES.flatMap((batch) => METHODS.map((method) => ({ method: method as Method, batch, seed }))),
    ]);
    for await (const r of runMissing(RESULTS, results, cells, (c) => runOne(c.method, c.batch, c.seed))) {
      if (r.method !== "untrained") console.log(summary(r));
    }
  }
  await writeTable(REPORT, "XBM vs XBN vs AXBN on Fashion-MNIST", table(results));
}
