/**
 * Bad input to `deno task train`: one clear line on stderr, exit code 2, no stack trace, and no
 * run folder created or changed. Runs the real CLI in a subprocess.
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";

import { assertOneLineError as oneLine, ROOT, runCli, taskFlags } from "./cli_process.ts";

const FIXTURES = `${ROOT}tests/fixtures`;

const cli = (cwd: string, ...args: string[]) => runCli(cwd, ["-A"], args);

async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.copyFile(`${FIXTURES}/toy_plugin.ts`, `${dir}/toy_plugin.ts`);
  // The toy plugin imports core by relative path; point it at this checkout.
  const src = await Deno.readTextFile(`${dir}/toy_plugin.ts`);
  await Deno.writeTextFile(`${dir}/toy_plugin.ts`, src.replaceAll("../../core/", `${ROOT}core/`));
  await Deno.writeTextFile(`${dir}/toy.yaml`, await Deno.readTextFile(`${FIXTURES}/toy.yaml`));
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
  return dir;
}

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else {out.push(`${p.slice(dir.length)}:${(await Deno.stat(p)).size}:${
          (await Deno.readFile(p)).reduce((a, b) => (a * 31 + b) >>> 0, 7)
        }`);}
    }
  };
  await walk(dir);
  return out.sort();
}

const base = "extends: toy.yaml\n";
const cases: Array<[string, Record<string, string>, string[], RegExp]> = [
  [
    "unknown plugin name lists the known ones",
    { "r.yaml": base + "loss: { use: contrastiv }\n" },
    ["r.yaml"],
    /loss\.use: unknown loss 'contrastiv'.*known: .*toy-contrastive/,
  ],
  [
    "mistyped option suggests the right one",
    { "r.yaml": base + "loss: { margn: 0.2 }\n" },
    ["r.yaml"],
    /loss\.margn: unknown option \(did you mean 'margin'\?\)/,
  ],
  [
    "wrong range names the path",
    { "r.yaml": base + "optimizer: { lr: -1 }\n" },
    ["r.yaml"],
    /optimizer\.lr: expected a number > 0, got -1/,
  ],
  [
    "wrong type names the path",
    { "r.yaml": base + "train: { epochs: two }\n" },
    ["r.yaml"],
    /train\.epochs: expected an integer >= 1, got "two"/,
  ],
  ["missing recipe file", {}, ["nope.yaml"], /nope\.yaml: no such file/],
  [
    "YAML syntax error gives the line",
    { "r.yaml": "name: x\nloss: { use: [\n" },
    ["r.yaml"],
    /r\.yaml: YAML syntax error at line \d+/,
  ],
  [
    "extends cycle",
    { "a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n" },
    ["a.yaml"],
    /extends cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml/,
  ],
  ["bad --set", {}, ["toy.yaml", "--set", "noequals"], /--set noequals: expected key\.path=value/],
  [
    "unknown backend",
    { "r.yaml": base + "train: { backend: tpu }\n" },
    ["r.yaml"],
    /train\.backend: expected one of auto, webgpu, wasm, cpu/,
  ],
  [
    "evaluating on features a backbone does not have",
    { "r.yaml": base + "eval: { space: features }\n" },
    ["r.yaml"],
    /eval\.space: backbone 'toy-linear' has no pre-head features to evaluate on; use space: embedding/,
  ],
];

for (const [name, files, args, pattern] of cases) {
  Deno.test(`bad input: ${name}`, async () => {
    const dir = await workspace(files);
    const r = await cli(dir, "train", ...args);
    oneLine(r, pattern);
    ok(!(await Deno.stat(`${dir}/runs`).then(() => true, () => false)), "a run folder was created");
  });
}

Deno.test("bad input: an output folder the train task may not write is the only line, before the data's notices", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The task's own permissions; the quickstart's dataset would print a notice when it loads.
    const flags = taskFlags("train");
    const r = await runCli(dir, flags, ["train", `${ROOT}recipes/quickstart.yaml`, "--set", "output=elsewhere"]);
    oneLine(r, /^error: output: not allowed to write to 'elsewhere'/);
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resume: another recipe or a damaged checkpoint is refused and the run is left as it was", async () => {
  const dir = await workspace({ "other.yaml": base + "loss: { margin: 0.1 }\n" });
  const first = await cli(dir, "train", "toy.yaml", "--set", "train.epochs=1", "--quiet");
  assertEquals(first.code, 0, first.stderr);
  const runDir = JSON.parse(first.stdout.trim().split("\n").at(-1)!).runDir as string;
  const before = await tree(`${dir}/${runDir}`);

  oneLine(
    await cli(dir, "train", "other.yaml", "--resume", runDir),
    /--resume .*: the run was trained with another recipe/,
  );
  assertEquals(await tree(`${dir}/${runDir}`), before);

  await Deno.writeTextFile(
    `${dir}/${runDir}/checkpoints/epoch-0001/state.json`,
    '{"format":"dml-checkpoint-1","bytes":',
  );
  const damaged = await tree(`${dir}/${runDir}`);
  oneLine(await cli(dir, "train", "--resume", runDir), /state\.json: not valid JSON/);
  assertEquals(await tree(`${dir}/${runDir}`), damaged);

  oneLine(await cli(dir, "train", "--resume", `${dir}/nowhere`), /not a run folder/);
});

Deno.test("a recipe's plugins list loads a plugin from outside plugins/", async () => {
  const dir = await workspace({});
  const r = await cli(dir, "train", "toy.yaml", "--set", "train.epochs=1", "--quiet");
  assertEquals(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  ok(last.metrics["recall@1"] > 0.5, `recall@1 ${last.metrics["recall@1"]}`);
  const saved = await Deno.readTextFile(`${dir}/${last.runDir}/recipe.yaml`);
  match(saved, /toy_plugin\.ts/);
});

Deno.test("`plugins` lists every kind under its plural and each component with its options", async () => {
  const r = await cli(ROOT, "plugins");
  assertEquals(r.code, 0, r.stderr);
  for (const heading of ["datasets", "backbones", "samplers", "losses", "memories", "evaluators", "optimizers"]) {
    match(r.stdout, new RegExp(`^${heading}$`, "m"));
  }
  match(r.stdout, /^ {2}xbm — /m);
  match(r.stdout, /^ {6}size: number, default \d+/m);
  const one = await cli(ROOT, "plugins", "memory");
  ok(!one.stdout.includes("losses"), "a kind filter lists only that kind");
});
