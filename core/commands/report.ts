/**
 * `deno task report RUN_DIR... [--out FILE]`: rebuilds one run's `report.html` from its folder
 * (no model needed), or, given several runs, writes one page comparing them (by default
 * `runs/compare-<time>.html`). Prints the page's path; a note about dropped lines goes to stderr.
 * A folder without metrics is a DmlError (one line, exit 2).
 */
import { DmlError } from "../errors.ts";
import { droppedNote, type RunData } from "../report/run_data.ts";
import { writeComparison, writeRunReport } from "../report/write.ts";
import { parseCommandArgs, REPORT_USAGE } from "./usage.ts";

export async function reportCommand(args: string[]): Promise<void> {
  const parsed = parseCommandArgs("report", REPORT_USAGE, {
    args,
    allowPositionals: true,
    options: { out: { type: "string" } },
  });
  const dirs = parsed.positionals;
  const out = parsed.values.out;
  if (dirs.length === 0) throw new DmlError(`report: name at least one run folder (usage: ${REPORT_USAGE})`);
  if (out !== undefined && !out.trim()) throw new DmlError("report: --out needs a file name");
  let path: string, runs: RunData[];
  if (dirs.length === 1) {
    const r = await writeRunReport(dirs[0], out);
    path = r.path, runs = [r.run];
  } else {
    const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\..*$/, "");
    const r = await writeComparison(dirs, out ?? `runs/compare-${stamp}.html`);
    path = r.path, runs = r.runs;
  }
  for (const run of runs) {
    const note = droppedNote(run);
    if (note) console.error(`warning: ${note}`);
    for (const n of run.notes) console.error(`warning: ${run.dir}: ${n}`);
  }
  console.log(path);
}
