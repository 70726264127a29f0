/**
 * Resume safety, through the real CLI with the train task's permissions:
 * - the trainer SIGKILLed at random points of its checkpoint writes, then resumed (and killed again),
 *   ends with the same losses, metrics and weights as an uninterrupted run, bit for bit, and
 *   metrics.jsonl holds every line once;
 * - a damaged checkpoint (a flipped byte, a truncated file, a wrong shape, NaN weights, no memory,
 *   bad counters, a bad optimizer state) is refused in one line with exit 2 and the run folder is
 *   left byte for byte as it was;
 * - a checkpoint written before checkpoints had a manifest still resumes.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT } from "./cli_process.ts";
import { finished, runFolders, snapshotTree, spawnTrain, toyWorkspace } from "./toy_run.ts";
import { loadCheckpoint, saveCheckpoint } from "../core/checkpoint.ts";
import type { State } from "../core/types.ts";

const FAULT = `${ROOT}tests/fixtures/checkpoint_fault.ts`;
/** Four epochs of six steps, a checkpoint after each, two kept (so pruning runs too). */
const RUN = ["toy.yaml", "--quiet", "--set", "train.epochs=4", "--set", "train.keepCheckpoints=2"];

/** metrics.jsonl's records without the one timing field, as written. */
function records(runDir: string): string[] {
  return Deno.readTextFileSync(`${runDir}/metrics.jsonl`).split("\n").filter((l) => l).map((l) => {
    const { imagesPerSec: _, ...r } = JSON.parse(l);
    return JSON.stringify(r);
  });
}

/** Runs the trainer with the fault preload; SIGKILLs it once it stops at checkpoint call `at`. */
async function trainKilledAt(cwd: string, args: string[], at: number): Promise<"killed" | "finished"> {
  const marker = `${cwd}/.cache/fault-paused`;
  await Deno.remove(marker).catch(() => {});
  const child = spawnTrain(cwd, args, { DML_FAULT_AT: String(at), DML_FAULT_PAUSED: marker }, FAULT);
  const done = finished(child);
  let exited = false;
  done.then(() => exited = true);
  while (!exited) {
    if (await Deno.stat(marker).then(() => true, () => false)) {
      child.kill("SIGKILL");
      const r = await done;
      assertEquals(r.code, 137, `killed at call ${at}: ${r.stderr}`);
      return "killed";
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const r = await done;
  assertEquals(r.code, 0, r.stderr);
  return "finished";
}

Deno.test("SIGKILL at random points of checkpoint writes, then resume: the uninterrupted run, bit for bit", async () => {
  const cwd = await toyWorkspace();
  try {
    await Deno.mkdir(`${cwd}/.cache`);
    // The uninterrupted run, numbering its checkpoint calls.
    const log = `${cwd}/.cache/calls.log`;
    const straight = await finished(spawnTrain(cwd, RUN, { DML_FAULT_LOG: log }, FAULT));
    assertEquals(straight.code, 0, straight.stderr);
    const refDir = `${cwd}/${JSON.parse(straight.stdout.trim().split("\n").at(-1)!).runDir}`;
    const calls = Deno.readTextFileSync(log).trim().split("\n");
    // Once the second checkpoint's writes begin, the first is in place to resume from.
    const first = calls.findIndex((c) => c.includes("epoch-0002")) + 1;
    ok(first > 0 && calls.length > first + 8, calls.join("\n"));

    for (let trial = 0; trial < 4; trial++) {
      const before = runFolders(`${cwd}/runs/toy`);
      const at = first + Math.floor(Math.random() * (calls.length - first + 1));
      const history = [`killed at ${calls[at - 1]}`];
      assertEquals(await trainKilledAt(cwd, RUN, at), "killed");
      const [name] = runFolders(`${cwd}/runs/toy`).filter((n) => !before.includes(n));
      const runDir = `${cwd}/runs/toy/${name}`;
      // Resumed, and killed again at a random call of the resumed run's writes, until one finishes.
      for (let resumes = 0; resumes < 4; resumes++) {
        const again = resumes < 3 ? 1 + Math.floor(Math.random() * 12) : 0;
        const outcome = await trainKilledAt(cwd, ["--resume", runDir, "--quiet"], again);
        history.push(`resume: ${outcome === "killed" ? `killed at its call ${again}` : "finished"}`);
        if (outcome === "finished") break;
      }
      const what = history.join("; ");
      assertEquals(records(runDir), records(refDir), what);
      assertEquals(
        Deno.readFileSync(`${runDir}/checkpoints/epoch-0004/tensors.bin`),
        Deno.readFileSync(`${refDir}/checkpoints/epoch-0004/tensors.bin`),
        `final weights and optimizer state: ${what}`,
      );
      // Nothing an interrupted write left behind survives the resume (an interrupted pruning may
      // leave an older checkpoint whole).
      const kept = [...Deno.readDirSync(`${runDir}/checkpoints`)].map((e) => e.name).sort();
      ok(kept.every((n) => /^epoch-\d{4}$/.test(n)), `${kept}: ${what}`);
      assertEquals(kept.slice(-2), ["epoch-0003", "epoch-0004"], what);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

// ---------------------------------------------------------------- damaged checkpoints

/** A run of three epochs whose last checkpoint is gone, as if killed before it: lines follow epoch-0002. */
async function interruptedRun(cwd: string, extra: string[] = []): Promise<string> {
  const r = await finished(spawnTrain(cwd, ["toy.yaml", "--quiet", "--set", "train.epochs=3", ...extra]));
  assertEquals(r.code, 0, r.stderr);
  const runDir = `${cwd}/${JSON.parse(r.stdout.trim().split("\n").at(-1)!).runDir}`;
  await Deno.remove(`${runDir}/checkpoints/epoch-0003`, { recursive: true });
  return runDir;
}

function flipByte(path: string, at: (size: number) => number): void {
  const bytes = Deno.readFileSync(path);
  bytes[at(bytes.length)] ^= 0x01;
  Deno.writeFileSync(path, bytes);
}

/** Rewrites the checkpoint with `edit` applied to its state (a consistent, checksummed checkpoint). */
async function rewrite(dir: string, edit: (s: Record<string, State>) => void): Promise<void> {
  const s = await loadCheckpoint(dir) as Record<string, State>;
  edit(s);
  await saveCheckpoint(dir, s);
}

const CKPT = "checkpoints/epoch-0002";
const damages: Array<[string, (run: string) => Promise<void> | void, RegExp]> = [
  [
    "a flipped byte in tensors.bin",
    (run) => flipByte(`${run}/${CKPT}/tensors.bin`, (n) => n >> 1),
    /tensors\.bin: damaged \(its SHA-256 differs/,
  ],
  [
    "a flipped byte in state.json",
    // In the last number of the rng state: still valid JSON, still the same length.
    (run) => flipByte(`${run}/${CKPT}/state.json`, (n) => n - 60),
    /state\.json: (damaged|not valid JSON)/,
  ],
  [
    "a truncated tensors.bin",
    (run) => Deno.truncateSync(`${run}/${CKPT}/tensors.bin`, 100),
    /tensors\.bin: 100 bytes, the manifest records \d+/,
  ],
  [
    "no manifest",
    (run) => Deno.removeSync(`${run}/${CKPT}/manifest.json`),
    /damaged checkpoint \(manifest\.json is missing\)/,
  ],
  [
    "a weight of the wrong shape",
    (run) => rewrite(`${run}/${CKPT}`, (s) => void ((s.trainables as State[])[0] = new Float32Array(5))),
    /weights: tensor 0 has 5 values, the model needs 32/,
  ],
  [
    "a NaN weight",
    (run) => rewrite(`${run}/${CKPT}`, (s) => void (((s.trainables as State[])[0] as Float32Array)[3] = NaN)),
    /trainables\[0\]\[3\] holds NaN/,
  ],
  [
    "a step that is not a number",
    (run) => rewrite(`${run}/${CKPT}`, (s) => void (s.step = "twelve")),
    /step is "twelve", expected an integer >= 0/,
  ],
  ["a negative epoch", (run) => rewrite(`${run}/${CKPT}`, (s) => void (s.epoch = -1)), /epoch is -1, expected/],
  [
    "an optimizer moment of the wrong size",
    (run) =>
      rewrite(`${run}/${CKPT}`, (s) => void ((s.optimizer as Record<string, State[]>).m[0] = new Float32Array(3))),
    /optimizer\.m\[0\] has 3 values, the size of none of the model's weights/,
  ],
  [
    "no optimizer state",
    (run) => rewrite(`${run}/${CKPT}`, (s) => void (s.optimizer = null)),
    /holds no optimizer state/,
  ],
  [
    "metrics.jsonl shorter than at the checkpoint",
    (run) => {
      const text = Deno.readTextFileSync(`${run}/metrics.jsonl`);
      Deno.writeTextFileSync(`${run}/metrics.jsonl`, text.slice(0, 200));
    },
    /metrics\.jsonl holds 200 bytes, not the \d+ whole lines it had at the checkpoint/,
  ],
];

Deno.test("a damaged checkpoint: one line, exit 2, the run folder byte for byte as it was", async () => {
  const cwd = await toyWorkspace();
  try {
    const base = await interruptedRun(cwd);
    for (const [name, damage, pattern] of damages) {
      const run = `${cwd}/runs/case`;
      await Deno.remove(run, { recursive: true }).catch(() => {});
      await new Deno.Command("cp", { args: ["-r", base, run] }).output();
      await damage(run);
      const before = snapshotTree(run);
      const r = await finished(spawnTrain(cwd, ["--resume", run, "--quiet", "--set", "train.epochs=4"]));
      assertOneLineError(r, pattern);
      ok(r.stderr.includes(name === "metrics.jsonl shorter than at the checkpoint" ? "--resume" : CKPT), r.stderr);
      assertEquals(snapshotTree(run), before, `${name}: the run folder changed`);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a checkpoint of a run with a memory but no memory state is refused before the folder is touched", async () => {
  const cwd = await toyWorkspace();
  try {
    const run = await interruptedRun(cwd, ["--set", "memory.use=xbm", "--set", "memory.size=32"]);
    await rewrite(`${run}/${CKPT}`, (s) => void (s.memory = null));
    const before = snapshotTree(run);
    assertOneLineError(await finished(spawnTrain(cwd, ["--resume", run])), /the checkpoint holds no memory state/);
    assertEquals(snapshotTree(run), before);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

/** A resolved recipe's YAML without the `optimizer.lrMult` block: what runs saved before that option existed hold. */
function withoutLrMult(yaml: string): string {
  const lines = yaml.split("\n"), out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s+)lrMult:/.exec(lines[i]);
    if (!m) {
      out.push(lines[i]);
      continue;
    }
    while (i + 1 < lines.length && lines[i + 1].startsWith(m[1] + " ")) i++;
  }
  const stripped = out.join("\n");
  ok(stripped !== yaml && !stripped.includes("lrMult"), "the recipe has an lrMult block to remove");
  return stripped;
}

Deno.test("a checkpoint from before manifests and before optimizer.lrMult still resumes, exactly", async () => {
  const cwd = await toyWorkspace();
  try {
    const straight = await finished(spawnTrain(cwd, ["toy.yaml", "--quiet", "--set", "train.epochs=3"]));
    assertEquals(straight.code, 0, straight.stderr);
    const refDir = `${cwd}/${JSON.parse(straight.stdout.trim().split("\n").at(-1)!).runDir}`;
    const run = await interruptedRun(cwd);
    // What the writer before manifests left: the same state.json and tensors.bin, format 1, and
    // no metricsBytes (the resume cuts metrics.jsonl back by step instead).
    const dir = `${run}/${CKPT}`;
    const doc = JSON.parse(Deno.readTextFileSync(`${dir}/state.json`));
    delete doc.state.metricsBytes;
    // Nor did its recipe know options added since (here optimizer.lrMult): they take their defaults.
    doc.state.recipe = withoutLrMult(doc.state.recipe);
    Deno.writeTextFileSync(`${run}/recipe.yaml`, withoutLrMult(Deno.readTextFileSync(`${run}/recipe.yaml`)));
    Deno.writeTextFileSync(`${dir}/state.json`, JSON.stringify({ ...doc, format: "dml-checkpoint-1" }));
    Deno.removeSync(`${dir}/manifest.json`);
    const r = await finished(spawnTrain(cwd, ["--resume", run, "--quiet"]));
    assertEquals(r.code, 0, r.stderr);
    assertEquals(records(run), records(refDir));
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("resuming a run stopped after its last checkpoint logs nothing twice", async () => {
  const cwd = await toyWorkspace();
  try {
    const r = await finished(spawnTrain(cwd, ["toy.yaml", "--quiet", "--set", "train.epochs=2"]));
    assertEquals(r.code, 0, r.stderr);
    const run = `${cwd}/${JSON.parse(r.stdout.trim().split("\n").at(-1)!).runDir}`;
    const metrics = Deno.readTextFileSync(`${run}/metrics.jsonl`);
    const again = await finished(spawnTrain(cwd, ["--resume", run, "--quiet"]));
    assertEquals(again.code, 0, again.stderr);
    // The same final metrics, from the evaluation already logged.
    assertEquals(JSON.parse(again.stdout.trim().split("\n").at(-1)!).metrics, JSON.parse(r.stdout.trim()).metrics);
    assertEquals(Deno.readTextFileSync(`${run}/metrics.jsonl`), metrics);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
