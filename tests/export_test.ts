/**
 * `deno task export`: a trained run as a tfjs GraphModel that plain tfjs runs. For every built-in
 * backbone (and BIER's and divide-and-conquer's test-time transforms; tests/export_fixtures.ts) the
 * exported model runs in a separate Deno process that imports only @tensorflow/tfjs-core,
 * -backend-cpu and -converter (tests/plain_tfjs_embed.ts) on the test split's 8-bit pixels: it must
 * give `deno task embed`'s rows within float32 tolerance. Bad input is one line, exit 2, nothing
 * written or replaced.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT, runCli } from "./cli_process.ts";
import { assertClose } from "./util.ts";
import { CASES, exportedCase } from "./export_fixtures.ts";

const CWD = await Deno.makeTempDir();
const TASK_FLAGS = ["--allow-read", "--allow-env", "--allow-write=runs,.cache", "--allow-sys", "--allow-ffi"];

/** The exported model in a fresh Deno process with plain tfjs only; returns its embeddings. */
async function plainTfjs(dir: string, pixels: Float32Array, n: number): Promise<Float32Array> {
  const input = `${CWD}/pixels.f32`, output = `${CWD}/out.f32`;
  await Deno.writeFile(input, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  const args = ["run", "--allow-read", `--allow-write=${output}`, `${ROOT}tests/plain_tfjs_embed.ts`];
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...args, dir, input, String(n), output],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`plain tfjs failed: ${new TextDecoder().decode(out.stderr)}`);
  const bytes = await Deno.readFile(output);
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

for (const c of CASES) {
  Deno.test(`export: ${c.name} (${c.space}) in plain tfjs equals deno task embed's`, async () => {
    const { run, info, pixels, n, want } = await exportedCase(CWD, c);
    const got = await plainTfjs(`${run}/export`, pixels, n);
    assertClose(got, want, { atol: 1e-4, rtol: 1e-4, msg: c.name });
    assertEquals(info.space, c.space);
    if (c.name === "convnet") assertEquals([info.metric, info.center, info.input.shape], ["cosine", true, [28, 28, 1]]);
    if (c.name === "bier" || c.name === "dnc") assertEquals(info.evalTransform, true);
    // The Caffe set-up: BGR input less the mean, from RGB pixels.
    if (c.name === "bninception") {
      assertEquals(info.input.pixels, { mean: [123, 117, 104], std: [1, 1, 1], source: [2, 1, 0] });
    }
  });
}

Deno.test("export: bad input is one line, exit 2, and nothing is written or replaced", async () => {
  const run = `${CWD}/runs/convnet/${[...Deno.readDirSync(`${CWD}/runs/convnet`)][0].name}`;
  const before = await Deno.readTextFile(`${run}/export/export.json`);
  const cli = (...args: string[]) => runCli(CWD, TASK_FLAGS, ["export", ...args]);
  assertOneLineError(await cli(`${CWD}/runs`), /not a run folder/);
  const empty = `${CWD}/runs/empty`;
  await Deno.mkdir(empty, { recursive: true });
  await Deno.copyFile(`${run}/recipe.yaml`, `${empty}/recipe.yaml`);
  assertOneLineError(await cli(empty), /has no checkpoint/);
  assertEquals([...Deno.readDirSync(empty)].map((e) => e.name), ["recipe.yaml"]);
  assertOneLineError(await cli(run, "--space", "logits"), /--space must be embedding or features/);
  assertOneLineError(
    await cli(run, "--out", "/tmp/elsewhere-export"),
    /not permitted to write \/tmp\/elsewhere-export/,
  );
  assertOneLineError(await cli(run, "--bogus"), /export: Unknown option/);
  assertEquals(await Deno.readTextFile(`${run}/export/export.json`), before);
  ok(![...Deno.readDirSync(run)].some((e) => e.name.includes(".tmp-")), "no temporary folder left");
});

Deno.test("export: tracing leaves no tensor behind; the graph takes any batch size (a reshape to [b, k, d] included)", async () => {
  const { tf } = await import("../core/tf.ts");
  const { loadGraphModel } = await import("@tensorflow/tfjs-converter");
  const { traceGraph } = await import("../core/export/trace.ts");
  const { toGraphModel } = await import("../core/export/graph_model.ts");
  const { unitBlocks } = await import("../plugins/divide-conquer/blocks.ts");
  const w = tf.randomNormal([6, 8], 0, 1, "float32", 3);
  // unitBlocks reshapes to [batch, 2, 4]: the traced shape must become [-1, 2, 4].
  const net = (x: import("@tensorflow/tfjs-core").Tensor) =>
    tf.tidy(() => unitBlocks(tf.relu(tf.matMul(tf.reshape(x, [-1, 6]), w)) as never, 2));
  const before = tf.memory().numTensors;
  const graph = traceGraph(net, [2, 3]);
  assertEquals(tf.memory().numTensors, before);
  const { modelJson, shards } = toGraphModel(graph, "test");
  const json = modelJson as { modelTopology: object; weightsManifest: [{ weights: never[] }] };
  const model = await loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: shards[0][1].slice().buffer,
  }));
  for (const batch of [1, 5]) {
    const x = tf.randomNormal([batch, 2, 3], 0, 1, "float32", batch);
    const [got, want] = [model.predict(x) as import("@tensorflow/tfjs-core").Tensor, net(x)];
    assertClose(got.dataSync(), want.dataSync(), { atol: 1e-6 });
    tf.dispose([x, got, want]);
  }
  model.dispose();
  w.dispose();
});
