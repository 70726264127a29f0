/**
 * What the experiment grids share: one `deno task train` run per cell, results appended to a
 * JSONL file (so a finished cell is never repeated), and the table rewritten between two markers
 * of a Markdown report.
 */

/** The `deno task train` arguments: the recipe, then each override as `--set key=value`. */
export function recipeArgs(recipe: string, sets: string[]): string[] {
  return [recipe, ...sets.flatMap((s) => ["--set", s])];
}

/** The shell line that runs `deno task train` with these arguments (arguments with spaces quoted). */
export function trainCommand(args: string[]): string {
  return `deno task train ${args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}`;
}

/** The records of a JSONL file; none when the file does not exist yet. */
export async function readJsonl<T>(path: string): Promise<T[]> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

export async function appendJsonl(path: string, record: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(record) + "\n", { append: true });
}

export interface TrainRun {
  runDir: string;
  metrics: Record<string, number>;
  /** Wall time of the whole process, start-up and evaluation included. */
  seconds: number;
}

/** Runs one training process (its log on our stderr) and reads the summary line it prints last. */
export async function train(args: string[]): Promise<TrainRun> {
  console.log(trainCommand(args));
  const t0 = performance.now();
  const out = await new Deno.Command("deno", { args: ["task", "-q", "train", ...args], stderr: "inherit" }).output();
  const seconds = (performance.now() - t0) / 1000;
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  if (!out.success) throw new Error(`run failed (exit ${out.code}): ${lines.slice(-3).join(" | ")}`);
  const last = JSON.parse(lines[lines.length - 1]) as { runDir: string; metrics: Record<string, number> };
  return { runDir: last.runDir, metrics: last.metrics, seconds };
}

/**
 * Runs, one at a time, every cell that has no result yet (a result belongs to a cell when it has
 * the cell's values), appending each new result to the JSONL file at `path` and to `results`, and
 * yields it.
 */
export async function* runMissing<C extends object, R extends C>(
  path: string,
  results: R[],
  cells: C[],
  run: (cell: C) => Promise<R>,
): AsyncGenerator<R> {
  for (const cell of cells) {
    const entries = Object.entries(cell) as [keyof R, unknown][];
    if (results.some((r) => entries.every(([k, v]) => r[k] === v))) continue;
    const r = await run(cell);
    results.push(r);
    await appendJsonl(path, r);
    yield r;
  }
}

/** A Markdown table: the header row, the `---` row, then the rows. */
export function markdownTable(header: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)];
}

/** The per-seed table: one row per method, one column per seed, `cell` for each run ("–" for a missing one). */
export function perSeedTable<R extends { method: string; seed: number }>(
  results: R[],
  methods: readonly string[],
  seeds: number[],
  cell: (r: R) => string,
): string[] {
  return markdownTable(
    ["method", ...seeds.map((s) => `seed ${s}`)],
    methods.map((m) => [
      m,
      ...seeds.map((s) => {
        const r = results.find((x) => x.method === m && x.seed === s);
        return r ? cell(r) : "–";
      }),
    ]),
  );
}

/** "mean ± sample std" of `scale · xs`, or "–" when there is nothing to average. */
export function meanStd(xs: number[], scale = 100, digits = 2): string {
  if (xs.length === 0) return "–";
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(scale * mean).toFixed(digits)} ± ${(scale * sd).toFixed(digits)}`;
}

/** The mean wall time of some runs, in whole seconds ("–" for none). */
export function meanSeconds(runs: { seconds: number }[]): string {
  return runs.length ? (runs.reduce((a, r) => a + r.seconds, 0) / runs.length).toFixed(0) : "–";
}

/** The progress line printed after each run. */
export function summary(run: { metrics: Record<string, number>; seconds: number }, extra = ""): string {
  const m = run.metrics;
  return `  recall@1 ${m["recall@1"]?.toFixed(4)} map@r ${m["map@r"]?.toFixed(4)} ${extra}(${
    run.seconds.toFixed(0)
  } s)`;
}

/**
 * Puts `table` between the `<!-- table:start -->` and `<!-- table:end -->` markers of the report
 * (the text around them is kept), creating the report under `title` when it does not exist.
 */
export async function writeTable(report: string, title: string, table: string): Promise<void> {
  const start = "<!-- table:start -->", end = "<!-- table:end -->";
  let doc: string;
  try {
    doc = await Deno.readTextFile(report);
  } catch {
    doc = `# ${title}\n\n${start}\n${end}\n`;
  }
  const i = doc.indexOf(start), j = doc.indexOf(end);
  const body = `${start}\n${table}\n${end}`;
  await Deno.writeTextFile(report, i >= 0 && j > i ? doc.slice(0, i) + body + doc.slice(j + end.length) : doc + body);
}
