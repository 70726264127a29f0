/**
 * An approximate nearest-neighbour index of a gallery: an HNSW graph built by USearch (npm
 * `usearch`, which ships prebuilt binaries that Deno loads as a Node-API addon: no build step;
 * hnswlib-node and faiss-node need node-gyp, see docs/search.md). The folder holds the engine's
 * file, the gallery's labels and ids, the mean a centred metric subtracts, and `index.json`, which
 * stamps the engine version and the file's size and SHA-256: an index that is truncated, altered,
 * or written by another engine version is refused with one line before the engine reads it.
 *
 * Rows are centred (when the run centres) and L2-normalised for cosine, so the engine's inner
 * product distance is 1 − cosine, the distance core/knn.ts reports; Euclidean uses squared L2.
 *
 * ```ts
 * await writeAnnIndex("runs/x/index", gallery);
 * const index = await openAnnIndex("runs/x/index");
 * const hits = index.search(queries, nq, 10); // { indices, distances } as knn gives
 * ```
 */
import { Index, MetricKind } from "usearch";
import { DmlError } from "../errors.ts";
import { MANIFEST_BYTES, readBounded, readTextIfExists } from "../bounded_read.ts";
import { replaceFolder } from "../writable.ts";
import { encodeNpy, readNpy } from "../npy.ts";
import { type Gallery, galleryMean, prepareRows } from "./gallery.ts";

export const INDEX_FORMAT = "dml-index-1";
export const ENGINE = "usearch";
/** The usearch release deno.json imports; an index written by another is refused. */
export const ENGINE_VERSION = "2.26.2";

/** HNSW parameters: USearch's defaults for M, a wider beam for build and search (recall@10 >= 0.95 at SOP size). */
export const HNSW = { connectivity: 16, expansionAdd: 128, expansionSearch: 64 };

export interface IndexInfo {
  format: typeof INDEX_FORMAT;
  engine: typeof ENGINE;
  engineVersion: string;
  metric: "cosine" | "euclidean";
  center: boolean;
  n: number;
  dim: number;
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** The embeddings indexed. */
  source: string;
  /** index.usearch's size, the SHA-256 of its first MiB (checked at every open) and of the whole (with `verify`). */
  bytes: number;
  headSha256: string;
  sha256: string;
  labels: boolean;
  /** Seconds the build took. */
  buildSeconds: number;
}

/** Nearest first, as core/knn.ts: [nq, k] gallery rows and distances (1 − cosine, or Euclidean). */
export interface Hits {
  indices: Int32Array;
  distances: Float32Array;
  k: number;
}

function engineMetric(metric: "cosine" | "euclidean"): string {
  return metric === "cosine" ? MetricKind.IP : MetricKind.L2sq;
}

/** Builds the index of `g` in memory (threads: 0 = all cores). */
export function buildIndex(
  g: Pick<Gallery, "data" | "n" | "dim" | "metric" | "center">,
  o: Partial<typeof HNSW> & { threads?: number } = {},
): { index: Index; mean: Float32Array | null; seconds: number } {
  const p = { ...HNSW, ...o };
  const start = performance.now();
  const mean = g.center ? galleryMean(g) : null;
  const rows = prepareRows(g.data, g.n, g.dim, mean, g.metric);
  const index = new Index({
    dimensions: g.dim,
    metric: engineMetric(g.metric),
    quantization: "f32",
    connectivity: p.connectivity,
    expansion_add: p.expansionAdd,
    expansion_search: p.expansionSearch,
  } as never);
  index.add(BigUint64Array.from({ length: g.n }, (_, i) => BigInt(i)), rows, o.threads ?? 0);
  return { index, mean, seconds: (performance.now() - start) / 1000 };
}

/** Queries' k nearest rows by the engine (queries already prepared as the gallery was). */
export function searchIndex(index: Index, rows: Float32Array, nq: number, k: number, metric: string): Hits {
  const indices = new Int32Array(nq * k).fill(-1), distances = new Float32Array(nq * k).fill(NaN);
  if (nq === 0) return { indices, distances, k };
  const result = index.search(rows, k, 0) as unknown as {
    keys: BigUint64Array;
    distances: Float32Array;
    counts?: BigUint64Array;
  };
  for (let q = 0; q < nq; q++) {
    const found = result.counts ? Number(result.counts[q]) : result.keys.length;
    for (let j = 0; j < Math.min(found, k); j++) {
      indices[q * k + j] = Number(result.keys[q * k + j]);
      const d = result.distances[q * k + j];
      distances[q * k + j] = metric === "euclidean" ? Math.sqrt(Math.max(0, d)) : d;
    }
  }
  return { indices, distances, k };
}

/** Bytes hashed at every open: the engine's header and the first nodes, not the whole file (see openAnnIndex). */
const HEAD_BYTES = 1 << 20;

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds and writes the index of `g` as the folder `out` (written beside, then renamed into place). */
export async function writeAnnIndex(out: string, g: Gallery): Promise<IndexInfo> {
  out = out.replace(/\/+$/, "");
  const { index, mean, seconds } = buildIndex(g);
  return await replaceFolder(out, async (tmp) => {
    index.save(`${tmp}/index.usearch`);
    const bytes = await Deno.readFile(`${tmp}/index.usearch`);
    const info: IndexInfo = {
      format: INDEX_FORMAT,
      engine: ENGINE,
      engineVersion: ENGINE_VERSION,
      metric: g.metric,
      center: g.center,
      n: g.n,
      dim: g.dim,
      ...HNSW,
      source: g.source,
      bytes: bytes.byteLength,
      headSha256: await sha256(bytes.subarray(0, HEAD_BYTES)),
      sha256: await sha256(bytes),
      labels: g.labels !== null,
      buildSeconds: Number(seconds.toFixed(3)),
    };
    if (g.labels) await Deno.writeFile(`${tmp}/labels.npy`, encodeNpy(g.labels, [g.n]));
    if (mean) await Deno.writeFile(`${tmp}/mean.npy`, encodeNpy(mean, [g.dim]));
    await Deno.writeTextFile(`${tmp}/ids.json`, JSON.stringify(g.ids));
    await Deno.writeTextFile(`${tmp}/index.json`, JSON.stringify(info, null, 2) + "\n");
    return info;
  });
}

/** An index read back: search it with {@link OpenIndex.search} on raw query embeddings. */
export interface OpenIndex {
  info: IndexInfo;
  labels: Int32Array | null;
  ids: string[];
  mean: Float32Array | null;
  /** Raw query rows [nq, dim] (centred and normalised here, as the gallery was). */
  search(queries: Float32Array, nq: number, k: number): Hits;
}

/**
 * Opens the index folder `dir`; anything missing, truncated, altered or foreign is a DmlError. The
 * file is memory-mapped (USearch's `view`), not read: its size and the SHA-256 of its first MiB
 * are checked at every open, the whole file's SHA-256 only with `verify` (reading and hashing a
 * 60,000 × 512 index costs about half a second, more than a search of it).
 */
export async function openAnnIndex(dir: string, o: { verify?: boolean } = {}): Promise<OpenIndex> {
  dir = dir.replace(/\/+$/, "");
  const text = await readTextIfExists(`${dir}/index.json`, "index description");
  if (text === null) throw new DmlError(`${dir}: not an index folder (no index.json)`);
  let info: IndexInfo;
  try {
    info = JSON.parse(text);
  } catch (e) {
    throw new DmlError(`${dir}/index.json: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (info?.format !== INDEX_FORMAT || info.engine !== ENGINE) {
    throw new DmlError(`${dir}: not a dml ${ENGINE} index (format ${JSON.stringify(info?.format)})`);
  }
  if (info.engineVersion !== ENGINE_VERSION) {
    throw new DmlError(
      `${dir}: written by ${ENGINE} ${info.engineVersion}, this dml runs ${ENGINE_VERSION}; rebuild it with deno task index`,
    );
  }
  const file = `${dir}/index.usearch`;
  const size = await Deno.stat(file).then((s) => s.size, () => {
    throw new DmlError(`${file}: missing`);
  });
  if (size !== info.bytes) throw new DmlError(`${file}: ${size} bytes, index.json says ${info.bytes} (truncated?)`);
  const head = new Uint8Array(Math.min(HEAD_BYTES, size));
  {
    using f = await Deno.open(file);
    let at = 0;
    while (at < head.length) at += (await f.read(head.subarray(at))) ?? head.length;
  }
  if ((await sha256(head)) !== info.headSha256) throw new DmlError(`${file}: its header is not index.json's (corrupt)`);
  if (o.verify && (await sha256(await readBounded(file, "index"))) !== info.sha256) {
    throw new DmlError(`${file}: its SHA-256 is not index.json's (corrupt)`);
  }
  const idsText = await readTextIfExists(`${dir}/ids.json`, "id list", MANIFEST_BYTES);
  let ids: string[];
  try {
    ids = JSON.parse(idsText ?? "");
  } catch {
    throw new DmlError(`${dir}/ids.json: missing or not valid JSON`);
  }
  if (!Array.isArray(ids) || ids.length !== info.n) throw new DmlError(`${dir}/ids.json: expected ${info.n} ids`);
  const labels = info.labels ? (await readNpy(`${dir}/labels.npy`)).data as Int32Array : null;
  if (labels && labels.length !== info.n) throw new DmlError(`${dir}/labels.npy: expected ${info.n} labels`);
  const mean = info.center ? (await readNpy(`${dir}/mean.npy`)).data as Float32Array : null;
  if (mean && mean.length !== info.dim) throw new DmlError(`${dir}/mean.npy: expected ${info.dim} values`);
  const index = new Index({
    dimensions: info.dim,
    metric: engineMetric(info.metric),
    quantization: "f32",
    connectivity: info.connectivity,
    expansion_add: info.expansionAdd,
    expansion_search: info.expansionSearch,
  } as never);
  index.view(file);
  if (Number(index.size()) !== info.n) throw new DmlError(`${file}: holds ${index.size()} rows, not ${info.n}`);
  return {
    info,
    labels,
    ids,
    mean,
    search: (queries, nq, k) => {
      if (queries.length !== nq * info.dim) {
        throw new DmlError(`queries of dimension ${queries.length / Math.max(nq, 1)}, the index's gallery ${info.dim}`);
      }
      return searchIndex(index, prepareRows(queries, nq, info.dim, mean, info.metric), nq, k, info.metric);
    },
  };
}
