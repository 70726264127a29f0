/**
 * The divide-and-conquer experiment: recipes/divide-conquer.yaml with K ∈ {1, 2, 4, 6} clusters,
 * 3 seeds each, one training process at a time. Prints a markdown table of mean ± sample std of
 * the final Recall@K and MAP@R, and writes every run's final metrics to
 * docs/results/divide_conquer_runs.json.
 *
 * ```sh
 * deno run -A docs/results/divide_conquer_grid.ts                # the grid of docs/results/divide_conquer.md
 * deno run -A docs/results/divide_conquer_grid.ts 1,4 0,1        # K list, seed list
 * ```
 */
const ks = (Deno.args[0] ?? "1,2,4,6").split(",").map(Number);
const seeds = (Deno.args[1] ?? "0,1,2").split(",").map(Number);
const extra = Deno.args.slice(2); // further --set values, e.g. train.maxSteps=50

type Metrics = Record<string, number>;
const runs: { k: number; seed: number; runDir: string; seconds: number; metrics: Metrics }[] = [];

for (const k of ks) {
  for (const seed of seeds) {
    const sets = [`sampler.clusters=${k}`, `seed=${seed}`, "output=runs/dnc-grid", ...extra];
    const args = ["task", "-q", "train", "recipes/divide-conquer.yaml", ...sets.flatMap((s) => ["--set", s])];
    const t0 = performance.now();
    const out = await new Deno.Command("deno", { args, stdout: "piped", stderr: "inherit" }).output();
    const seconds = (performance.now() - t0) / 1000;
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    if (!out.success) throw new Error(`K=${k} seed=${seed} failed:\n${lines.slice(-5).join("\n")}`);
    const last = JSON.parse(lines.at(-1)!) as { runDir: string; metrics: Metrics };
    runs.push({ k, seed, runDir: last.runDir, seconds, metrics: last.metrics });
    console.error(`K=${k} seed=${seed}: ${JSON.stringify(last.metrics)} (${seconds.toFixed(0)} s)`);
  }
}
await Deno.writeTextFile("docs/results/divide_conquer_runs.json", JSON.stringify(runs, null, 1) + "\n");

const keys = Object.keys(runs[0].metrics).filter((m) => m.startsWith("recall@") || m === "map@r");
const meanStd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const s = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * m).toFixed(1)} ± ${(100 * s).toFixed(1)}`;
};
console.log(`| K | ${keys.join(" | ")} | s / run |`);
console.log(`|---|${keys.map(() => "---").join("|")}|---|`);
for (const k of ks) {
  const rs = runs.filter((r) => r.k === k);
  const secs = rs.reduce((a, r) => a + r.seconds, 0) / rs.length;
  console.log(`| ${k} | ${keys.map((m) => meanStd(rs.map((r) => r.metrics[m]))).join(" | ")} | ${secs.toFixed(0)} |`);
}
