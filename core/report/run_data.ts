/**
 * A run folder as a report reads it: the whole records of `metrics.jsonl` (what a cut-short file
 * lost is counted, not fatal), and `recipe.yaml`, `run.json` and `report/*.json` where present.
 * A folder without any metrics is a DmlError.
 *
 * ```ts
 * const run = await loadRun("runs/quickstart/2025-01-01T10-00-00");
 * run.records.length; run.dropped;   // [17]: line 17 was cut short
 * ```
 */
import { DmlError } from "../errors.ts";
import type { EmbeddingMap, RetrievalExamples, RunInfo } from "./files.ts";
import { parseJsonl } from "./jsonl.ts";
import type { Rec } from "./series.ts";

export interface RunData {
  dir: string;
  /** A short name: the last two parts of the path (`<name>/<time>`). */
  label: string;
  records: Rec[];
  /** Line numbers of metrics.jsonl that were not whole records. */
  dropped: number[];
  recipeYaml: string | null;
  info: RunInfo | null;
  examples: RetrievalExamples | null;
  embedding: EmbeddingMap | null;
  /** Problems with the optional files, for the page and stderr. */
  notes: string[];
}

export async function loadRun(dir: string): Promise<RunData> {
  dir = dir.replace(/\/+$/, "") || "/";
  const stat = await Deno.stat(dir).catch(() => null);
  if (!stat?.isDirectory) throw new DmlError(`${dir}: not a run folder (no such directory)`);
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  });
  if (text === null) throw new DmlError(`${dir}: no metrics (metrics.jsonl is missing; not a run folder?)`);
  const { records, dropped } = parseJsonl(text);
  if (records.length === 0) {
    throw new DmlError(
      `${dir}/metrics.jsonl: no metrics (${dropped.length ? `none of its ${dropped.length} lines is whole` : "empty"})`,
    );
  }
  const notes: string[] = [];
  const optional = async <T>(name: string): Promise<T | null> => {
    const t = await Deno.readTextFile(`${dir}/${name}`).catch(() => null);
    if (t === null) return null;
    try {
      return JSON.parse(t) as T;
    } catch {
      notes.push(`${name} is not valid JSON; left out`);
      return null;
    }
  };
  return {
    dir,
    label: dir.split("/").filter(Boolean).slice(-2).join("/"),
    records,
    dropped,
    recipeYaml: await Deno.readTextFile(`${dir}/recipe.yaml`).catch(() => null),
    info: await optional<RunInfo>("run.json"),
    examples: await optional<RetrievalExamples>("report/examples.json"),
    embedding: await optional<EmbeddingMap>("report/embedding.json"),
    notes,
  };
}

/** The sentence a page and stderr show for a run's dropped lines, or null. */
export function droppedNote(run: RunData): string | null {
  const n = run.dropped.length;
  if (n === 0) return null;
  const lines = run.dropped.slice(0, 5).join(", ") + (n > 5 ? ", …" : "");
  return `${run.dir}/metrics.jsonl: ${n} line${n === 1 ? " was" : "s were"} not whole and ${
    n === 1 ? "was" : "were"
  } dropped (line ${lines}); the report uses the ${run.records.length} whole records`;
}
