/**
 * Writing report pages: a run's own `report.html`, or one page comparing runs. Each page is
 * written to a temporary file and renamed into place, so a reader never sees half a page.
 *
 * ```ts
 * await writeRunReport("runs/quickstart/2025-01-01T10-00-00");   // -> …/report.html
 * await writeComparison(["runs/a/1", "runs/b/1"], "runs/compare.html");
 * ```
 */
import { DmlError } from "../errors.ts";
import { comparisonPage } from "./compare.ts";
import { loadRun, type RunData } from "./run_data.ts";
import { runPage } from "./single.ts";

/** Rebuilds the run's report at `<dir>/report.html`, or at `out`. */
export async function writeRunReport(dir: string, out?: string): Promise<{ path: string; run: RunData }> {
  const run = await loadRun(dir);
  const path = out ?? `${run.dir}/report.html`;
  await writeAtomically(path, await runPage(run));
  return { path, run };
}

/** One page comparing the runs in `dirs`, at `out`. */
export async function writeComparison(dirs: string[], out: string): Promise<{ path: string; runs: RunData[] }> {
  const runs: RunData[] = [];
  for (const d of dirs) runs.push(await loadRun(d));
  await writeAtomically(out, await comparisonPage(runs));
  return { path: out, runs };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    if (parent) await Deno.mkdir(parent, { recursive: true });
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new DmlError(
        `report: not allowed to write '${path}' (the report task writes under runs/ only; give --out runs/… or run deno with --allow-write=${path})`,
      );
    }
    throw e;
  }
}
