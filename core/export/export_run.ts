/**
 * A trained run's evaluation-space network as a standalone tfjs GraphModel: the pixel map the
 * dataset applies (pixels.ts), the backbone in eval mode, and the loss's evalTransform (or the
 * pre-head features for `space: features`), traced on the cpu backend (trace.ts) and written as
 * `model.json` + shards (graph_model.ts), with `export.json` saying what the model takes and gives.
 *
 * Before anything is written the files are loaded back with tfjs-converter and run on real items
 * of the evaluation split; they must give the run's own embeddings (max abs difference <= 1e-4),
 * or the export is refused. The folder appears whole or not at all.
 *
 * ```ts
 * const out = await exportRun(registry, "runs/quickstart/2026-12-01T10-00-00", { out: "runs/qs-model" });
 * ```
 */
import { tf } from "../tf.ts";
import type { Tensor, Tensor2D } from "@tensorflow/tfjs-core";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import { DmlError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import type { Dataset } from "../types.ts";
import { restoreRun } from "../commands/embed.ts";
import { Rng } from "../rng.ts";
import { traceGraph } from "./trace.ts";
import { type GraphModelFiles, OUTPUT_NODE, toGraphModel } from "./graph_model.ts";
import { applyPixelMap, measurePixelMap, type PixelMap } from "./pixels.ts";
import { EXPORT_FORMAT, type ExportInfo } from "./export_info.ts";
import { checkWritable, replaceFolder } from "../writable.ts";

/** Largest difference allowed between the exported model and the run's own embedding. */
export const EXPORT_TOLERANCE = 1e-4;
/** Items of the evaluation split the written model is checked on. */
const CHECK_ITEMS = 16;

export interface ExportOptions {
  /** Folder to write (replaced whole); default RUN/export. */
  out?: string;
  sets?: string[];
  space?: string;
}

/** Exports the run; returns the folder written. */
export async function exportRun(registry: Registry, run: string, o: ExportOptions = {}): Promise<string> {
  if (o.space !== undefined && o.space !== "embedding" && o.space !== "features") {
    throw new DmlError(`export: --space must be embedding or features, got '${o.space}'`);
  }
  const out = (o.out ?? `${run}/export`).replace(/\/+$/, "");
  await checkWritable(out, "export");
  // cpu: the trace must see tfjs's own kernels, not a backend's fused host kernels.
  const { recipe, components: c, checkpoint } = await restoreRun(registry, run, o.sets ?? [], "export", "cpu");
  const space = (o.space ?? recipe.eval.space) as "embedding" | "features";
  const split: Dataset | undefined = c.data.test ?? c.data.gallery;
  if (!split) throw new DmlError(`export ${run}: the dataset has no test or gallery split to check the export on`);
  if (space === "features" && !c.backbone.features) {
    throw new DmlError(`export ${run}: --space features, but the backbone has no features`);
  }
  const network = (x: Tensor): Tensor2D => {
    if (space === "features") return c.backbone.features!(x, false);
    const e = c.backbone.embed(x, false);
    return c.loss.evalTransform ? c.loss.evalTransform(e) : e;
  };
  const pixels = await measurePixelMap(split);
  const itemShape = pixels?.shape ?? split.shape;
  const model = (x: Tensor): Tensor2D => tf.tidy(() => network(pixels ? applyPixelMap(x, pixels) : x));
  const graph = traceGraph(model, itemShape);
  const files = toGraphModel(graph, `dml ${run}`);
  const maxDiff = await checkExport(files, split, network, pixels);
  const evalOptions = recipe.eval as Record<string, unknown>;
  const info: ExportInfo = {
    format: EXPORT_FORMAT,
    run,
    checkpoint,
    recipe: String(recipe.name ?? ""),
    backbone: String((recipe.backbone as { use?: string }).use ?? ""),
    loss: String((recipe.loss as { use?: string }).use ?? ""),
    space,
    evalTransform: space === "embedding" && !!c.loss.evalTransform,
    input: {
      node: graph.input,
      shape: itemShape,
      pixels: pixels ? { mean: pixels.mean, std: pixels.std, source: pixels.source } : null,
    },
    output: { node: OUTPUT_NODE, dim: graph.outputDim },
    metric: (evalOptions.metric as "cosine" | "euclidean" | undefined) ?? "cosine",
    center: !!evalOptions.center,
    check: { items: Math.min(CHECK_ITEMS, split.size), maxAbsDiff: maxDiff },
  };
  return await writeFolder(out, files, info);
}

/** Runs the files through tfjs-converter on the first items of `split` against the run's network. */
async function checkExport(
  files: GraphModelFiles,
  split: Dataset,
  network: (x: Tensor) => Tensor2D,
  pixels: PixelMap | null,
): Promise<number> {
  const json = files.modelJson as {
    modelTopology: object;
    weightsManifest: [{ weights: tf.io.WeightsManifestEntry[] }];
  };
  const model = await loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: concat(files.shards.map(([, b]) => b)).buffer as ArrayBuffer,
  }));
  const n = Math.min(CHECK_ITEMS, split.size);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const input = pixels ? await pixelBatch(split, idx) : split.batch(idx, { augment: false, rng: new Rng(0) });
  const x = split.batch(idx, { augment: false, rng: new Rng(0) });
  try {
    const want = tf.tidy(() => network(x)).dataSync();
    const got = tf.tidy(() => model.predict(input) as Tensor).dataSync();
    if (want.length !== got.length) {
      throw new DmlError(`export: the exported model gives ${got.length} values, not ${want.length}`);
    }
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i] - got[i]));
    if (!(max <= EXPORT_TOLERANCE)) {
      throw new DmlError(
        `export: the exported model differs from the run's embedding by ${max} (> ${EXPORT_TOLERANCE})`,
      );
    }
    return max;
  } finally {
    tf.dispose([x, input]);
    model.dispose();
  }
}

/** Items' test-time pixels as float32 [n, H, W, C]. */
export async function pixelBatch(split: Dataset, idx: Int32Array): Promise<Tensor> {
  const images = await Promise.all([...idx].map((i) => split.image!(i)));
  const { height, width, channels } = images[0];
  const data = new Float32Array(idx.length * height * width * channels);
  images.forEach((im, k) => data.set(im.data, k * height * width * channels));
  return tf.tensor4d(data, [idx.length, height, width, channels]);
}

/** Writes the model and export.json beside `out`, then renames the folder into place. */
async function writeFolder(out: string, files: GraphModelFiles, info: ExportInfo): Promise<string> {
  await replaceFolder(out, async (tmp) => {
    await Deno.writeTextFile(`${tmp}/model.json`, JSON.stringify(files.modelJson));
    for (const [name, bytes] of files.shards) await Deno.writeFile(`${tmp}/${name}`, bytes);
    await Deno.writeTextFile(`${tmp}/export.json`, JSON.stringify(info, null, 2) + "\n");
  });
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}
