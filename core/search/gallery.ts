/**
 * The gallery a search ranks: embeddings with their labels and item ids, and how the run compares
 * them (metric, centring). From a run folder it is what `deno task embed` wrote (the `gallery`
 * split, or `test` for one-set datasets) in the run's evaluation space, compared as the run's
 * evaluation does (export.json when exported, else the recipe's `eval`); or any .npy files.
 *
 * ```ts
 * const g = await loadGallery({ run: "runs/quickstart/2026-12-01T10-00-00" });
 * g.n; g.dim; g.labels; g.metric; // "cosine"
 * ```
 */
import { DmlError } from "../errors.ts";
import { MANIFEST_BYTES, readTextBounded, readTextIfExists } from "../bounded_read.ts";
import { parseRecipeText } from "../recipe.ts";
import { readNpy } from "../npy.ts";
import { readExportInfo } from "../export/export_info.ts";

export interface Gallery {
  /** Row-major [n, dim], as stored (not centred or normalised). */
  data: Float32Array;
  n: number;
  dim: number;
  /** Per row, or null when no labels were given. */
  labels: Int32Array | null;
  /** Per row: the id printed for it (its row number unless ids were given). */
  ids: string[];
  metric: "cosine" | "euclidean";
  /** Subtract the gallery's mean embedding before the metric (the run's eval.center). */
  center: boolean;
  /** Where the embeddings came from, for messages and the index's record. */
  source: string;
}

export interface GallerySpec {
  run?: string;
  embeddings?: string;
  labels?: string;
  /** A text file with one id per gallery row. */
  ids?: string;
  metric?: string;
  center?: boolean;
}

/** How a run compares embeddings and in which space: export.json when present, else recipe.yaml's eval. */
export async function runSpace(
  run: string,
): Promise<{ space: string; metric: "cosine" | "euclidean"; center: boolean }> {
  const exported = await Deno.stat(`${run}/export/export.json`).then(() => true, () => false);
  if (exported) {
    const info = await readExportInfo(`${run}/export`);
    return { space: info.space, metric: info.metric, center: info.center };
  }
  const text = await readTextIfExists(`${run}/recipe.yaml`, "recipe file");
  if (text === null) throw new DmlError(`${run}: not a run folder (no recipe.yaml)`);
  const section = parseRecipeText(text, `${run}/recipe.yaml`).eval;
  const evalOptions = (section !== null && typeof section === "object" ? section : {}) as Record<string, unknown>;
  return {
    space: evalOptions.space === "features" ? "features" : "embedding",
    metric: evalOptions.metric === "euclidean" ? "euclidean" : "cosine",
    center: evalOptions.center === true,
  };
}

/** Where a gallery's files are and how it is compared, with its size from the .npy header (no data read). */
export interface GalleryFiles {
  embeddings: string;
  labels?: string;
  ids?: string;
  metric: "cosine" | "euclidean";
  center: boolean;
  n: number;
  dim: number;
}

/** Resolves `spec` to files (a run's: embed's gallery or test split in the run's space) and reads the header. */
export async function resolveGallery(spec: GallerySpec): Promise<GalleryFiles> {
  let embeddings = spec.embeddings, labels = spec.labels;
  let metric = spec.metric, center = spec.center;
  if (spec.run) {
    const run = spec.run.replace(/\/+$/, "");
    const how = await runSpace(run);
    const dir = `${run}/embeddings/${how.space}`;
    const name = await Deno.stat(`${dir}/gallery.npy`).then(() => "gallery", () => "test");
    embeddings = `${dir}/${name}.npy`;
    if (!(await Deno.stat(embeddings).then(() => true, () => false))) {
      throw new DmlError(`${run}: no gallery embeddings in ${dir} (run deno task embed ${run} first)`);
    }
    labels ??= `${dir}/${name}_labels.npy`;
    metric ??= how.metric, center ??= how.center;
  }
  if (!embeddings) throw new DmlError("search: give a run folder or --gallery EMBEDDINGS.npy");
  if (metric !== undefined && metric !== "cosine" && metric !== "euclidean") {
    throw new DmlError(`--metric must be cosine or euclidean, got '${metric}'`);
  }
  const { dtype, shape } = await npyHeader(embeddings);
  if (dtype !== "<f4" || shape.length !== 2 || shape[0] < 1) {
    throw new DmlError(`${embeddings}: expected float32 [n, dim] embeddings, got ${dtype} [${shape}]`);
  }
  return {
    embeddings,
    labels,
    ids: spec.ids,
    metric: (metric ?? "cosine") as "cosine" | "euclidean",
    center: center ?? false,
    n: shape[0],
    dim: shape[1],
  };
}

/** A .npy file's dtype descriptor and shape, from its first bytes only. */
async function npyHeader(path: string): Promise<{ dtype: string; shape: number[] }> {
  let head: Uint8Array;
  try {
    using file = await Deno.open(path);
    head = new Uint8Array(4096);
    head = head.subarray(0, (await file.read(head)) ?? 0);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
    throw new DmlError(`${path}: cannot read (${(e as Error).message.split(":")[0]})`);
  }
  const text = new TextDecoder("latin1").decode(head);
  const dtype = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (head[0] !== 0x93 || !text.startsWith("NUMPY", 1) || dtype === undefined || shape === undefined) {
    throw new DmlError(`${path}: not a .npy file`);
  }
  return { dtype, shape: shape.split(",").map((v) => v.trim()).filter((v) => v).map(Number) };
}

/** Reads the gallery `spec` names; every problem is a DmlError naming the file. */
export async function loadGallery(spec: GallerySpec): Promise<Gallery> {
  const files = await resolveGallery(spec);
  const { embeddings, labels, metric, center } = files;
  const e = await readNpy(embeddings);
  if (e.dtype !== "float32" || e.shape.length !== 2 || e.shape[0] < 1) {
    throw new DmlError(`${embeddings}: expected float32 [n, dim] embeddings, got ${e.dtype} [${e.shape}]`);
  }
  const [n, dim] = e.shape;
  let labelData: Int32Array | null = null;
  if (labels) {
    const l = await readNpy(labels);
    if (l.shape.length !== 1 || l.shape[0] !== n || (l.dtype !== "int32" && l.dtype !== "int64")) {
      throw new DmlError(`${labels}: expected ${n} integer labels, got ${l.dtype} [${l.shape}]`);
    }
    labelData = l.data instanceof Int32Array ? l.data : Int32Array.from(l.data as BigInt64Array, Number);
  }
  let ids = Array.from({ length: n }, (_, i) => String(i));
  if (spec.ids) {
    const text = await readTextBounded(spec.ids, "id list", MANIFEST_BYTES, `--ids ${spec.ids}`);
    ids = text.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1);
    if (ids.length !== n) throw new DmlError(`--ids ${spec.ids}: ${ids.length} ids for ${n} gallery rows`);
  }
  return {
    data: e.data as Float32Array,
    n,
    dim,
    labels: labelData,
    ids,
    metric,
    center,
    source: embeddings,
  };
}

/** The gallery's mean row (float64 sums), what `center` subtracts. */
export function galleryMean(g: { data: Float32Array; n: number; dim: number }): Float32Array {
  const sum = new Float64Array(g.dim);
  for (let i = 0; i < g.n; i++) for (let j = 0; j < g.dim; j++) sum[j] += g.data[i * g.dim + j];
  return Float32Array.from(sum, (s) => s / g.n);
}

/** Rows less `mean` (when given), L2-normalised for cosine: what the metric compares. */
export function prepareRows(
  data: Float32Array,
  n: number,
  dim: number,
  mean: Float32Array | null,
  metric: "cosine" | "euclidean",
): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = data[i * dim + j] - (mean ? mean[j] : 0);
      out[i * dim + j] = v;
      norm += v * v;
    }
    if (metric === "cosine") {
      const s = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let j = 0; j < dim; j++) out[i * dim + j] *= s;
    }
  }
  return out;
}
