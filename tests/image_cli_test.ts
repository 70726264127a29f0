/**
 * Image datasets through the real CLI, with the permissions `deno task train` grants: a run that
 * decodes in workers trains and exits; bad input (missing root or split file, an absent or
 * unreadable image, a model file of the wrong format, no --allow-ffi) is one line on stderr and
 * exit code 2, and leaves no run folder behind.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { fakeCub200, fakeInShop } from "./image_fixtures.ts";
import { runCli, taskFlags } from "./cli_process.ts";

const TRAIN_PERMISSIONS = taskFlags("train");

const train = (cwd: string, permissions: string[], ...args: string[]) => runCli(cwd, permissions, ["train", ...args]);

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

/** Asserts exit code 2 with one stderr line holding every part. */
function failsWith(r: { code: number; stderr: string }, ...parts: string[]): void {
  assertEquals([r.code, r.stderr.split("\n").length], [2, 1], r.stderr);
  for (const p of parts) assert(r.stderr.includes(p), `'${r.stderr}' lacks '${p}'`);
}

Deno.test("the CLI names a missing split file, an absent image (or skips it with a count) and a wrong model file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = await fakeCub200(dir);
    const file = await recipe(dir, fake.root);

    await Deno.writeTextFile(`${dir}/model.json`, "<html>a web page saved by mistake</html>");
    const tfjs = `backbone={use: tfjs-model, path: ${dir}/model.json, dim: 8}`;
    failsWith(
      await train(dir, TRAIN_PERMISSIONS, file, "--set", tfjs),
      `backbone.path: ${dir}/model.json`,
      "not a tfjs",
    );
    await Deno.writeFile(`${dir}/resnet.bin`, new Uint8Array(64));
    failsWith(
      await train(dir, TRAIN_PERMISSIONS, file, "--set", `backbone.weights=${dir}/resnet.bin`),
      `backbone.weights: ${dir}/resnet.bin is not a JSON weights manifest`,
    );

    const gone = `${fake.root}/images/002.Bird_2/Bird_2_1.jpg`;
    await Deno.remove(gone);
    const exists = ["--set", "data.verify=exists"];
    failsWith(await train(dir, TRAIN_PERMISSIONS, file, ...exists), "1 listed image is missing", gone, "skipBad");
    const skipped = await train(dir, TRAIN_PERMISSIONS, file, ...exists, "--set", "data.skipBad=true");
    assertEquals(skipped.code, 0, skipped.stderr);
    assert(skipped.stdout.includes(`1 missing or unreadable image skipped, first ${gone}`), skipped.stdout);

    await Deno.remove(`${fake.root}/classes.txt`);
    failsWith(await train(dir, TRAIN_PERMISSIONS, file), "CUB-200-2011 needs classes.txt");
    // Only the one run that trained made a run folder.
    assertEquals([...Deno.readDirSync(`${dir}/runs/cub-cli`)].length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval --run and embed on a query/gallery dataset (In-Shop layout): the trainer's metrics, query and gallery files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = await fakeInShop(dir, { trainItems: 4, testItems: 4 });
    const path = `${dir}/inshop.yaml`;
    await Deno.writeTextFile(
      path,
      stringify({
        name: "inshop-cli",
        data: { use: "inshop", root: fake.root, size: 32, resize: 36, verify: "none" },
        backbone: { use: "resnet", depth: 18, width: 4, dim: 8 },
        sampler: { use: "m-per-class", classes: 2, perClass: 2, batchesPerEpoch: 2 },
        loss: { use: "contrastive" },
        optimizer: { use: "adam", lr: 0.001 },
        train: { epochs: 1, backend: "cpu" },
        eval: { use: "retrieval", recallAt: [1, 2], nmi: false },
        output: "runs",
      }),
    );
    const trained = await train(dir, TRAIN_PERMISSIONS, path);
    assertEquals(trained.code, 0, trained.stderr);
    const { runDir, metrics } = JSON.parse(trained.stdout.trim().split("\n").at(-1)!);
    const evaluated = await runCli(dir, TRAIN_PERMISSIONS, ["eval", "--run", runDir]);
    assertEquals(evaluated.code, 0, evaluated.stderr);
    assertEquals(JSON.parse(evaluated.stdout.trim().split("\n").at(-1)!), metrics);
    const embedded = await runCli(dir, TRAIN_PERMISSIONS, ["embed", runDir]);
    assertEquals(embedded.code, 0, embedded.stderr);
    const names = [...Deno.readDirSync(`${dir}/${runDir}/embeddings/embedding`)].map((e) => e.name).sort();
    assertEquals(names, ["gallery.npy", "gallery_labels.npy", "query.npy", "query_labels.npy"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
