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
  return ["recipes/mpn.yaml", ...sets.flatMap((s) => ["--set", s])];
}

async function readResults(): Promise<Result[]> {
  try {
    const text = await Deno.readTextFile(RESULTS);
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Result);
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
  return { method, seed, metrics: last.metrics, seconds, runDir: last.runDir };
}

function stats(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

function meanStd(xs: number[]): string {
  if (xs.length === 0) return "–";
  const { mean, sd } = stats(xs);
  return `${(100 * mean).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;
}

function table(results: Result[]): string {
  const keys = ["recall@1", "recall@2", "recall@4", "recall@8", "map@r"];
  const lines = [
    `| method | ${keys.map((k) => `${k} (%)`).join(" | ")} | seeds | s / run |`,
    `| --- | ${keys.map(() => "---").join(" | ")} | --- | --- |`,
  ];
  for (const m of METHODS) {
    const rs = results.filter((r) => r.method === m);
    const secs = rs.length ? (rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0) : "–";
    const cells = keys.map((k) => meanStd(rs.map((r) => r.metrics[k]).filter((v) => v !== undefined)));
    lines.push(`| ${m} | ${cells.join(" | ")} | ${rs.length} | ${secs} |`);
  }
  const perSeed = [
    "",
    "Per seed, Recall@1 (%):",
    "",
    `| method | ${SEEDS.map((s) => `seed ${s}`).join(" | ")} |`,
    `| --- | ${SEEDS.map(() => "---").join(" | ")} |`,
    ...METHODS.map((m) =>
      `| ${m} | ${
        SEEDS.map((s) => {
          const r = results.find((x) => x.method === m && x.seed === s);
          return r ? (100 * r.metrics["recall@1"]).toFixed(2) : "–";
        }).join(" | ")
      } |`
    ),
  ];
  const commands = [
    "",
    "```sh",
    "# the whole grid (one training process at a time):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/mpn.ts",
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
    doc = `# MPN on Fashion-MNIST\n\n${start}\n${end}\n`;
  }
  const i = doc.indexOf(start), j = doc.indexOf(end);
  const body = `${start}\n${table(results)}\n${end}`;
  await Deno.writeTextFile(REPORT, i >= 0 && j > i ? doc.slice(0, i) + body + doc.slice(j + end.length) : doc + body);
}

if (import.meta.main) {
  const results = await readResults();
  if (!Deno.args.includes("--table")) {
    for (const seed of SEEDS) {
      for (const method of METHODS) {
        if (results.some((r) => r.method === method && r.seed === seed)) continue;
        const r = await runOne(method, seed);
        results.push(r);
        await Deno.writeTextFile(RESULTS, JSON.stringify(r) + "\n", { append: true });
        console.log(
          `  recall@1 ${r.metrics["recall@1"]?.toFixed(4)} map@r ${r.metrics["map@r"]?.toFixed(4)} (${
            r.seconds.toFixed(0)
          } s)`,
        );
      }
    }
  }
  await writeReport(results);
}
