/**
 * Hostile and faulty input through the real CLI, with the permissions of the `deno task` that runs it:
 * each case is one line on stderr naming the problem, exit code 2, and no run folder.
 *
 * - unbounded reads (core/bounded_read.ts): a FIFO, /dev/zero, a device as `extends`, an oversize recipe,
 *   a .npy that is a device; YAML alias bombs and a mapping of 80,000 keys (the duplicate check is linear);
 * - sizes (core/options.ts): integers past int32, and what a recipe implies allocating beyond the machine
 *   (`checkFits`), named by the option;
 * - silently wrong values: seeds the 32-bit generator would alias, a mapping as `description`, NaN and
 *   Infinity shown as such; a report over 140,000 steps (no spread of the steps into Math.max);
 * - the command line: no recipe, two recipes, an unknown flag or command in one line; `--help`; no
 *   XDG_RUNTIME_DIR lines from the WebGPU probe on a headless machine.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT, runCli, taskFlags } from "./cli_process.ts";

const TOY = `${ROOT}tests/fixtures/toy.yaml`;

interface Case {
  files?: Record<string, string>;
  args: string[];
  pattern: RegExp;
  task?: string;
}

const aliasBomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
  .concat(["b", "c", "d", "e", "f"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcde"[i]}`).join(", ")}]`))
  .concat(["g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]"]).join("\n");

// 80,000 short keys stay under the 1 MiB recipe cap; the library's own duplicate check is quadratic (~40 s).
const manyKeys = `extends: ${TOY}\ndata:\n${
  Array.from({ length: 80_000 }, (_, i) => `  k${i}: 0\n`).join("")
}  k7: 1\n`;

const CASES: Record<string, Case> = {
  "a device as the recipe": { args: ["/dev/zero"], pattern: /^error: \/dev\/zero: not a regular file/ },
  "a device as extends": {
    files: { "r.yaml": "extends: /dev/zero\n" },
    args: ["r.yaml"],
    pattern: /^error: \/dev\/zero: not a regular file/,
  },
  "a recipe over 1 MiB": {
    files: { "r.yaml": `# ${"x".repeat(1 << 20)}\n` },
    args: ["r.yaml"],
    pattern: /^error: r\.yaml: recipe file of 1048579 bytes, more than the 1048576 allowed/,
  },
  "a YAML alias bomb": {
    files: { "r.yaml": aliasBomb },
    args: ["r.yaml"],
    pattern: /^error: r\.yaml: YAML aliases expand too far/,
  },
  "a key given twice among 80,000": {
    files: { "r.yaml": manyKeys },
    args: ["r.yaml"],
    pattern: /^error: r\.yaml: YAML key 'k7' given twice at line 80003, column 3$/,
  },
  "an integer past int32": {
    args: [TOY, "--set", "memory={use: xbm, size: 1e12}"],
    pattern: /^error: memory\.size: expected an integer >= 1 and <= 2147483647, got 1000000000000$/,
  },
  "a memory bank beyond the machine": {
    args: [TOY, "--set", "backbone={use: mlp, hidden: [], dim: 4096}", "--set", "memory={use: xbm, size: 2e9}"],
    pattern: /^error: memory\.size: 2000000000 entries of 4096 float32 need \d+ GiB, more than this machine's/,
  },
  "an embedding head beyond the machine": {
    args: [TOY, "--set", "backbone={use: mlp, dim: 1e9}"],
    pattern: /^error: backbone\.dim: layer 3's 256 × 1000000000 float32 weights need \d+ GiB, more than this/,
  },
  "batches beyond the machine": {
    args: [TOY, "--set", "sampler={use: m-per-class, classes: 3, perClass: 1e9}"],
    pattern: /^error: sampler\.perClass: batches of 3 × 1000000000 items of \[8\] float32 need \d+ GiB/,
  },
  "a seed of 2^32": {
    args: [TOY, "--set", "seed=4294967296"],
    pattern: /^error: seed: expected an integer >= 0 and <= 4294967295 \(32 bits\), got 4294967296$/,
  },
  "a seed of 1e300": { args: [TOY, "--set", "seed=1e300"], pattern: /^error: seed: .* got 1e\+300$/ },
  "a mapping as description": {
    args: [TOY, "--set", "description={a: 1}"],
    pattern: /^error: description: expected a string, got \{"a":1\}$/,
  },
  "NaN": { args: [TOY, "--set", "train.clip=.nan"], pattern: /^error: train\.clip: expected a number >= 0, got NaN$/ },
  "Infinity": {
    args: [TOY, "--set", "optimizer.lr=.inf"],
    pattern: /^error: optimizer\.lr: expected a number .*, got Infinity$/,
  },
  "NaN in a list": {
    args: [TOY, "--set", "train.milestones=[1, .nan]"],
    pattern: /^error: train\.milestones: expected a list of integers >= 0, got \[1,NaN\]$/,
  },
  "no recipe": { args: [], pattern: /^error: train needs a recipe \(usage: deno task train RECIPE .*\)$/ },
  "two recipes": { args: [TOY, TOY], pattern: /^error: train takes one recipe, got 2: / },
  "an unknown flag": { args: [TOY, "--bogus"], pattern: /^error: train: Unknown option '--bogus' \(usage: / },
  "a .npy that is a device": {
    task: "eval",
    args: ["--embeddings", "/dev/zero", "--labels", "/dev/zero"],
    pattern: /^error: \/dev\/zero: not a regular file/,
  },
};

async function workspace(files: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
  return dir;
}

for (const [name, c] of Object.entries(CASES)) {
  Deno.test(`hostile input: ${name} is one line, exit 2, nothing written`, async () => {
    const dir = await workspace(c.files);
    try {
      const task = c.task ?? "train";
      const r = await runCli(dir, taskFlags(task), [task, ...c.args]);
      assertOneLineError(r, c.pattern);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), Object.keys(c.files ?? {}).sort());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("hostile input: a FIFO as the recipe is refused without opening it (which would block)", async () => {
  const dir = await workspace();
  try {
    const made = await new Deno.Command("mkfifo", { args: [`${dir}/r.yaml`] }).output();
    assertEquals(made.code, 0);
    const r = await runCli(dir, taskFlags("train"), ["train", "r.yaml"]);
    assertOneLineError(r, /^error: r\.yaml: not a regular file \(a device, FIFO or socket\), not a recipe file$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("command line: an unknown command, no command in one line; --help prints every usage", async () => {
  const dir = await workspace();
  try {
    assertOneLineError(await runCli(dir, taskFlags("train"), ["trian"]), /^error: unknown command 'trian' \(commands:/);
    assertOneLineError(await runCli(dir, taskFlags("train"), []), /^error: no command given \(commands:/);
    const help = await runCli(dir, taskFlags("train"), ["--help"]);
    assertEquals([help.code, help.stderr], [0, ""]);
    for (const c of ["train", "embed", "eval", "export", "index", "search", "demo", "report", "plugins"]) {
      ok(help.stdout.includes(`deno task ${c}`), c);
    }
    // The usage and nothing else: each line after the first is one command's usage.
    const [head, ...lines] = help.stdout.trimEnd().split("\n");
    assertEquals(head, "usage:");
    for (const line of lines) ok(/^ {2}deno task [a-z]+ /.test(line), `not a usage line: ${line}`);
    const trainHelp = await runCli(dir, taskFlags("train"), ["train", "--help"]);
    assertEquals(trainHelp.code, 0);
    ok(trainHelp.stdout.startsWith("usage: deno task train RECIPE"), trainHelp.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "backend auto on a machine without XDG_RUNTIME_DIR: the WebGPU probe prints nothing",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await workspace();
    try {
      // A clean environment: the variable unset, as on a headless machine (another test may have set it here).
      const keep = ["HOME", "PATH", "DENO_DIR"].flatMap((k) => Deno.env.has(k) ? [[k, Deno.env.get(k)!]] : []);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...taskFlags("train"), `${ROOT}cli.ts`, "train", TOY, "--set", "train.backend=auto", "--quiet"],
        cwd: dir,
        clearEnv: true,
        env: { NO_COLOR: "1", ...Object.fromEntries(keep) },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals([out.code, new TextDecoder().decode(out.stderr)], [0, ""]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("report: a run of 140,000 steps is reported (the steps are not spread into Math.max)", async () => {
  const dir = await workspace();
  try {
    const trained = await runCli(dir, taskFlags("train"), ["train", TOY, "--set", "train.epochs=1", "--quiet"]);
    assertEquals(trained.code, 0, trained.stderr);
    const run = `${dir}/${JSON.parse(trained.stdout.trim().split("\n").at(-1)!).runDir}`;
    const lines = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n");
    const rest = lines.filter((l) => !l.includes('"type":"step"'));
    const steps = Array.from(
      { length: 140_000 },
      (_, i) => JSON.stringify({ type: "step", step: i + 1, epoch: 0, loss: 1 / (1 + i), lr: 0.05 }),
    );
    await Deno.writeTextFile(`${run}/metrics.jsonl`, [...steps, ...rest].join("\n") + "\n");
    const r = await runCli(dir, taskFlags("report"), ["report", run]);
    assertEquals([r.code, r.stderr], [0, ""]);
    ok((await Deno.readTextFile(`${run}/report.html`)).includes("140000 steps"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile input: a checkpoint file that is a FIFO is refused without opening it", async () => {
  const dir = await workspace();
  try {
    const trained = await runCli(dir, taskFlags("train"), ["train", TOY, "--set", "train.epochs=1", "--quiet"]);
    assertEquals(trained.code, 0, trained.stderr);
    const run = JSON.parse(trained.stdout.trim().split("\n").at(-1)!).runDir as string;
    const [checkpoint] = [...Deno.readDirSync(`${dir}/${run}/checkpoints`)].map((e) => e.name);
    const tensors = `${dir}/${run}/checkpoints/${checkpoint}/tensors.bin`;
    await Deno.remove(tensors);
    assertEquals((await new Deno.Command("mkfifo", { args: [tensors] }).output()).code, 0);
    const r = await runCli(dir, taskFlags("embed"), ["embed", run]);
    assertOneLineError(r, /: unreadable checkpoint \(.*tensors\.bin: not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
