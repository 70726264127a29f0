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
    return [
      "recipes/xbm.yaml",
      ...[...sets, "train.backend=wasm", "train.checkpoint=false", "output=runs/xbm-xbn-grid"]
        .flatMap((s) => ["--set", s]),
    ];
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
  return [recipe, ...sets.flatMap((s) => ["--set", s])];
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

async function runOne(method: Method, batch: number, seed: number): Promise<Result> {
  const args = trainArgs(method, batch, seed);
  console.log(`deno task train ${args.join(" ")}`);
  const t0 = performance.now();
  const out = await new Deno.Command("deno", { args: ["task", "-q", "train", ...args], stderr: "inherit" }).output();
  const seconds = (performance.now() - t0) / 1000;
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) throw new Error(`run failed (exit ${out.code}): ${lines.slice(-3).join(" | ")}`);
  const last = JSON.parse(lines[lines.length - 1]) as { runDir: string; metrics: Record<string, number> };
  let metrics = last.metrics;
  if (method === "untrained") {
    // The untrained network's metrics are the run's "untrained" baseline record.
    const records = (await Deno.readTextFile(`${last.runDir}/metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const { type: _t, name: _n, ...m } = records.find((r) => r.type === "baseline" && r.name === "untrained");
    metrics = m;
  }
  return { method, batch, seed, metrics, seconds, runDir: last.runDir };
}

function meanStd(xs: number[]): string {
  if (xs.length === 0) return "–";
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * m).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;
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
  const lines = [
    "| B | steps | method | Recall@1 (%) | MAP@R (%) | runs | s / run |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const b of BATCHES) {
    for (const m of METHODS) {
      const rs = results.filter((r) => r.batch === b && r.method === m);
      const secs = rs.length ? (rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0) : "–";
      lines.push(
        `| ${b} | ${IMAGES / b} | ${m} | ${meanStd(rs.map((r) => r.metrics["recall@1"]))} | ${
          meanStd(rs.map((r) => r.metrics["map@r"]))
        } | ${rs.length} | ${secs} |`,
      );
    }
  }
  const untrained = results.filter((r) => r.method === "untrained");
  if (untrained.length) {
    lines.push(
      `| – | 0 | untrained network | ${meanStd(untrained.map((r) => r.metrics["recall@1"]))} | ${
        meanStd(untrained.map((r) => r.metrics["map@r"]))
      } | ${untrained.length} | – |`,
    );
  }
  const pairs: [Method, Method][] = [["xbm", "none"], ["xbn", "none"], ["xbn", "xbm"], ["axbn", "xbn"]];
  lines.push(
    "",
    "Paired differences over seeds (percentage points, mean ± std of the per-seed difference):",
    "",
    `| B | ${pairs.map(([a, b]) => `${a} − ${b} R@1 | ${a} − ${b} MAP@R`).join(" | ")} |`,
    `| --- | ${pairs.map(() => "--- | ---").join(" | ")} |`,
    ...BATCHES.map((b) =>
      `| ${b} | ${
        pairs.map(([x, y]) => `${pairedDiff(results, b, x, y, "recall@1")} | ${pairedDiff(results, b, x, y, "map@r")}`)
          .join(" | ")
      } |`
    ),
  );
  const seeds = SEEDS.join(" ");
  const commands = [
    "```sh",
    "# the whole grid (one training process at a time; ~15 minutes on 2 busy CPU cores):",
    "deno run --allow-read --allow-write --allow-run --allow-env experiments/xbm_xbn.ts",
    `# one cell, e.g. XBN at B = 16 (perClass = B / 4, maxSteps = ${IMAGES} / B, memory.start = ${WARMUP_IMAGES} / B):`,
    `for s in ${seeds}; do deno task train ${trainArgs("xbn", 16, 0).join(" ").replace("seed=0", "seed=$s")}; done`,
    "# no memory: the XBM recipe without its memory section",
    `deno task train ${trainArgs("none", 16, 0).join(" ")}`,
    "# the untrained network (one step, then the baselines; read from the run's metrics.jsonl)",
    `deno task train ${trainArgs("untrained", 16, 0).join(" ")}`,
    "```",
  ];
  return [...lines, "", ...commands].join("\n");
}

async function writeReport(results: Result[]): Promise<void> {
  const start = "<!-- table:start -->", end = "<!-- table:end -->";
  let doc: string;
  try {
    doc = await Deno.readTextFile(REPORT);
  } catch {
    doc = `# XBM vs XBN vs AXBN on Fashion-MNIST\n\n${start}\n${end}\n`;
  }
  const i = doc.indexOf(start), j = doc.indexOf(end);
  const body = `${start}\n${table(results)}\n${end}`;
  await Deno.writeTextFile(REPORT, i >= 0 && j > i ? doc.slice(0, i) + body + doc.slice(j + end.length) : doc + body);
}

if (import.meta.main) {
  const results = await readResults();
  if (!Deno.args.includes("--table")) {
    for (const seed of SEEDS) {
      if (!results.some((r) => r.method === "untrained" && r.seed === seed)) {
        const r = await runOne("untrained", 0, seed);
        results.push(r);
        await Deno.writeTextFile(RESULTS, JSON.stringify(r) + "\n", { append: true });
      }
      for (const batch of BATCHES) {
        for (const method of METHODS) {
          if (results.some((r) => r.method === method && r.batch === batch && r.seed === seed)) continue;
          const r = await runOne(method, batch, seed);
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
  }
  await writeReport(results);
}
