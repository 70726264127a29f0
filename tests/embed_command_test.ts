/**
 * `deno task embed`: a trained run's embeddings as .npy files. What it writes must be what the
 * trainer evaluated (the same metrics to the last digit when evaluated again), `--space` and
 * `--set` must reach it, and bad input is one line with exit code 2 and nothing written.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { main } from "../core/cli.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { readNpy } from "../core/npy.ts";
import { evaluateRetrieval } from "../core/retrieval.ts";
import type { Split } from "../core/types.ts";
import { assertOneLineError, ROOT, runCli, taskFlags } from "./cli_process.ts";

const QUICKSTART = `${ROOT}recipes/quickstart.yaml`;
const SMALL = [
  "train.maxSteps=3",
  "data.limit=400",
  "data.testPerClass=30",
  "train.backend=auto",
  "eval.baselines=false",
];
const TASK_FLAGS = taskFlags("embed");

/** Runs `fn` with console output swallowed; returns its result and what it printed to stdout. */
async function captured<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const log = console.log, error = console.error, warn = console.warn, out: string[] = [];
  console.log = (...a: unknown[]) => void out.push(a.join(" ")), console.error = () => {}, console.warn = () => {};
  try {
    return [await fn(), out];
  } finally {
    console.log = log, console.error = error, console.warn = warn;
  }
}
const quiet = async <T>(fn: () => Promise<T>) => (await captured(fn))[0];

async function trainSmall(out: string): Promise<string> {
  const sets = [...SMALL, `output=${out}`].flatMap((s) => ["--set", s]);
  assertEquals(await quiet(() => main(["train", QUICKSTART, ...sets, "--quiet"], createRegistry())), 0);
  const [name] = [...Deno.readDirSync(`${out}/quickstart`)].map((e) => e.name);
  return `${out}/quickstart/${name}`;
}

/** One small trained run under `CWD/runs`, shared by the tests below (they run in order). */
const CWD = await Deno.makeTempDir();
let trained: Promise<string> | undefined;
const trainedRun = () => trained ??= trainSmall(`${CWD}/runs`);

async function split(dir: string, name: string): Promise<Split> {
  const e = await readNpy(`${dir}/${name}.npy`), l = await readNpy(`${dir}/${name}_labels.npy`);
  return { data: e.data as Float32Array, n: e.shape[0], dim: e.shape[1], labels: l.data as Int32Array };
}

Deno.test("embed: the written embeddings are those the trainer evaluated; --space and --set reach it", async () => {
  const run = await trainedRun();
  {
    assertEquals(await quiet(() => main(["embed", run], createRegistry())), 0);
    const test = await split(`${run}/embeddings/features`, "test");
    assertEquals([test.n, test.dim], [60, 64 * 7 * 7]); // 2 classes × 30; the flattened last map
    const records = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    const { type: _t, epoch: _e, step: _s, ...trained } = records.filter((r) => r.type === "eval").at(-1);
    // The quickstart's evaluator options (centred cosine); the same numbers as the trainer's log.
    assertEquals(await evaluateRetrieval(test, undefined, { center: true }), trained);

    const other = `${run}/elsewhere`;
    const args = ["embed", run, "--space", "embedding", "--set", "data.testPerClass=50", "--out", other];
    assertEquals(await quiet(() => main(args, createRegistry())), 0);
    const head = await split(other, "test");
    assertEquals([head.n, head.dim], [100, 128]);
    ok(head.labels.every((y) => y === 0 || y === 1));
  }
});

Deno.test("eval --run: the run's checkpoint through its own evaluator, --set reaching the evaluator and the data", async () => {
  const run = await trainedRun();
  const records = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  const { type: _t, epoch: _e, step: _s, ...trained } = records.filter((r) => r.type === "eval").at(-1);
  const evalRun = async (...args: string[]) => {
    const [code, out] = await captured(() => main(["eval", "--run", run, ...args], createRegistry()));
    assertEquals(code, 0);
    return JSON.parse(out.at(-1)!);
  };
  assertEquals(await evalRun(), trained);
  const sets = ["--set", "eval.fnmrAtFmr=[0.1]", "--set", "data.testPerClass=40"];
  const verified = await evalRun(...sets);
  // The same as evaluating what embed writes with those overrides (80 images), with the options added.
  assertEquals(await quiet(() => main(["embed", run, ...sets, "--out", `${run}/forty`], createRegistry())), 0);
  const forty = await split(`${run}/forty`, "test");
  assertEquals(forty.n, 80);
  assertEquals(verified, await evaluateRetrieval(forty, undefined, { center: true, fnmrAtFmr: [0.1] }));
  const head = await evalRun("--space", "embedding");
  ok(JSON.stringify(head) !== JSON.stringify(trained), "--space embedding changed nothing");
});

Deno.test("embed: bad input is one line, exit code 2, and nothing written", async () => {
  const cwd = CWD;
  try {
    const run = await trainedRun();
    await Deno.remove(`${run}/embeddings`, { recursive: true }).catch(() => {});
    await Deno.remove(`${run}/elsewhere`, { recursive: true }).catch(() => {});
    const rel = run.slice(cwd.length + 1);
    const before = [...Deno.readDirSync(run)].map((e) => e.name).sort();
    const cases: [string[], RegExp][] = [
      [["embed", "runs/nowhere"], /^error: embed runs\/nowhere: not a run folder \(no recipe\.yaml\)$/],
      [["embed", rel, "--space", "pixels"], /--space must be embedding or features, got 'pixels'/],
      [["embed", rel, "--set", "backbone.dim=32"], /checkpoints\/epoch-0001: weights: tensor \d+ has \d+ values/],
      [["embed", rel, "--set", "data.testClasses=[0,99]"], /data\.testClasses: unknown class 99/],
      [["embed"], /embed takes one run folder/],
      [
        ["eval", "--run", rel, "--recall-at", "1,2"],
        /usage: deno task eval --run .*evaluator options go in --set eval\.KEY=VALUE/,
      ],
      [["eval", "--run", "runs/none"], /^error: eval --run runs\/none: not a run folder/],
    ];
    for (const [args, pattern] of cases) {
      assertOneLineError(await runCli(cwd, TASK_FLAGS, args), pattern);
    }
    assertEquals([...Deno.readDirSync(run)].map((e) => e.name).sort(), before, "the run folder is unchanged");
    // A run without a checkpoint yet.
    await Deno.remove(`${run}/checkpoints`, { recursive: true });
    assertOneLineError(await runCli(cwd, TASK_FLAGS, ["embed", rel]), /the run has no checkpoint yet/);
    // Training gets no network access and embed writes only under runs/ and .cache: elsewhere is refused.
    await Deno.mkdir(`${cwd}/outside`);
    const refused = await runCli(cwd, TASK_FLAGS, ["embed", `${cwd}/runs/../outside/../${rel}`, "--out", "outside"]);
    ok(refused.code !== 0);
    assertEquals([...Deno.readDirSync(`${cwd}/outside`)], []);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
