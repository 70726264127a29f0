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
  const sets = [
    `seed=${seed}`,
    "train.backend=wasm",
    "train.checkpoint=false",
    "eval.every=0",
    "output=runs/bier-grid",
    ...OVERRIDES[method],
  ];
  return ["recipes/bier.yaml", ...sets.flatMap((s) => ["--set", s])];
}

async function readJsonl<T>(path: string): Promise<T[]> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

async function runOne(method: Method, seed: number): Promise<Result> {
  const args = trainArgs(method, seed);
  console.log(`deno task train ${args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}`);
  const t0 = performance.now();
  const out = await new Deno.Command("deno", { args: ["task", "-q", "train", ...args], stderr: "inherit" }).output();
  const seconds = (performance.now() - t0) / 1000;
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) throw new Error(`run failed (exit ${out.code}): ${lines.slice(-3).join(" | ")}`);
  const last = JSON.parse(lines[lines.length - 1]) as { runDir: string; metrics: Record<string, number> };
  const records = await readJsonl<Record<string, unknown>>(`${last.runDir}/metrics.jsonl`);
  const corr = records.filter((r) => r.type === "bier").map((r) => r["learner-corr"] as number);
  return {
    method,
    seed,
    metrics: last.metrics,
    learnerCorr: corr[corr.length - 1],
    learnerCorrInit: corr[0],
    seconds,
    runDir: last.runDir,
  };
}

function meanStd(xs: number[], scale = 100, digits = 2): string {
  if (xs.length === 0) return "–";
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(scale * mean).toFixed(digits)} ± ${(scale * sd).toFixed(digits)}`;
}

function table(results: Result[]): string {
  const keys = ["recall@1", "recall@2", "recall@4", "recall@8", "map@r"];
  const lines = [
    `| method | ${keys.map((k) => `${k} (%)`).join(" | ")} | learner corr. | seeds | s / run |`,
    `| --- | ${keys.map(() => "---").join(" | ")} | --- | --- | --- |`,
  ];
  for (const m of METHODS) {
    const rs = results.filter((r) => r.method === m);
    const secs = rs.length ? (rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0) : "–";
    const cells = keys.map((k) => meanStd(rs.map((r) => r.metrics[k]).filter((v) => v !== undefined)));
    const corr = meanStd(rs.map((r) => r.learnerCorr), 1, 3);
    lines.push(`| ${m} | ${cells.join(" | ")} | ${corr} | ${rs.length} | ${secs} |`);
  }
  const init = meanStd(results.map((r) => r.learnerCorrInit), 1, 3);
  const perSeed = [
    "",
    `Learner correlation at initialisation (every run, before training): ${init}.`,
    "",
    "Per seed, Recall@1 (%) / learner correlation:",
    "",
    `| method | ${SEEDS.map((s) => `seed ${s}`).join(" | ")} |`,
    `| --- | ${SEEDS.map(() => "---").join(" | ")} |`,
    ...METHODS.map((m) =>
      `| ${m} | ${
        SEEDS.map((s) => {
          const r = results.find((x) => x.method === m && x.seed === s);
          return r ? `${(100 * r.metrics["recall@1"]).toFixed(2)} / ${r.learnerCorr.toFixed(3)}` : "–";
        }).join(" | ")
      } |`
    ),
  ];
  const commands = [
    "",
    "```sh",
    "# the whole grid (one training process at a time):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/bier.ts",
    "# one cell by hand, e.g. seed 1 of each method:",
    ...METHODS.map((m) => `deno task train ${trainArgs(m, 1).map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}`),
    "```",
  ];
  return [...lines, ...perSeed, ...commands].join("\n");
}

async function writeReport(results: Result[]): Promise<void> {
  const start = "<!-- table:start -->", end = "<!-- table:end -->";
  let doc: string;
  try {
    doc = await Deno.readTextFile(REPORT);
  } catch {
    doc = `# BIER on Fashion-MNIST\n\n${start}\n${end}\n`;
  }
  const i = doc.indexOf(start), j = doc.indexOf(end);
  const body = `${start}\n${table(results)}\n${end}`;
  await Deno.writeTextFile(REPORT, i >= 0 && j > i ? doc.slice(0, i) + body + doc.slice(j + end.length) : doc + body);
}

if (import.meta.main) {
  const results = await readJsonl<Result>(RESULTS);
  if (!Deno.args.includes("--table")) {
    for (const seed of SEEDS) {
      for (const method of METHODS) {
        if (results.some((r) => r.method === method && r.seed === seed)) continue;
        const r = await runOne(method, seed);
        results.push(r);
        await Deno.writeTextFile(RESULTS, JSON.stringify(r) + "\n", { append: true });
        console.log(
          `  recall@1 ${r.metrics["recall@1"]?.toFixed(4)} map@r ${r.metrics["map@r"]?.toFixed(4)} ` +
            `corr ${r.learnerCorr?.toFixed(3)} (${r.seconds.toFixed(0)} s)`,
        );
      }
    }
  }
  await writeReport(results);
}
