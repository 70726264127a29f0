/**
 * The report of one run: final metrics, training curves (loss per part, learning rate,
 * images/s), evaluation metrics per epoch, the method's own signals (memory drift, cluster
 * sizes, learner correlation), retrieval examples, the embedding map, and how the run ran.
 *
 * ```ts
 * const html = await runPage(await loadRun("runs/quickstart/2025-01-01T10-00-00"));
 * ```
 */
import type { TopLevelSpec } from "vega-lite";
import { lines, panels, scatter, stackedBars } from "./charts.ts";
import type { EmbeddingMap, ExampleItem, RetrievalExamples, RunInfo } from "./files.ts";
import { type Cell, duration, esc, fmt, page, table } from "./page.ts";
import { charts } from "./render.ts";
import { droppedNote, type RunData } from "./run_data.ts";
import { baselines, clusterRows, evalRows, fieldRows, isFraction, lastEval, lossRows, type Row } from "./series.ts";

export async function runPage(run: RunData): Promise<string> {
  const r = run.records;
  const parts: string[] = [`<h1>${esc(run.info?.name ?? run.label)}</h1>`, `<p class="sub">${esc(run.dir)}</p>`];
  for (const w of [droppedNote(run), ...run.notes]) if (w) parts.push(`<p class="warn">${esc(w)}</p>`);
  parts.push(summary(run));

  const last = lastEval(r);
  const base = baselines(r);
  if (last) {
    const keys = Object.keys(last);
    const rows: Cell[][] = [
      ...base.map((b) => [esc(b.name), ...keys.map((k) => fmt(b.metrics[k]))]),
      ["<b>trained network</b>", ...keys.map((k) => `<b>${fmt(last[k])}</b>`)],
    ];
    parts.push(`<h2>Metrics</h2>`, table(["", ...keys.map(esc)], rows));
  } else parts.push(`<h2>Metrics</h2><p class="note">No evaluation yet.</p>`);

  parts.push(
    `<h2>Training</h2>`,
    await charts("train", [
      [
        "loss",
        panels({
          title: "Loss per step, by part",
          rows: lossRows(r),
          x: "step",
          y: "value",
          series: "part",
          yTitle: "loss",
        }),
      ],
      [
        "lr",
        lines({
          title: "Learning rate",
          rows: fieldRows(r, "step", "lr"),
          x: "step",
          y: "value",
          yTitle: "lr",
          yFormat: "~g",
        }),
      ],
      [
        "images-per-sec",
        lines({
          title: "Images/s",
          rows: fieldRows(r, "step", "imagesPerSec"),
          x: "step",
          y: "value",
          yTitle: "images/s",
        }),
      ],
    ]),
  );

  const ev = evalRows(r);
  if (ev.length) parts.push(`<h2>Evaluation per epoch</h2>`, await charts("eval", evalCharts(ev)));

  const method = methodCharts(r);
  if (method.length) parts.push(`<h2>Method</h2>`, await charts("method", method));

  parts.push(`<h2>Retrieval examples</h2>`, examplesHtml(run.examples));
  parts.push(`<h2>Embedding map</h2>`, await mapHtml(run.embedding));
  parts.push(`<h2>Run</h2>`, runInfoHtml(run.info, run.recipeYaml));
  return page(`${run.info?.name ?? run.label} — dml report`, parts.join("\n"));
}

/** Fractions (values in [0, 1], not all whole) share one chart; any other metric (a count) gets its own. */
export function evalCharts(rows: Row[]): Array<[string, TopLevelSpec]> {
  const names = [...new Set(rows.map((x) => x.metric as string))];
  const unit = names.filter((m) => isFraction(rows.filter((x) => x.metric === m).map((x) => +x.value)));
  const other = names.filter((m) => !unit.includes(m));
  const out: Array<[string, TopLevelSpec]> = [];
  if (unit.length) {
    const values = rows.filter((x) => unit.includes(x.metric as string));
    out.push([
      "metrics",
      lines({ title: "Metrics", rows: values, x: "epoch", y: "value", series: "metric", points: true }),
    ]);
  }
  for (const m of other) {
    const values = rows.filter((x) => x.metric === m);
    const yFormat = values.every((x) => Number.isInteger(x.value)) ? "d" : undefined;
    out.push([
      `metric-${m}`,
      lines({ title: m, rows: values, x: "epoch", y: "value", yTitle: m, points: true, yFormat }),
    ]);
  }
  return out;
}

/** Memory drift, divide-and-conquer's cluster sizes, BIER's learner correlation: whichever the run logged. */
function methodCharts(r: RunData["records"]): Array<[string, TopLevelSpec]> {
  const out: Array<[string, TopLevelSpec]> = [];
  const drift = fieldRows(r, "drift", "drift");
  if (drift.length) {
    out.push([
      "drift",
      lines({
        title: "Memory drift (mean cosine distance, stored vs fresh)",
        rows: drift,
        x: "step",
        y: "value",
        yTitle: "drift",
        points: true,
      }),
    ]);
  }
  const clusters = clusterRows(r);
  if (clusters.length) {
    out.push([
      "clusters",
      stackedBars({
        title: "Cluster sizes at each re-clustering",
        rows: clusters,
        x: "step",
        y: "size",
        stack: "cluster",
        xTitle: "step",
        yTitle: "samples",
        stackTitle: "cluster",
      }),
    ]);
  }
  const corr = fieldRows(r, "bier", "learner-corr");
  if (corr.length) {
    out.push([
      "learner-corr",
      lines({
        title: "Correlation between learners (mean |r|)",
        rows: corr,
        x: "step",
        y: "value",
        yTitle: "correlation",
        points: true,
      }),
    ]);
  }
  return out;
}

function examplesHtml(ex: RetrievalExamples | null): string {
  if (!ex) return `<p class="note">Saved when training ends (report/examples.json).</p>`;
  const tile = (it: ExampleItem, cls: string, caption: string, title: string) => {
    const pic = it.image
      ? `<img src="${it.image}" alt="${esc(`${cls} ${it.className}`)}">`
      : `<div class="noimg">${esc(it.className)}</div>`;
    return `<div class="tile ${cls}" title="${esc(title)}">${pic}<div>${caption}</div></div>`;
  };
  const rows = ex.queries.map((q) => {
    const right = q.neighbours.filter((n) => n.correct).length;
    const ns = q.neighbours.map((n, i) =>
      tile(
        n,
        n.correct ? "right" : "wrong",
        `<span class="mark">${n.correct ? "✓" : "✗"}</span> ${esc(n.className)}`,
        `#${i + 1}: item ${n.item}, ${ex.metric === "cosine" ? "cosine" : "distance"} ${n.score.toFixed(4)}`,
      )
    );
    const head = tile(
      q,
      "query",
      `query: ${esc(q.className)}<br>${right}/${q.neighbours.length} right`,
      `item ${q.item}`,
    );
    return `<div class="example">${head}<div class="gap"></div>${ns.join("")}</div>`;
  });
  const k = ex.queries[0]?.neighbours.length ?? 0;
  return `<p class="note">${ex.queries.length} fixed queries (${esc(ex.split)}, ${ex.metric}); their ${k} nearest ` +
    `neighbours, green when of the query's class, red when not.</p><div class="examples">${rows.join("\n")}</div>`;
}

async function mapHtml(m: EmbeddingMap | null): Promise<string> {
  if (!m) return `<p class="note">Saved when training ends (report/embedding.json).</p>`;
  const cls = (i: number) => m.classNames[m.labels[i]] ?? String(m.labels[i]);
  const toRows = (pts: number[]) => m.labels.map((_, i) => ({ x: pts[2 * i], y: pts[2 * i + 1], class: cls(i) }));
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const specs: Array<[string, TopLevelSpec]> = [[
    "pca",
    scatter({
      title: "PCA",
      rows: toRows(m.pca.points),
      x: "x",
      y: "y",
      color: "class",
      colorTitle: "class",
      xTitle: `PC1 (${pct(m.pca.explained[0])} of variance)`,
      yTitle: `PC2 (${pct(m.pca.explained[1])})`,
      classes: m.classNames,
    }),
  ]];
  if ("points" in m.umap) {
    specs.push([
      "umap",
      scatter({
        title: "UMAP",
        rows: toRows(m.umap.points),
        x: "x",
        y: "y",
        color: "class",
        colorTitle: "class",
        xTitle: "UMAP 1",
        yTitle: "UMAP 2",
        classes: m.classNames,
      }),
    ]);
  }
  const note = `<p class="note">${m.items.length} of the ${m.total} ${esc(m.split)} embeddings (a fixed seeded ` +
    `sample), coloured by class${"error" in m.umap ? `; no UMAP: ${esc(m.umap.error)}` : ""}.</p>`;
  return note + await charts("map", specs);
}

function summary(run: RunData): string {
  const i = run.info;
  const steps = run.records.filter((x) => x.type === "step").map((x) => Number(x.step));
  const facts = [
    i ? `backend <b>${esc(i.backend.backend)}</b>${i.backend.adapter ? ` (${esc(i.backend.adapter)})` : ""}` : "",
    i ? `seed ${i.seed}` : "",
    steps.length ? `${steps.reduce((a, b) => Math.max(a, b))} steps` : "", // a loop: a spread overflows the stack
    i
      ? `wall time ${duration(i.wallSeconds)}${
        i.sessions.some((s) => !s.finished) ? " (unfinished: still running, or stopped)" : ""
      }${i.sessions.at(-1)?.failed ? ` · <b>failed</b>: ${esc(i.sessions.at(-1)!.failed!)}` : ""}`
      : "",
  ].filter(Boolean);
  return facts.length ? `<p>${facts.join(" · ")}</p>` : "";
}

function runInfoHtml(i: RunInfo | null, yaml: string | null): string {
  const out: string[] = [];
  if (i) {
    out.push(
      `<div class="info">`,
      table(["", ""], [
        ["backend", esc(`${i.backend.backend}: ${i.backend.reason}`)],
        ...(i.backend.adapter ? [["GPU adapter", esc(i.backend.adapter)]] : []),
        ["seed", String(i.seed)],
        ["versions", esc(Object.entries(i.versions).map(([k, v]) => `${k} ${v}`).join(", "))],
        ["wall time", esc(duration(i.wallSeconds))],
        ...i.sessions.map((s, k) => [
          `session ${k + 1}`,
          esc(
            `${s.started} → ${s.finished ?? "running"}, steps ${s.fromStep} → ${s.toStep ?? "…"}${
              s.seconds !== undefined ? `, ${duration(s.seconds)}` : ""
            }${s.failed ? `, failed: ${s.failed}` : ""}`,
          ),
        ]),
      ]),
      "</div>",
    );
  } else out.push(`<p class="note">No run.json.</p>`);
  if (yaml) out.push(`<h3>Resolved recipe</h3><pre>${esc(yaml)}</pre>`);
  return out.join("\n");
}
