/**
 * Runs that would fail late (issue 24, class 5), through the real CLI with the train task's flags:
 * what the evaluator can refuse from the labels alone (a test split of one class) is refused before
 * training, with no folder; what fails once the folder exists (a diverging loss) is said in it: a
 * `{"type":"failed"}` line in metrics.jsonl and the session's `failed` in run.json, the error on stderr.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT, runCli, taskFlags } from "./cli_process.ts";

const TOY = `${ROOT}tests/fixtures/toy.yaml`;

// A dataset whose test split holds a single class; the built-in retrieval evaluator cannot rank it.
const ONE_CLASS_PLUGIN = `
import { tf } from "${ROOT}core/tf.ts";
const split = (n, classes) => ({
  size: n, classes, shape: [4], labels: Int32Array.from({ length: n }, (_, i) => i % classes),
  batch: (idx) => tf.randomNormal([idx.length, 4]),
});
export default { name: "one-class", components: [{
  kind: "dataset", name: "one-class-test", doc: "test split of one class", options: {},
  create: () => ({ train: split(32, 4), test: split(16, 1) }),
}] };
`;

async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
  return dir;
}

Deno.test("a test split of one class is refused before training, and no run folder is made", async () => {
  const dir = await workspace({
    "one_class.ts": ONE_CLASS_PLUGIN,
    "r.yaml": `extends: ${TOY}\nplugins: [./one_class.ts]\ndata: { use: one-class-test }\n` +
      `eval: { use: retrieval, recallAt: [1], nmi: false }\n`,
  });
  try {
    const r = await runCli(dir, taskFlags("train"), ["train", "r.yaml"]);
    assertOneLineError(r, /^error: labels: a single class; retrieval metrics need at least two$/);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["one_class.ts", "r.yaml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run that diverges says in its folder that it failed, at which step and why", async () => {
  const dir = await workspace({});
  try {
    const r = await runCli(dir, taskFlags("train"), [
      "train",
      TOY,
      "--set",
      "optimizer={use: sgd, lr: 1e38}",
      "--set",
      "train.logEvery=1",
      "--quiet",
    ]);
    assertOneLineError(r, /^error: training diverged: loss is NaN at step (\d+)/);
    const step = Number(r.stderr.match(/at step (\d+)/)![1]);
    const [run] = [...Deno.readDirSync(`${dir}/runs/toy`)].map((e) => `${dir}/runs/toy/${e.name}`);
    const records = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    const last = records.at(-1);
    assertEquals([last.type, last.step], ["failed", step]);
    ok(last.error.startsWith("training diverged: loss is NaN"), last.error);
    const session = JSON.parse(await Deno.readTextFile(`${run}/run.json`)).sessions.at(-1);
    assertEquals([session.toStep, session.failed], [step, last.error]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
