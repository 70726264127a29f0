/**
 * One page comparing several runs: their final metrics side by side (the metrics every evaluated
 * run has; the others are named, not compared) and their curves overlaid, one colour per run.
 *
 * ```ts
 * const html = await comparisonPage(await Promise.all(dirs.map(loadRun)));
 * ```
 */
import type { TopLevelSpec } from "vega-lite";
import { lines } from "./charts.ts";
import { type Cell, duration, esc, fmt, page, table } from "./page.ts";
import { charts } from "./render.ts";
import { droppedNote, type RunData } from "./run_data.ts";
import { evalRows, fieldRows, isFraction, lastEval, type Rec, type Row } from "./series.ts";

export interface SharedMetrics {
  /** Metrics of the last evaluation of every run that has one, in the first such run's order. */
  shared: string[];
  /** Metrics that only some runs have, with those runs' labels. */
  partial: Array<{ metric: string; runs: string[] }>;
  /** Runs without any evaluation. */
  unevaluated: string[];
}

export function sharedMetrics(runs: Array<{ label: string; records: Rec[] }>): SharedMetrics {
  const evaluated = runs.map((r) => ({ label: r.label, last: lastEval(r.records) }));
  const withEval = evaluated.filter((r) => r.last !== null) as Array<{ label: string; last: Record<string, number> }>;
  const all: string[] = [];
  for (const r of withEval) for (const k of Object.keys(r.last)) if (!all.includes(k)) all.push(k);
  const holders = (k: string) => withEval.filter((r) => k in r.last).map((r) => r.label);
  return {
    shared: all.filter((k) => holders(k).length === withEval.length),
    partial: all.filter((k) => holders(k).length < withEval.length).map((k) => ({ metric: k, runs: holders(k) })),
    unevaluated: evaluated.filter((r) => r.last === null).map((r) => r.label),
  };
}

/** Distinct labels: a repeated one gets " #2", " #3". */
export function distinctLabels(runs: RunData[]): RunData[] {
  const seen = new Map<string, number>();
  return runs.map((r) => {
    const n = (seen.get(r.label) ?? 0) + 1;
    seen.set(r.label, n);
    return n === 1 ? r : { ...r, label: `${r.label} #${n}` };
  });
}

export async function comparisonPage(input: RunData[]): Promise<string> {
  const runs = distinctLabels(input);
  const parts = [`<h1>Comparing ${runs.length} runs</h1>`];
  for (const r of runs) {
    for (const w of [droppedNote(r), ...r.notes.map((n) => `${r.dir}: ${n}`)]) {
      if (w) parts.push(`<p class="warn">${esc(w)}</p>`);
    }
  }
  parts.push(`<h2>Runs</h2>`, runsTable(runs));

  const s = sharedMetrics(runs);
  parts.push(`<h2>Final metrics</h2>`);
  if (s.shared.length) {
    const lasts = runs.map((r) => lastEval(r.records));
    const best = (k: string) => Math.max(...lasts.map((l) => l?.[k] ?? -Infinity));
    // Higher is better for fractions (recall, MAP@R, NMI); counts are not ranked.
    const ranked = (k: string) => isFraction(lasts.flatMap((l) => (l ? [l[k]] : [])));
    const rows: Cell[][] = runs.filter((_, i) => lasts[i]).map((r) => {
      const l = lastEval(r.records)!;
      return [
        esc(r.label),
        ...s.shared.map((
          k,
        ) => (ranked(k) && l[k] === best(k) && runs.length > 1 ? { html: fmt(l[k]), class: "best" } : fmt(l[k]))),
      ];
    });
    parts.push(table(["run", ...s.shared.map(esc)], rows));
  } else parts.push(`<p class="note">The runs share no evaluation metric.</p>`);
  const byHolders = Map.groupBy(s.partial, (p) => p.runs.join(", "));
  for (const [holders, ms] of byHolders) {
    parts.push(
      `<p class="note">Only in ${esc(holders)}, so not compared: ${esc(ms.map((m) => m.metric).join(", "))}.</p>`,
    );
  }
  if (s.unevaluated.length) parts.push(`<p class="note">Not evaluated yet: ${esc(s.unevaluated.join(", "))}.</p>`);

  const byRun = (rowsOf: (r: RunData) => Row[]): Row[] =>
    runs.flatMap((r) => rowsOf(r).map((x) => ({ ...x, run: r.label })));
  const over = (
    title: string,
    rows: Row[],
    x: string,
    yTitle: string,
    points = false,
    yFormat?: string,
  ): TopLevelSpec => lines({ title, rows, x, y: "value", series: "run", yTitle, points, yFormat, legend: "bottom" });
  parts.push(
    `<h2>Training</h2>`,
    await charts("train", [
      ["loss", over("Loss per step", byRun((r) => fieldRows(r.records, "step", "loss")), "step", "loss")],
      ["lr", over("Learning rate", byRun((r) => fieldRows(r.records, "step", "lr")), "step", "lr", false, "~g")],
      [
        "images-per-sec",
        over("Images/s", byRun((r) => fieldRows(r.records, "step", "imagesPerSec")), "step", "images/s"),
      ],
    ]),
  );
  if (s.shared.length) {
    const ev = byRun((r) => evalRows(r.records));
    parts.push(
      `<h2>Evaluation per epoch</h2>`,
      await charts(
        "eval",
        s.shared.map((k) => [`metric-${k}`, over(k, ev.filter((x) => x.metric === k), "epoch", k, true)]),
      ),
    );
  }
  return page(`dml: comparing ${runs.length} runs`, parts.join("\n"));
}

function runsTable(runs: RunData[]): string {
  return table(
    ["run", "recipe", "backend", "seed", "steps", "wall time", "folder"],
    runs.map((r) => {
      const steps = r.records.filter((x) => x.type === "step").map((x) => Number(x.step));
      return [
        esc(r.label),
        esc(r.info?.name ?? "–"),
        esc(r.info?.backend.backend ?? "–"),
        r.info ? String(r.info.seed) : "–",
        steps.length ? String(steps.reduce((a, b) => Math.max(a, b))) : "0", // a spread overflows past ~120k steps
        r.info ? esc(duration(r.info.wallSeconds)) : "–",
        esc(r.dir),
      ];
    }),
  );
}
