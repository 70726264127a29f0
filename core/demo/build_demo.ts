/**
 * The demo site of a run: a static page (core/demo/page/) with tfjs's browser bundles, the run's
 * exported model, and a gallery of its evaluation images: their embeddings by that same exported
 * model (gallery.f32), labels, class names and ids (gallery.json), and a sheet of thumbnails
 * (thumbs.png). Any file server can serve the folder; the page does the rest.
 *
 * ```ts
 * const dir = await buildDemo(registry, "runs/quickstart/2026-12-01T10-00-00", { limit: 2000, k: 8 });
 * ```
 */
import { tf } from "../tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import { DmlError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { restoreRun } from "../commands/embed.ts";
import { pixelBatch } from "../export/export_run.ts";
import { loadExportedModel } from "../search/embed_images.ts";
import { galleryMean } from "../search/gallery.ts";
import { checkWritable, replaceFolder } from "../writable.ts";
import { RunFolder } from "../run_folder.ts";
import { copyTfjsBundles } from "./bundles.ts";
import { encodePng } from "./png.ts";

export interface DemoOptions {
  out?: string;
  /** Gallery images at most (evenly spaced over the split). */
  limit: number;
  /** Neighbours shown. */
  k: number;
}

/** Side of a thumbnail at most (larger items are box-downscaled). */
const THUMB = 64;
const BATCH = 256;

/** Writes the demo folder (default RUN/demo), whole or not at all; returns its path. */
export async function buildDemo(registry: Registry, run: string, o: DemoOptions): Promise<string> {
  const out = (o.out ?? `${run}/demo`).replace(/\/+$/, "");
  await checkWritable(out, "demo");
  // The cheap checks first, so that one of them is the only line printed (the data's notices follow a load).
  await RunFolder.latestCheckpoint(run, `demo ${run}`);
  const exportDir = `${run}/export`;
  if (!(await Deno.stat(`${exportDir}/export.json`).then(() => true, () => false))) {
    throw new DmlError(`demo ${run}: no exported model in ${exportDir} (run deno task export ${run} first)`);
  }
  const { info, model } = await loadExportedModel(exportDir);
  try {
    if (!info.input.pixels) throw new DmlError(`demo ${run}: the exported model does not take image pixels`);
    const { components } = await restoreRun(registry, run, [], "demo", "cpu");
    const split = components.data.gallery ?? components.data.test;
    if (!split?.image) throw new DmlError(`demo ${run}: the dataset has no gallery or test images to show`);
    const n = Math.min(o.limit, split.size);
    const rows = Int32Array.from({ length: n }, (_, i) => Math.floor((i * split.size) / n));
    const [h, w, c] = info.input.shape;
    const dim = info.output.dim;
    const embeddings = new Float32Array(n * dim);
    const side = Math.min(THUMB, Math.max(h, w)), cols = Math.ceil(Math.sqrt(n));
    const sheet = new Uint8Array(cols * side * Math.ceil(n / cols) * side * c);
    for (let start = 0; start < n; start += BATCH) {
      const idx = rows.subarray(start, Math.min(n, start + BATCH));
      const x = await pixelBatch(split, idx);
      const e = tf.tidy(() => model.predict(x) as Tensor);
      if (e.shape[1] !== dim) {
        throw new DmlError(`demo: the model gives ${e.shape[1]}-d embeddings, export.json ${dim}`);
      }
      embeddings.set(e.dataSync(), start * dim);
      const pixels = x.dataSync();
      tf.dispose([x, e]);
      for (let k = 0; k < idx.length; k++) {
        placeThumb(sheet, cols, side, pixels.subarray(k * h * w * c, (k + 1) * h * w * c), [h, w, c], start + k);
      }
    }
    const gallery = {
      n,
      dim,
      k: Math.min(o.k, n),
      metric: info.metric,
      center: info.center,
      mean: info.center ? Array.from(galleryMean({ data: embeddings, n, dim })) : null,
      labels: Array.from(rows, (r) => split.labels[r]),
      classNames: split.classNames ?? null,
      ids: Array.from(rows, String),
      thumbs: { size: side, cols },
    };
    const sheetRows = Math.ceil(n / cols) * side;
    return await writeSite(out, exportDir, {
      "gallery.json": new TextEncoder().encode(JSON.stringify(gallery)),
      "gallery.f32": new Uint8Array(embeddings.buffer),
      "thumbs.png": encodePng(cols * side, sheetRows, c as 1 | 3, sheet),
    });
  } finally {
    model.dispose();
  }
}

/** Item `i`'s pixels, box-downscaled to side × side, into its cell of the sheet. */
function placeThumb(
  sheet: Uint8Array,
  cols: number,
  side: number,
  pixels: ArrayLike<number>,
  [h, w, c]: number[],
  i: number,
): void {
  const x0 = (i % cols) * side, y0 = Math.floor(i / cols) * side, width = cols * side;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const ya = Math.floor((y * h) / side), yb = Math.max(ya + 1, Math.floor(((y + 1) * h) / side));
      const xa = Math.floor((x * w) / side), xb = Math.max(xa + 1, Math.floor(((x + 1) * w) / side));
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) sum += pixels[(yy * w + xx) * c + k];
        sheet[((y0 + y) * width + x0 + x) * c + k] = Math.round(sum / ((yb - ya) * (xb - xa)));
      }
    }
  }
}

/** The page, the bundles, the model and `files`, written beside `out` and renamed into place. */
async function writeSite(out: string, exportDir: string, files: Record<string, Uint8Array>): Promise<string> {
  await replaceFolder(out, async (tmp) => {
    await Deno.mkdir(`${tmp}/model`);
    for (const page of ["index.html", "demo.js"]) {
      await Deno.copyFile(new URL(`./page/${page}`, import.meta.url), `${tmp}/${page}`);
    }
    await copyTfjsBundles(tmp);
    for await (const e of Deno.readDir(exportDir)) {
      if (e.isFile) await Deno.copyFile(`${exportDir}/${e.name}`, `${tmp}/model/${e.name}`);
    }
    for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(`${tmp}/${name}`, bytes);
  });
  return out;
}
