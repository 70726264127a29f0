/**
 * Image datasets through the real CLI, with the permissions `deno task train` grants: a run that
 * decodes in workers trains and exits; bad input (missing root, an unreadable image met during
 * training, no --allow-ffi) is one line on stderr and exit code 2.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { fakeCub200 } from "./image_fixtures.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TRAIN_PERMISSIONS = ["--allow-read", "--allow-env", "--allow-write=runs,.cache", "--allow-sys", "--allow-ffi"];

async function train(cwd: string, permissions: string[], ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${ROOT}cli.ts`, "train", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

async function recipe(dir: string, root: string): Promise<string> {
  const path = `${dir}/cub.yaml`;
  await Deno.writeTextFile(
    path,
    stringify({
      name: "cub-cli",
      data: { use: "cub200", root, size: 32, resize: 36, verify: "none" },
      backbone: { use: "resnet", depth: 18, width: 4, dim: 8 },
      sampler: { use: "m-per-class", classes: 2, perClass: 2, batchesPerEpoch: 2 },
      loss: { use: "contrastive" },
      optimizer: { use: "adam", lr: 0.001 },
      train: { epochs: 1, backend: "cpu" },
      eval: { use: "retrieval", recallAt: [1], nmi: false },
      output: "runs",
    }),
  );
  return path;
}

Deno.test("the CLI trains on an image dataset with the train task's permissions, and reports bad input in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = await fakeCub200(dir);
    const file = await recipe(dir, fake.root);
    const ok = await train(dir, TRAIN_PERMISSIONS, file);
    assertEquals(ok.code, 0, ok.stderr);
    assert(ok.stdout.includes("recall@1"), ok.stdout);
    assertEquals([...Deno.readDirSync(`${dir}/runs/cub-cli`)].length, 1);

    const missing = await train(dir, TRAIN_PERMISSIONS, file, "--set", `data.root=${dir}/nowhere`);
    assertEquals([missing.code, missing.stderr.split("\n").length], [2, 1], missing.stderr);
    assert(missing.stderr.includes(`data.root: ${dir}/nowhere is not a folder`), missing.stderr);

    const noFfi = await train(dir, TRAIN_PERMISSIONS.filter((p) => p !== "--allow-ffi"), file);
    assertEquals([noFfi.code, noFfi.stderr.split("\n").length], [2, 1], noFfi.stderr);
    assert(noFfi.stderr.includes("--allow-ffi"), noFfi.stderr);

    // With verify: none nothing is checked up front: the bad file is met (and named) while training.
    const bad = `${fake.root}/images/001.Bird_1/Bird_1_1.jpg`;
    await Deno.writeTextFile(bad, "truncated");
    const corrupt = await train(dir, TRAIN_PERMISSIONS, file);
    assertEquals([corrupt.code, corrupt.stderr.split("\n").length], [2, 1], corrupt.stderr);
    assert(corrupt.stderr.includes(`${bad}: not a readable image`), corrupt.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
