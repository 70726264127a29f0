/**
 * Two processes, one run folder: a run being trained is locked (a second `--resume` is refused in
 * one line, exit 2, and writes nothing; the lock goes with the process, even by SIGKILL), and new
 * run folders are created atomically (runs started in the same second get folders of their own).
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT } from "./cli_process.ts";
import { finished, runFolders, snapshotTree, spawnTrain, toyWorkspace } from "./toy_run.ts";
import { RunFolder } from "../core/run_folder.ts";
import { DmlError } from "../core/errors.ts";

const FAULT = `${ROOT}tests/fixtures/checkpoint_fault.ts`;

Deno.test("two resumes of one run: the second is refused, nothing written; after a SIGKILL the run resumes", async () => {
  const cwd = await toyWorkspace();
  try {
    await Deno.mkdir(`${cwd}/.cache`);
    const first = await finished(spawnTrain(cwd, ["toy.yaml", "--quiet", "--set", "train.epochs=1"]));
    assertEquals(first.code, 0, first.stderr);
    const run = `${cwd}/${JSON.parse(first.stdout.trim().split("\n").at(-1)!).runDir}`;

    // The first resume trains epoch 2 and stops, holding the run, at its checkpoint's first write.
    const marker = `${cwd}/.cache/paused`;
    const holder = spawnTrain(
      cwd,
      ["--resume", run, "--quiet", "--set", "train.epochs=3"],
      { DML_FAULT_AT: "1", DML_FAULT_PAUSED: marker },
      FAULT,
    );
    const held = finished(holder);
    while (!(await Deno.stat(marker).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 10));
    const before = snapshotTree(run);
    const second = await finished(spawnTrain(cwd, ["--resume", run, "--quiet", "--set", "train.epochs=3"]));
    assertOneLineError(second, /--resume .*: another process is training this run/);
    assertEquals(snapshotTree(run), before, "the refused resume changed the run folder");

    holder.kill("SIGKILL");
    assertEquals((await held).code, 137);
    const third = await finished(spawnTrain(cwd, ["--resume", run, "--quiet", "--set", "train.epochs=3"]));
    assertEquals(third.code, 0, third.stderr);
    // Every step once, in order.
    const steps = Deno.readTextFileSync(`${run}/metrics.jsonl`).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "step").map((r) => r.step);
    assertEquals(steps, Array.from({ length: 18 }, (_, i) => i + 1));
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("two new runs started at once get two folders, each trained by one process", async () => {
  const cwd = await toyWorkspace();
  try {
    const args = ["toy.yaml", "--quiet", "--set", "train.epochs=1"];
    const [a, b] = await Promise.all([finished(spawnTrain(cwd, args)), finished(spawnTrain(cwd, args))]);
    assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
    const dirs = [a, b].map((r) => JSON.parse(r.stdout.trim().split("\n").at(-1)!).runDir);
    ok(dirs[0] !== dirs[1], `both runs wrote ${dirs[0]}`);
    assertEquals(runFolders(`${cwd}/runs/toy`).length, 2);
    for (const d of dirs) {
      const steps = Deno.readTextFileSync(`${cwd}/${d}/metrics.jsonl`).trim().split("\n").map((l) => JSON.parse(l))
        .filter((r) => r.type === "step").map((r) => r.step);
      assertEquals(steps, [1, 2, 3, 4, 5, 6]);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("RunFolder: folders created in the same second are distinct; an open folder is locked until closed", async () => {
  const out = await Deno.makeTempDir();
  try {
    // Started together, every create sees the same timestamp: one takes the name, the others suffixes.
    const folders = await Promise.all(Array.from({ length: 6 }, () => RunFolder.create(out, "race", "name: race\n")));
    const dirs = folders.map((f) => f.dir);
    assertEquals(new Set(dirs).size, 6, dirs.join("\n"));
    for (const d of dirs) assertEquals(Deno.readTextFileSync(`${d}/recipe.yaml`), "name: race\n");

    // A created folder is held: it cannot be opened again until its owner closes it.
    const [held] = folders;
    await assertRejectsWith(() => RunFolder.open(held.dir), /another process is training this run/);
    for (const f of folders) await f.close();
    const reopened = await RunFolder.open(held.dir);
    await assertRejectsWith(() => RunFolder.open(held.dir), /another process is training this run/);
    await reopened.close();
    await (await RunFolder.open(held.dir)).close();
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

async function assertRejectsWith(f: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    ok(e instanceof DmlError && pattern.test(e.message), String(e));
    return;
  }
  throw new Error(`expected a DmlError matching ${pattern}`);
}
