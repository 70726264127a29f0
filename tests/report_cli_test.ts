/**
 * Run reports end to end on the toy fixture: what training leaves in the run folder (run.json,
 * report data, report.html), and `deno task report` — rebuilding a run's page without the model,
 * comparing runs, and bad input (no metrics, a cut-short metrics.jsonl, runs with different
 * metrics, a page it may not write) — through the real CLI in a subprocess.
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { EmbeddingMap, RetrievalExamples, RunInfo } from "../core/report/files.ts";
import { assertOneLineError as oneLine, ROOT, runCli } from "./cli_process.ts";

const FIXTURES = `${ROOT}tests/fixtures/`;

async function toyRun(out: string, sets: string[] = [], resumeDir?: string): Promise<string> {
  const registry = createRegistry();
  const raw = await loadRecipe(resumeDir ? `${resumeDir}/recipe.yaml` : `${FIXTURES}toy.yaml`, [
    `output=${out}`,
    ...sets,
  ]);
  return (await train(await resolveRecipe(raw, registry, FIXTURES), registry, { quiet: true, resumeDir })).runDir;
}

/** The CLI with the report task's permissions (or all, with `all`). */
async function report(cwd: string, args: string[], all = false) {
  const perms = all ? ["-A"] : ["--allow-read", "--allow-env", "--allow-sys", "--allow-write=runs"];
  const r = await runCli(cwd, perms, ["report", ...args]);
  return { ...r, stdout: r.stdout.trim() };
}

const json = async <T>(path: string) => JSON.parse(await Deno.readTextFile(path)) as T;

Deno.test("training writes run.json, the report's data and a self-contained report.html", async () => {
  const out = await Deno.makeTempDir();
  const dir = await toyRun(out, ["train.epochs=1"]);
  const first = await json<RunInfo>(`${dir}/run.json`);
  const resumed = await toyRun(out, ["train.epochs=2"], dir);
  assertEquals(resumed, dir);
  const info = await json<RunInfo>(`${dir}/run.json`);
  assertEquals([info.name, info.seed, info.backend.backend], ["toy", 3, "cpu"]);
  assertEquals((info.recipe.loss as { use: string }).use, "toy-contrastive");
  assertEquals([info.versions.deno, info.versions.v8, info.versions.tfjs], [
    Deno.version.deno,
    Deno.version.v8,
    "4.22.0",
  ]);
  assertEquals(info.sessions.map((s) => [s.fromStep, s.toStep]), [[0, 6], [6, 12]]);
  assertEquals(info.sessions[0], first.sessions[0]);
  ok(Math.abs(info.wallSeconds - info.sessions[0].seconds! - info.sessions[1].seconds!) < 1e-9 && info.wallSeconds > 0);

  const ex = await json<RetrievalExamples>(`${dir}/report/examples.json`);
  assertEquals([ex.split, ex.metric, ex.queries.length], ["test", "cosine", 8]);
  for (const q of ex.queries) {
    assertEquals(q.neighbours.length, 8);
    ok(q.neighbours.every((n) => n.item !== q.item && n.correct === (n.label === q.label)));
    ok(q.neighbours.every((n, i) => i === 0 || n.score <= q.neighbours[i - 1].score), "best first");
    assertEquals(q.image, null); // toy vectors are not images
  }
  const map = await json<EmbeddingMap>(`${dir}/report/embedding.json`);
  assertEquals([map.total, map.items.length, map.pca.points.length], [48, 48, 96]);
  ok("points" in map.umap);

  const html = await Deno.readTextFile(`${dir}/report.html`);
  for (const section of ["Metrics", "Training", "Evaluation per epoch", "Retrieval examples", "Embedding map", "Run"]) {
    match(html, new RegExp(`<h2>${section}</h2>`));
  }
  for (const chart of ["loss", "lr", "images-per-sec", "metrics", "pca", "umap"]) {
    match(html, new RegExp(`<figure class="chart" data-chart="${chart}"><svg`));
  }
  assertEquals((html.match(/class="tile (right|wrong)"/g) ?? []).length, 64);
  match(html, /session 2/);
  ok(!/(src|href)="(https?:)?\/\//.test(html), "the page fetches nothing");

  // Rebuilt from the folder alone, the page is the same.
  const r = await report(ROOT, [dir], true);
  assertEquals([r.code, r.stdout, r.stderr], [0, `${dir}/report.html`, ""]);
  assertEquals(await Deno.readTextFile(`${dir}/report.html`), html);
});

Deno.test("report: bad input is one line and exit 2", async () => {
  const ws = await Deno.makeTempDir();
  await Deno.mkdir(`${ws}/runs/empty`, { recursive: true });
  await Deno.mkdir(`${ws}/runs/blank`, { recursive: true });
  await Deno.writeTextFile(`${ws}/runs/blank/metrics.jsonl`, "\n");
  await Deno.mkdir(`${ws}/runs/cut`, { recursive: true });
  await Deno.writeTextFile(`${ws}/runs/cut/metrics.jsonl`, `{"type":"step","st`);
  oneLine(await report(ws, []), /^error: report: name at least one run folder \(usage: deno task report/);
  oneLine(await report(ws, ["runs/nope"]), /^error: runs\/nope: not a run folder \(no such directory\)$/);
  oneLine(
    await report(ws, ["runs/empty"]),
    /^error: runs\/empty: no metrics \(metrics.jsonl is missing; not a run folder\?\)$/,
  );
  oneLine(await report(ws, ["runs/blank"]), /^error: runs\/blank\/metrics.jsonl: no metrics \(empty\)$/);
  oneLine(
    await report(ws, ["runs/cut"]),
    /^error: runs\/cut\/metrics.jsonl: no metrics \(none of its 1 lines is whole\)$/,
  );
  oneLine(await report(ws, ["runs/cut", "--bogus"]), /^error: report: Unknown option '--bogus'/);
  // Comparing stops at the first folder without metrics, before writing anything.
  const before = [...Deno.readDirSync(`${ws}/runs`)].length;
  oneLine(await report(ws, ["runs/cut", "runs/empty"]), /runs\/cut\/metrics.jsonl: no metrics/);
  assertEquals([...Deno.readDirSync(`${ws}/runs`)].length, before);
});

Deno.test("report: a cut-short metrics.jsonl is read up to its last whole line, and says so", async () => {
  const ws = await Deno.makeTempDir();
  const dir = await toyRun(`${ws}/runs`);
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  const lines = text.trim().split("\n");
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, text + lines[3].slice(0, 20));
  const r = await report(ws, [dir.slice(ws.length + 1)]);
  assertEquals(r.code, 0, r.stderr);
  const note = `metrics.jsonl: 1 line was not whole and was dropped (line ${lines.length + 1}); ` +
    `the report uses the ${lines.length} whole records`;
  assertEquals(r.stderr, `warning: ${dir.slice(ws.length + 1)}/${note}`);
  const html = await Deno.readTextFile(`${dir}/report.html`);
  match(html, new RegExp(`<p class="warn">[^<]*${note.replace(/[()]/g, "\\$&")}</p>`));
});

Deno.test("report: runs with different metrics compare what they share; the page goes where it may", async () => {
  const ws = await Deno.makeTempDir();
  const a = await toyRun(`${ws}/runs`);
  const b = await toyRun(`${ws}/runs`, ["seed=4", "train.epochs=3"]);
  // b's last evaluation also reports nmi: not shared, so named and left out of the table.
  const extra = { type: "eval", epoch: 3, step: 18, "recall@1": 0.5, nmi: 0.25 };
  await Deno.writeTextFile(`${b}/metrics.jsonl`, JSON.stringify(extra) + "\n", { append: true });
  const rel = (d: string) => d.slice(ws.length + 1);
  const r = await report(ws, [rel(a), rel(b)]);
  assertEquals(r.code, 0, r.stderr);
  match(r.stdout, /^runs\/compare-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.html$/);
  const html = await Deno.readTextFile(`${ws}/${r.stdout}`);
  match(html, /<h1>Comparing 2 runs<\/h1>/);
  match(html, /<th>run<\/th><th>recall@1<\/th><\/tr>/);
  match(html, /Only in toy\/[^<]*, so not compared: nmi\./);
  for (const chart of ["loss", "lr", "images-per-sec", "metric-recall@1"]) {
    match(html, new RegExp(`<figure class="chart" data-chart="${chart}"><svg`));
  }
  // The same page at --out under runs/; outside runs/ the report task may not write.
  const named = await report(ws, [rel(a), rel(b), "--out", "runs/cmp/ab.html"]);
  assertEquals([named.code, named.stdout], [0, "runs/cmp/ab.html"]);
  const outside = await Deno.makeTempDir();
  oneLine(
    await report(ws, [rel(a), rel(b), "--out", `${outside}/ab.html`]),
    /^error: report: not allowed to write '.*\/ab\.html' \(the report task writes under runs\/ only; give --out runs\/… or run deno with --allow-write=/,
  );
  assertEquals([...Deno.readDirSync(outside)], []);
});
