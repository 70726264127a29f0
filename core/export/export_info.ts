/**
 * `export.json`, written beside an exported model: what the model takes (pixels 0..255, NHWC, and
 * the normalisation it applies itself) and gives (the embedding and how to compare embeddings).
 * A page or service needs nothing else to use the model.
 *
 * ```json
 * { "format": "dml-export-1", "input": { "node": "input", "shape": [28, 28, 1],
 *   "pixels": { "mean": [70.23825], "std": [255], "source": [0] } },
 *   "output": { "node": "embedding", "dim": 3136 }, "metric": "cosine", "center": true, ... }
 * ```
 */
import { DmlError } from "../errors.ts";
import { readTextIfExists } from "../bounded_read.ts";

export const EXPORT_FORMAT = "dml-export-1";

export interface ExportInfo {
  format: typeof EXPORT_FORMAT;
  run: string;
  checkpoint: string;
  recipe: string;
  backbone: string;
  loss: string;
  /** embedding (with the loss's evalTransform) or features (before the head). */
  space: "embedding" | "features";
  evalTransform: boolean;
  input: {
    node: string;
    /** [height, width, channels] of one item. */
    shape: number[];
    /**
     * The normalisation inside the model: input channel c = (pixel[source[c]] - mean[c]) / std[c],
     * pixels 0..255 in the dataset's channel order (RGB, or grey). null: the model takes the
     * dataset's network input as is (a dataset without 8-bit images).
     */
    pixels: { mean: number[]; std: number[]; source: number[] } | null;
  };
  output: { node: string; dim: number };
  /** How the run's evaluation compares embeddings. */
  metric: "cosine" | "euclidean";
  /** Whether the evaluation subtracts the gallery's mean embedding before the metric. */
  center: boolean;
  /** The check export made before writing: items of the evaluation split, largest difference. */
  check: { items: number; maxAbsDiff: number };
}

/** Reads DIR/export.json; a missing or foreign file is a DmlError naming it. */
export async function readExportInfo(dir: string): Promise<ExportInfo> {
  const path = `${dir.replace(/\/+$/, "")}/export.json`;
  const text = await readTextIfExists(path, "export description");
  if (text === null) throw new DmlError(`${path} does not exist (run deno task export first)`);
  let info: ExportInfo;
  try {
    info = JSON.parse(text);
  } catch (e) {
    throw new DmlError(`${path}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (info?.format !== EXPORT_FORMAT) {
    throw new DmlError(`${path}: not a dml export (format ${JSON.stringify(info?.format)}, expected ${EXPORT_FORMAT})`);
  }
  return info;
}
