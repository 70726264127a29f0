/**
 * Short trained runs of every built-in backbone (and BIER's and divide-and-conquer's test-time
 * transforms), embedded by `deno task embed` and exported by `deno task export`, with the 8-bit
 * pixels of their first test items: what the export tests run in plain tfjs and in Chromium.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import * as tfl from "@tensorflow/tfjs-layers";
import { tf } from "../core/tf.ts";
import { main } from "../core/cli.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { readNpy } from "../core/npy.ts";
import { restoreRun } from "../core/commands/embed.ts";
import { pixelBatch } from "../core/export/export_run.ts";
import { type ExportInfo, readExportInfo } from "../core/export/export_info.ts";
import { closeDecodePool } from "../core/images/decode_pool.ts";
import { fakeImageFolder } from "./image_fixtures.ts";
import { saveLayersModel } from "./layers_model_files.ts";

/** Items of the test split compared. */
const ITEMS = 24;

const COMMON = `
seed: 0
optimizer: { use: adam, lr: 0.01 }
train: { epochs: 1, maxSteps: 3, backend: auto }
output: runs
`;
const FASHION = "data: { use: fashion-mnist, limit: 400, testPerClass: 12 }\n";
const SAMPLER = "sampler: { use: m-per-class, classes: 4, perClass: 4 }\n";

export interface ExportCase {
  name: string;
  /** Recipe lines; fashion-mnist and an m-per-class sampler unless given. */
  body: (dir: string) => Promise<string>;
  space: "embedding" | "features";
}

const plain = (body: string) => () => Promise.resolve(body);

export const CASES: ExportCase[] = [
  {
    name: "convnet",
    space: "features",
    body: plain(`backbone: { use: convnet, channels: [4, 8], dim: 16, pool: flatten }
loss: { use: multi-similarity }
eval: { use: retrieval, recallAt: [1], space: features, center: true }`),
  },
  {
    name: "mlp",
    space: "embedding",
    body: plain(`backbone: { use: mlp, hidden: [24, 16], dim: 12, batchNorm: true }
loss: { use: contrastive }
eval: { use: retrieval, recallAt: [1] }`),
  },
  {
    name: "bier",
    space: "embedding",
    body: plain(`backbone: { use: mlp, hidden: [32], dim: 24, normalize: false }
loss: { use: bier, groups: [4, 8, 12] }
eval: { use: retrieval, recallAt: [1] }`),
  },
  {
    name: "dnc",
    space: "embedding",
    body: plain(`backbone: { use: mlp, hidden: [32], dim: 16 }
sampler: { use: divide-conquer, clusters: 2, classes: 2, perClass: 4, reclusterEvery: 1, fullEmbeddingFrom: 5 }
loss: { use: divide-conquer, base: { use: margin } }
eval: { use: retrieval, recallAt: [1] }`),
  },
  {
    name: "resnet",
    space: "embedding",
    body: plain(`backbone: { use: resnet, depth: 18, width: 4, dim: 16, pooling: max }
loss: { use: multi-similarity }
eval: { use: retrieval, recallAt: [1] }`),
  },
  {
    // BN-Inception takes 64 × 64 RGB at least: a folder of JPEGs, fed as the Caffe weights want
    // (BGR, 0..255 less a per-channel mean), so the exported model reorders and shifts channels.
    name: "bninception",
    space: "embedding",
    body: async (dir) => {
      const { root } = await fakeImageFolder(dir, { classes: 4, perClass: 3 });
      return `data: { use: image-folder, root: ${root}, size: 64, resize: 72, bgr: true, range: 255, ` +
        `mean: [104, 117, 123], std: [1, 1, 1] }
sampler: { use: m-per-class, classes: 2, perClass: 3 }
backbone: { use: bn-inception, slim: 16, dim: 16, pooling: avg+max }
loss: { use: multi-similarity }
eval: { use: retrieval, recallAt: [1] }`;
    },
  },
  {
    name: "tfjsmodel",
    space: "embedding",
    body: async (dir) => {
      const path = await saveKerasModel(`${dir}/keras`);
      return `backbone: { use: tfjs-model, path: ${path}, dim: 16, frozenBatchNorm: true }
loss: { use: multi-similarity }
eval: { use: retrieval, recallAt: [1] }`;
    },
  },
];

/** A small Keras-style model (conv, BatchNorm with moved moments, conv + fused ReLU), saved as tfjs files. */
async function saveKerasModel(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const input = tfl.input({ shape: [28, 28, 1] });
  let h = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "same", name: "conv1" }).apply(input);
  h = tfl.layers.batchNormalization({ name: "bn1" }).apply(h);
  h = tfl.layers.activation({ activation: "relu", name: "relu1" }).apply(h);
  h = tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", name: "conv2" }).apply(h);
  const model = tfl.model({ inputs: input, outputs: h as tfl.SymbolicTensor });
  const bn = model.getLayer("bn1");
  bn.setWeights(bn.getWeights().map((w, i) => tf.add(w, tf.fill(w.shape, 0.1 * (i + 1)))));
  return await saveLayersModel(model, dir);
}

/** Runs `fn` with console.log and console.warn swallowed (errors still show). */
export async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log, warn = console.warn;
  console.log = () => {}, console.warn = () => {};
  try {
    return await fn();
  } finally {
    console.log = log, console.warn = warn;
  }
}

/** Trains a recipe (name + body) for a few steps under DIR/runs; returns the run folder. */
export async function trainRun(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}.yaml`;
  const data = body.includes("data:") ? "" : FASHION, sampler = body.includes("sampler:") ? "" : SAMPLER;
  await Deno.writeTextFile(path, `name: ${name}\n${COMMON}${data}${sampler}${body}`);
  const args = ["train", path, "--set", `output=${dir}/runs`, "--quiet"];
  assertEquals(await quiet(() => main(args, createRegistry())), 0);
  const [stamp] = [...Deno.readDirSync(`${dir}/runs/${name}`)].map((e) => e.name);
  return `${dir}/runs/${name}/${stamp}`;
}

export interface ExportedCase {
  run: string;
  info: ExportInfo;
  /** The first n test items' pixels, float32 0..255, [n, ...info.input.shape]. */
  pixels: Float32Array;
  n: number;
  /** Their rows of embed's test.npy. */
  want: Float32Array;
}

/** Trains, embeds and exports `c` under `dir`. */
export async function exportedCase(dir: string, c: ExportCase): Promise<ExportedCase> {
  const run = await trainRun(dir, c.name, await c.body(dir));
  try {
    assertEquals(await quiet(() => main(["embed", run, "--space", c.space], createRegistry())), 0);
    assertEquals(await quiet(() => main(["export", run, "--space", c.space], createRegistry())), 0);
    const info = await readExportInfo(`${run}/export`);
    const embedded = await readNpy(`${run}/embeddings/${c.space}/test.npy`);
    const [n, dim] = [Math.min(ITEMS, embedded.shape[0]), embedded.shape[1]];
    assertEquals(info.output.dim, dim);
    ok(info.input.pixels, "the dataset's input is a pixel map");
    const { components } = await quiet(() => restoreRun(createRegistry(), run, [], "test"));
    const x = await pixelBatch(components.data.test!, Int32Array.from({ length: n }, (_, i) => i));
    const pixels = x.dataSync() as Float32Array;
    x.dispose();
    ok(pixels.some((v) => v > 1), "the model takes 0..255 pixels");
    return { run, info, pixels, n, want: (embedded.data as Float32Array).slice(0, n * dim) };
  } finally {
    closeDecodePool();
  }
}
