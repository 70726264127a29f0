/**
 * Image files embedded by an exported model (`deno task export`), as a service would: each file
 * decoded by sharp, scaled to cover the model's input and centre-cropped (torchvision's Resize +
 * CenterCrop when the dataset resized to the input size), made grey or RGB as the model expects,
 * and run through the GraphModel by tfjs-converter. A file that cannot be decoded is a DmlError
 * naming it, raised before any model runs.
 *
 * ```ts
 * const { data, n, dim } = await embedImages("runs/x/export", ["shirt.jpg", "coat.png"]);
 * ```
 */
import { tf } from "../tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import { DmlError } from "../errors.ts";
import { MANIFEST_BYTES, readBounded, readTextBounded } from "../bounded_read.ts";
import { type ExportInfo, readExportInfo } from "../export/export_info.ts";

/** Reads an exported model folder (model.json and its shards) into a GraphModel. */
export async function loadExportedModel(
  dir: string,
): Promise<{ info: ExportInfo; model: Awaited<ReturnType<typeof loadGraphModel>> }> {
  const info = await readExportInfo(dir);
  let json: {
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  try {
    json = JSON.parse(await readTextBounded(`${dir}/model.json`, "model description", MANIFEST_BYTES));
  } catch (e) {
    if (e instanceof DmlError) throw e;
    throw new DmlError(`${dir}/model.json: unreadable (${(e as Error).message.split("\n")[0]})`);
  }
  const shards = await Promise.all(
    json.weightsManifest.flatMap((g) => g.paths).map((p) => readBounded(`${dir}/${p}`, "weight shard")),
  );
  const bytes = new Uint8Array(shards.reduce((s, b) => s + b.byteLength, 0));
  let at = 0;
  for (const b of shards) bytes.set(b, at), at += b.byteLength;
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (expected !== bytes.byteLength) {
    throw new DmlError(`${dir}: weight shards hold ${bytes.byteLength} bytes, model.json expects ${expected}`);
  }
  const model = await loadGraphModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: bytes.buffer }),
  );
  return { info, model };
}

/** Decodes each file to the model's input pixels (float32 0..255, [n, H, W, C]). */
export async function decodeImages(paths: string[], shape: number[]): Promise<Float32Array> {
  const { default: sharp } = await import("sharp");
  const [h, w, c] = shape;
  if (c !== 1 && c !== 3) throw new DmlError(`the model takes ${c}-channel images; only grey (1) or RGB (3) decode`);
  const out = new Float32Array(paths.length * h * w * c);
  for (let i = 0; i < paths.length; i++) {
    let raw: Uint8Array;
    try {
      const img = sharp(await readBounded(paths[i], "image")).rotate().removeAlpha();
      const coloured = c === 1 ? img.greyscale().toColourspace("b-w") : img.toColourspace("srgb");
      raw = await coloured.resize(w, h, { fit: "cover", position: "centre" }).raw().toBuffer();
    } catch (e) {
      if (e instanceof DmlError) throw e;
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
      throw new DmlError(`${paths[i]}: cannot decode the image (${(e as Error).message.split("\n")[0]})`);
    }
    if (raw.length !== h * w * c) throw new DmlError(`${paths[i]}: decoded to ${raw.length} bytes, not ${h}×${w}×${c}`);
    out.set(raw, i * h * w * c);
  }
  return out;
}

/** Embeds image files with the exported model in `dir`; returns row-major [n, dim]. */
export async function embedImages(
  dir: string,
  paths: string[],
): Promise<{ data: Float32Array; n: number; dim: number; info: ExportInfo }> {
  const { info, model } = await loadExportedModel(dir);
  try {
    if (!info.input.pixels) throw new DmlError(`${dir}: the model takes the dataset's own input, not image files`);
    const pixels = await decodeImages(paths, info.input.shape);
    const data = tf.tidy(() => {
      const x = tf.tensor(pixels, [paths.length, ...info.input.shape]);
      return (model.predict(x) as Tensor).dataSync() as Float32Array;
    });
    return { data: Float32Array.from(data), n: paths.length, dim: info.output.dim, info };
  } finally {
    model.dispose();
  }
}
