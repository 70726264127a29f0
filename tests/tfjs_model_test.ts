import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor4D } from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import type { Backbone } from "../core/types.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { assertClose, assertNoLeak } from "./util.ts";
import { saveLayersModel } from "./layers_model_files.ts";

const registry = createRegistry();

function backbone(options: Record<string, unknown>, inputShape = [12, 12, 3]): Promise<Backbone> {
  return registry.create<Backbone>("backbone", "tfjs-model", options, {
    path: "backbone",
    rng: new Rng(0),
    registry,
    shared: new Map(),
    inputShape,
  });
}

function smallCnn(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 3] });
  let h = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: "same", name: "conv1" }).apply(
    input,
  ) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization({ name: "bn1" }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: "relu", name: "relu1" }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, name: "conv2" }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 10, name: "logits" }).apply(
    tfl.layers.flatten().apply(h),
  ) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

Deno.test("a saved tfjs LayersModel loads as a backbone cut at a named layer, with the same outputs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = smallCnn();
    // Non-trivial BatchNorm moments, so inference mode differs from identity.
    const bn = model.getLayer("bn1");
    bn.setWeights(bn.getWeights().map((w, i) => tf.add(w, tf.fill(w.shape, 0.1 * (i + 1)))));
    const path = await saveLayersModel(model, dir);
    const x = tf.randomNormal([3, 12, 12, 3], 0, 1, "float32", 5) as Tensor4D;
    const cut = tfl.model({ inputs: model.inputs, outputs: model.getLayer("relu1").output as tfl.SymbolicTensor });
    const want = tf.mean(cut.predict(x) as Tensor4D, [1, 2]);

    const net = await backbone({ path, layer: "relu1", dim: 0, normalize: false });
    assertEquals(net.dim, 6);
    assertClose(net.embed(x, false).dataSync(), want.dataSync(), { atol: 1e-5 });
    await assertNoLeak(() => tf.dispose(net.embed(x, true)), "a training pass through the LayersModel");
    // The model's output layer, pooled nothing (it is [B, 10]), with a 4-d unit-norm head on top.
    const whole = await backbone({ path, dim: 4 });
    const e = whole.embed(x, false);
    assertEquals(e.shape, [3, 4]);
    assertClose(tf.norm(e, 2, 1).dataSync(), [1, 1, 1]);

    // Fine-tuning reaches the loaded weights; frozenBatchNorm keeps the moments in training.
    assertEquals(net.trainableWeights.length, 4); // conv1 kernel and bias, bn gamma and beta
    assertEquals(net.stateWeights!.length, 2);
    const { grads } = tf.variableGrads(() => tf.sum(net.embed(x, true)) as Scalar, net.trainableWeights);
    assert(net.trainableWeights.every((v) => grads[v.name] !== undefined), "a model weight got no gradient");
    const frozen = await backbone({ path, layer: "relu1", dim: 0, normalize: false, frozenBatchNorm: true });
    assertClose(frozen.embed(x, true).dataSync(), want.dataSync(), { atol: 1e-5 });
    const fixed = await backbone({ path, layer: "relu1", dim: 3, trainable: false });
    assertEquals(fixed.trainableWeights.length, 2); // the head only
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A tiny frozen graph (what tensorflowjs_converter writes for a SavedModel): conv -> bias -> relu. */
async function saveGraphModel(dir: string, w: Float32Array, b: Float32Array): Promise<string> {
  const f = { type: "DT_FLOAT" };
  const s = (text: string) => ({ s: btoa(text) });
  const ones = { list: { i: ["1", "1", "1", "1"] } };
  const nodes = [
    {
      name: "image",
      op: "Placeholder",
      attr: { dtype: f, shape: { shape: { dim: [{ size: "-1" }, { size: "12" }, { size: "12" }, { size: "3" }] } } },
    },
    {
      name: "w",
      op: "Const",
      attr: {
        dtype: f,
        value: { tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [3, 3, 3, 4].map((d) => ({ size: String(d) })) } } },
      },
    },
    {
      name: "b",
      op: "Const",
      attr: { dtype: f, value: { tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [{ size: "4" }] } } } },
    },
    {
      name: "conv",
      op: "Conv2D",
      input: ["image", "w"],
      attr: { T: f, strides: ones, dilations: ones, padding: s("SAME"), data_format: s("NHWC") },
    },
    { name: "biased", op: "BiasAdd", input: ["conv", "b"], attr: { T: f, data_format: s("NHWC") } },
    { name: "features", op: "Relu", input: ["biased"], attr: { T: f } },
    {
      name: "logits",
      op: "Sum",
      input: ["features", "axes"],
      attr: { T: f, Tidx: { type: "DT_INT32" }, keep_dims: { b: false } },
    },
    {
      name: "axes",
      op: "Const",
      attr: {
        dtype: { type: "DT_INT32" },
        value: { tensor: { dtype: "DT_INT32", tensorShape: { dim: [{ size: "2" }] } } },
      },
    },
  ];
  const bytes = new Uint8Array(w.byteLength + b.byteLength + 8);
  bytes.set(new Uint8Array(w.buffer), 0);
  bytes.set(new Uint8Array(b.buffer), w.byteLength);
  bytes.set(new Uint8Array(Int32Array.of(1, 2).buffer), w.byteLength + b.byteLength);
  await Deno.writeFile(`${dir}/group1-shard1of1.bin`, bytes);
  await Deno.writeTextFile(
    `${dir}/model.json`,
    JSON.stringify({
      format: "graph-model",
      generatedBy: "dml tests",
      modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
      weightsManifest: [{
        paths: ["group1-shard1of1.bin"],
        weights: [
          { name: "w", shape: [3, 3, 3, 4], dtype: "float32" },
          { name: "b", shape: [4], dtype: "float32" },
          { name: "axes", shape: [2], dtype: "int32" },
        ],
      }],
    }),
  );
  return `${dir}/model.json`;
}

Deno.test("a tfjs GraphModel loads frozen, cut at a named node; only the head trains", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rng = new Rng(3);
    const w = Float32Array.from({ length: 108 }, () => rng.normal() * 0.3);
    const b = Float32Array.from({ length: 4 }, () => rng.normal() * 0.1);
    const path = await saveGraphModel(dir, w, b);
    const x = tf.randomNormal([2, 12, 12, 3], 0, 1, "float32", 9) as Tensor4D;
    const want = tf.max(tf.relu(tf.add(tf.conv2d(x, tf.tensor4d(w, [3, 3, 3, 4]), 1, "same"), b)), [1, 2]);
    const net = await backbone({ path, layer: "features", pooling: "max", dim: 0, normalize: false, trainable: false });
    assertClose(net.embed(x, false).dataSync(), want.dataSync(), { atol: 1e-5 });
    await assertNoLeak(() => tf.dispose(net.embed(x, true)), "a pass through the GraphModel");
    const headed = await backbone({ path, layer: "features", dim: 3 });
    assertEquals(headed.trainableWeights.length, 2);
    // Without `layer` the graph's output node is used: [B, 4] sums.
    await rejects(
      backbone({ path, dim: 0 }),
      (e: Error) => e instanceof DmlError && e.message.includes("nothing would train"),
    );
    const out = await backbone({ path, dim: 0, normalize: false, trainable: false });
    assertClose(
      out.embed(x, false).dataSync(),
      tf.sum(tf.relu(tf.add(tf.conv2d(x, tf.tensor4d(w, [3, 3, 3, 4]), 1, "same"), b)), [1, 2]).dataSync(),
      {
        atol: 1e-4,
      },
    );
    await rejects(
      backbone({ path, layer: "featurs" }),
      (e: Error) => e instanceof DmlError && e.message.includes("did you mean 'features'"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a model file of the wrong format, or missing weights, is one clear line", async () => {
  const dir = await Deno.makeTempDir();
  const fails = (options: Record<string, unknown>, part: string, shape?: number[]) =>
    rejects(backbone(options, shape), (e: Error) => {
      assert(e instanceof DmlError && !e.message.includes("\n"), String(e));
      assert(e.message.includes(part), `'${e.message}' lacks '${part}'`);
      return true;
    });
  try {
    await fails({ path: `${dir}/none.json` }, "none.json: no such file");
    await Deno.writeTextFile(`${dir}/text.json`, "<html>not json</html>");
    await fails({ path: `${dir}/text.json` }, "is not a tfjs model.json");
    await Deno.writeTextFile(`${dir}/keras.json`, JSON.stringify({ class_name: "Sequential", config: {} }));
    await fails({ path: `${dir}/keras.json` }, "no modelTopology");
    await Deno.writeTextFile(
      `${dir}/odd.json`,
      JSON.stringify({ format: "onnx", modelTopology: {}, weightsManifest: [] }),
    );
    await fails({ path: `${dir}/odd.json` }, "neither a layers-model nor a graph-model");
    const path = await saveLayersModel(smallCnn(), dir);
    await fails({ path, layer: "conv9" }, "has no layer 'conv9'");
    await fails({ path }, "takes inputs [12,12,3], the dataset gives [16,16,3]", [16, 16, 3]);
    const weights = await Deno.readFile(`${dir}/weights.bin`);
    await Deno.writeFile(`${dir}/weights.bin`, weights.subarray(0, 100));
    await fails({ path }, "hold 100 bytes");
    await Deno.remove(`${dir}/weights.bin`);
    await fails({ path }, "weights.bin listed in");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
