/**
 * Exact k nearest neighbours of every query among a gallery, computed in query chunks so the
 * full query × gallery matrix never exists: memory stays bounded by chunk × gallery scores.
 *
 * - Distance: cosine (on L2-normalised rows), Euclidean, or squared Euclidean.
 * - Ties in the computed distance go to the lower gallery index, on every engine, so results
 *   are deterministic.
 * - `excludeSelf`: query i is gallery row i (one-set retrieval; row `firstQueryRow` + i when the
 *   queries are a block of the set); that entry is removed by its index before ranking — never
 *   by distance — so exact duplicates are handled.
 * - `labels`: also returns each query's rank of its nearest same-label gallery item, counted in
 *   the same pass, so Recall@1000 needs no top-1000 list.
 * - Engines: `backend` runs the similarity on the active tfjs backend (cpu, wasm, webgpu), and
 *   the top-k too on WebGPU (on the CPU backends the scores are in host memory already, and a
 *   typed-array selection per row beats a dozen tfjs kernels); `native` runs a BLAS sgemm through
 *   FFI and the same selection, the fast CPU path. `auto` keeps a hardware WebGPU backend on the
 *   device and otherwise prefers `native` (a software adapter such as lavapipe is far slower).
 * - One set on `native` (small k): the similarity matrix is symmetric, so only its upper triangle
 *   of tiles is computed — half the flops — and each tile serves two blocks of rows.
 *
 * ```ts
 * const { indices, distances } = await knn(x, n, x, n, dim, 4, { metric: "cosine", excludeSelf: true });
 * indices[i * 4]; // nearest other item of query i
 * ```
 */
import { tf } from "./tf.ts";
import type { Tensor, Tensor2D } from "@tensorflow/tfjs-core";
import { blas } from "./blas.ts";
import { webgpuAdapter } from "./backend.ts";
import { DmlError } from "./errors.ts";
import { INSERTION_MAX_K, RunningTopK, selectTopK, TopKScratch } from "./topk_select.ts";
import { ScoreArena, type ScoreScan } from "./score_scan.ts";

export type KnnMetric = "cosine" | "euclidean" | "squared-euclidean";
export const KNN_METRICS: readonly KnnMetric[] = ["cosine", "euclidean", "squared-euclidean"];
export type KnnEngine = "auto" | "backend" | "native";

export interface KnnOptions {
  /** Default cosine. */
  metric?: KnnMetric;
  /** Query row i is gallery row i, and never its own neighbour (one-set retrieval). */
  excludeSelf?: boolean;
  /** With `excludeSelf`: query i is gallery row firstQueryRow + i (a block of the set's rows). Default 0. */
  firstQueryRow?: number;
  /**
   * Query rows per chunk; 0 or absent: chunk × gallery near 2^24 scores (64 MB). On the
   * symmetric one-set path: rows (and columns) per tile, default {@link SYMMETRIC_TILE}.
   */
  chunk?: number;
  /** Default auto. */
  engine?: KnnEngine;
  /**
   * With the backend engine, also select on the device (tfjs TopK) instead of reading the scores
   * back. Default: on WebGPU only, where reading back costs a transfer.
   */
  deviceTopK?: boolean;
  /**
   * One set (`excludeSelf`, the query array is the gallery array) on the native engine with
   * k <= {@link INSERTION_MAX_K}: compute only the upper triangle of the symmetric product. Default true.
   */
  symmetric?: boolean;
  /** When given, the result has {@link KnnResult.firstRelevantRank} for these labels. */
  labels?: { query: Int32Array; gallery: Int32Array };
}

export interface KnnResult {
  /** [nq, k] gallery indices, nearest first. */
  indices: Int32Array;
  /** [nq, k] distances: 1 − cosine similarity, Euclidean, or squared Euclidean. */
  distances: Float32Array;
  k: number;
  /** Which engine ran. */
  engine: "backend" | "native";
  /**
   * With `labels`: the 1-based rank of each query's nearest same-label gallery item (under the
   * same tie rule; self excluded), or 0 if it has none.
   */
  firstRelevantRank?: Int32Array;
  /** Seconds spent: in all, and in the similarity products (not measured apart when the top-k runs on the device). */
  seconds: { total: number; similarity?: number };
  /** Floating-point operations of the similarity products actually run (2 per multiply-add). */
  similarityFlops: number;
}

/** Scores per chunk when no chunk size is given. */
export const DEFAULT_CHUNK_SCORES = 1 << 24;

/**
 * Query rows per similarity chunk against a gallery of `ng` rows: `chunk` when given (> 0), else
 * as many as make about {@link DEFAULT_CHUNK_SCORES} scores. Retrieval aligns its query blocks to it.
 */
export function chunkRows(ng: number, chunk?: number): number {
  return Math.max(1, chunk !== undefined && chunk > 0 ? chunk : Math.floor(DEFAULT_CHUNK_SCORES / ng));
}

function checkInputs(query: Float32Array, nq: number, gallery: Float32Array, ng: number, dim: number, metric: string) {
  if (!KNN_METRICS.includes(metric as KnnMetric)) {
    throw new DmlError(`knn: unknown metric '${metric}'; known: ${KNN_METRICS}`);
  }
  if (query.length !== nq * dim || gallery.length !== ng * dim) {
    throw new DmlError(`knn: expected [${nq}, ${dim}] queries and [${ng}, ${dim}] gallery rows`);
  }
}

/** Rows and columns of a tile on the symmetric path: 4 MB of scores, which stay in the L3 cache. */
export const SYMMETRIC_TILE = 1024;

/** The k nearest gallery rows of each query row (row-major float32 [nq, dim] and [ng, dim]). */
export async function knn(
  query: Float32Array,
  nq: number,
  gallery: Float32Array,
  ng: number,
  dim: number,
  k: number,
  opts: KnnOptions = {},
): Promise<KnnResult> {
  const metric = opts.metric ?? "cosine";
  const excludeSelf = opts.excludeSelf ?? false;
  checkInputs(query, nq, gallery, ng, dim, metric);
  const firstQueryRow = excludeSelf ? opts.firstQueryRow ?? 0 : 0;
  if (excludeSelf && (!Number.isInteger(firstQueryRow) || firstQueryRow < 0 || firstQueryRow + nq > ng)) {
    throw new DmlError(
      `knn: excludeSelf needs the queries to be gallery rows ${firstQueryRow}..${firstQueryRow + nq - 1}`,
    );
  }
  const available = ng - (excludeSelf ? 1 : 0);
  if (!Number.isInteger(k) || k < 1 || k > available) {
    throw new DmlError(`knn: k must be an integer in 1..${available} (the gallery size), got ${k}`);
  }
  const given = opts.chunk !== undefined && opts.chunk > 0 ? opts.chunk : undefined;
  const chunk = Math.max(1, Math.min(nq, chunkRows(ng, opts.chunk)));
  const engine = await resolveEngine(opts.engine);

  let q = query, g = gallery;
  if (metric === "cosine") {
    g = normalizeRows(gallery, ng, dim);
    q = excludeSelf && query === gallery && firstQueryRow === 0 ? g : normalizeRows(query, nq, dim);
  }
  const labels = opts.labels;
  if (labels && (labels.query.length !== nq || labels.gallery.length !== ng)) {
    throw new DmlError(`knn: expected ${nq} query and ${ng} gallery labels`);
  }
  const indices = new Int32Array(nq * k);
  const scores = new Float32Array(nq * k);
  const firstRelevantRank = labels ? new Int32Array(nq) : undefined;
  const problem = {
    q,
    nq,
    g,
    ng,
    dim,
    k,
    metric,
    excludeSelf,
    firstQueryRow,
    chunk,
    indices,
    scores,
    labels,
    firstRelevantRank,
  };
  const start = performance.now();
  const onDevice = opts.deviceTopK ?? tf.getBackend() === "webgpu";
  const symmetric = engine === "native" && (opts.symmetric ?? true) && excludeSelf && q === g &&
    firstQueryRow === 0 && k <= INSERTION_MAX_K;
  let flops = 2 * nq * ng * dim;
  let similarity: number | undefined;
  if (symmetric) {
    ({ seconds: similarity, flops } = symmetricKnn(problem, given ?? SYMMETRIC_TILE));
  } else if (engine === "native") similarity = await nativeKnn(problem);
  else if (onDevice) await deviceKnn(problem);
  else similarity = await tfjsProductKnn(problem);
  const seconds = { total: (performance.now() - start) / 1000, similarity };
  return {
    indices,
    distances: scoresToDistances(scores, metric),
    k,
    engine,
    firstRelevantRank,
    seconds,
    similarityFlops: flops,
  };
}

interface Problem {
  q: Float32Array;
  nq: number;
  g: Float32Array;
  ng: number;
  dim: number;
  k: number;
  metric: KnnMetric;
  excludeSelf: boolean;
  /** Gallery row of query 0 when excludeSelf (the symmetric path needs 0). */
  firstQueryRow: number;
  chunk: number;
  indices: Int32Array;
  /** Larger is nearer: cosine similarity, or minus the squared distance. */
  scores: Float32Array;
  labels?: { query: Int32Array; gallery: Int32Array };
  firstRelevantRank?: Int32Array;
}

/**
 * The engine `want` resolves to on the active backend: a hardware GPU keeps the work on the
 * device; on the CPU backends, and on a software WebGPU adapter (lavapipe), BLAS is far faster.
 */
export async function resolveEngine(want: KnnEngine = "auto"): Promise<"backend" | "native"> {
  if (want === "backend") return "backend";
  if (want === "native") {
    if (!blas()) {
      throw new DmlError(
        "knn: the native engine needs --allow-ffi and a BLAS library (apt-get install libopenblas0-pthread, or DML_BLAS=path)",
      );
    }
    return "native";
  }
  if (tf.getBackend() === "webgpu" && !(await softwareGpu())) return "backend";
  return blas() ? "native" : "backend";
}

/** Adapter descriptions of software WebGPU implementations (Mesa's lavapipe, SwiftShader). */
export const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader/i;

let software: boolean | undefined;

async function softwareGpu(): Promise<boolean> {
  software ??= SOFTWARE_ADAPTER.test((await webgpuAdapter()) ?? "");
  return software;
}

/** Rows scaled to unit length (zero rows stay zero), in a new array. */
export function normalizeRows(x: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[i * dim + j] * x[i * dim + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j] * inv;
  }
  return out;
}

function squaredNorms(x: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[i * dim + j] * x[i * dim + j];
    out[i] = s;
  }
  return out;
}

function scoresToDistances(scores: Float32Array, metric: KnnMetric): Float32Array {
  const out = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = scoreToDistance(scores[i], metric);
  return out;
}

/** The [rows, ng] dot products of query rows start … start + rows − 1 with the gallery. */
type Product = (start: number, rows: number) => Float32Array | Promise<Float32Array>;

/** What a chunked pass over the scores needs (a {@link Problem} is one). */
interface ScorePass {
  q: Float32Array;
  nq: number;
  g: Float32Array;
  ng: number;
  dim: number;
  metric: KnnMetric;
  chunk: number;
}

/**
 * Every chunk of query rows in turn: its products, turned into scores (for Euclidean metrics,
 * minus the squared distance, so that larger is nearer for every metric), handed to `visit`.
 * Returns the seconds spent in the products.
 */
async function scanScoreChunks(
  p: ScorePass,
  product: Product,
  visit: (start: number, rows: number, scores: Float32Array) => void,
): Promise<number> {
  const euclid = p.metric !== "cosine";
  const qq = euclid ? squaredNorms(p.q, p.nq, p.dim) : null;
  const gg = euclid ? squaredNorms(p.g, p.ng, p.dim) : null;
  let productMs = 0;
  for (let start = 0; start < p.nq; start += p.chunk) {
    const rows = Math.min(p.chunk, p.nq - start);
    const t0 = performance.now();
    const buf = await product(start, rows);
    productMs += performance.now() - t0;
    if (euclid) {
      for (let r = 0; r < rows; r++) {
        const a = qq![start + r], off = r * p.ng;
        for (let j = 0; j < p.ng; j++) buf[off + j] = 2 * buf[off + j] - a - gg![j];
      }
    }
    visit(start, rows, buf);
  }
  return productMs / 1000;
}

/**
 * Chunked similarity products on the host side, each followed by the typed-array selection;
 * returns the seconds spent in the products.
 */
function hostSelectKnn(
  p: Problem,
  product: Product,
  lists: { worst?: Float32Array; scan?: ScoreScan } = {},
): Promise<number> {
  const top = p.k <= INSERTION_MAX_K ? new RunningTopK(p.nq, p.k, p.indices, p.scores, lists) : null;
  const scratch = new TopKScratch(p.ng);
  const members = p.labels ? galleryByLabel(p.labels.gallery) : null;
  return scanScoreChunks(p, product, (start, rows, buf) => {
    for (let r = 0; r < rows; r++) {
      const off = r * p.ng;
      const skip = p.excludeSelf ? p.firstQueryRow + start + r : -1;
      const out = (start + r) * p.k;
      if (top) top.scanRow(start + r, buf, off, p.ng, 0, skip);
      else selectTopK(buf, off, p.ng, skip, p.k, p.indices, p.scores, out, scratch);
      if (members) {
        const y = p.labels!.query[start + r];
        // Usually a same-label item is in the list already, and its place is the rank; only the
        // other queries need a second scan of their row.
        let rank = 0;
        for (let t = 0; t < p.k && rank === 0; t++) if (p.labels!.gallery[p.indices[out + t]] === y) rank = t + 1;
        const list = members.get(y);
        p.firstRelevantRank![start + r] = rank > 0 ? rank : list ? rankOfFirst(buf, off, p.ng, skip, list) : 0;
      }
    }
  });
}

/**
 * One set on BLAS, using that the score matrix is symmetric: only tiles (I, J) with J >= I are
 * computed. Tile (I, J) gives the rows of block I their columns J, and, read down its columns,
 * the rows of block J their columns I. With I outer and J inner, every row still receives its
 * column blocks in ascending order, so the running lists keep the lower-index tie rule.
 *
 * A query whose list holds no same-label item gets the rank of its first one (for Recall@K past
 * the list) from its full row, recomputed afterwards: such rows are few once the list reaches R.
 */
function symmetricKnn(p: Problem, tile: number): { seconds: number; flops: number } {
  const lib = blas()!;
  const { g, ng: n, dim, k } = p;
  const b = Math.max(1, Math.min(n, tile));
  const norms = p.metric !== "cosine" ? squaredNorms(g, n, dim) : null;
  // The tile and the rows' thresholds in WebAssembly memory, for the SIMD scans.
  const arena = ScoreArena.create([b * b, n]);
  const [buf, worst] = arena.arrays;
  const top = new RunningTopK(n, k, p.indices, p.scores, { worst, scan: arena.scan });
  let ms = 0, flops = 0;
  for (let i0 = 0; i0 < n; i0 += b) {
    const bi = Math.min(b, n - i0);
    for (let j0 = i0; j0 < n; j0 += b) {
      const bj = Math.min(b, n - j0);
      const t0 = performance.now();
      lib.gemmNT(g.subarray(i0 * dim, (i0 + bi) * dim), bi, g.subarray(j0 * dim, (j0 + bj) * dim), bj, dim, buf);
      ms += performance.now() - t0;
      flops += 2 * bi * bj * dim;
      if (norms) toMinusSquaredDistance(buf, bi, bj, norms, i0, j0);
      for (let i = 0; i < bi; i++) top.scanRow(i0 + i, buf, i * bj, bj, j0, i0 + i);
      if (j0 > i0) { for (let i = 0; i < bi; i++) top.scanColumn(j0, bj, buf, i * bj, i0 + i); }
    }
  }
  if (p.labels) {
    const members = galleryByLabel(p.labels.gallery);
    const missed = rowsWithoutRelevant(p, members);
    const rank = fullRowRanks(p, missed, members, norms);
    ms += rank.seconds * 1000;
    flops += rank.flops;
  }
  return { seconds: ms / 1000, flops };
}

/** Tile of dot products -> minus squared distances (larger is nearer), in place. */
function toMinusSquaredDistance(
  buf: Float32Array,
  rows: number,
  cols: number,
  norms: Float32Array,
  r0: number,
  c0: number,
): void {
  for (let i = 0; i < rows; i++) {
    const a = norms[r0 + i], off = i * cols;
    for (let j = 0; j < cols; j++) buf[off + j] = 2 * buf[off + j] - a - norms[c0 + j];
  }
}

/**
 * Fills firstRelevantRank from the lists; returns the queries whose list has no same-label item
 * although the gallery has one (other than the query itself).
 */
function rowsWithoutRelevant(p: Problem, members: Map<number, Int32Array>): number[] {
  const missed: number[] = [];
  for (let i = 0; i < p.nq; i++) {
    const y = p.labels!.query[i];
    let rank = 0;
    for (let t = 0; t < p.k && rank === 0; t++) if (p.labels!.gallery[p.indices[i * p.k + t]] === y) rank = t + 1;
    p.firstRelevantRank![i] = rank;
    const others = (members.get(y)?.length ?? 0) - (p.excludeSelf && p.labels!.gallery[i] === y ? 1 : 0);
    if (rank === 0 && others > 0) missed.push(i);
  }
  return missed;
}

/**
 * The rank of the first same-label item of each `missed` query, from its full row of scores
 * (recomputed in chunks; 0 if it has no such item). Its list showed none, so it is at least k + 1
 * even where the recomputed row differs from the tiles in the last bit.
 */
function fullRowRanks(
  p: Problem,
  missed: number[],
  members: Map<number, Int32Array>,
  norms: Float32Array | null,
): { seconds: number; flops: number } {
  const lib = blas()!;
  const rows = Math.max(1, Math.min(missed.length, Math.floor(DEFAULT_CHUNK_SCORES / p.ng)));
  const q = new Float32Array(rows * p.dim), buf = new Float32Array(rows * p.ng);
  let ms = 0, flops = 0;
  for (let s = 0; s < missed.length; s += rows) {
    const batch = missed.slice(s, s + rows);
    batch.forEach((i, r) => q.set(p.q.subarray(i * p.dim, (i + 1) * p.dim), r * p.dim));
    const t0 = performance.now();
    lib.gemmNT(q.subarray(0, batch.length * p.dim), batch.length, p.g, p.ng, p.dim, buf);
    ms += performance.now() - t0;
    flops += 2 * batch.length * p.ng * p.dim;
    batch.forEach((i, r) => {
      const off = r * p.ng;
      if (norms) { for (let j = 0; j < p.ng; j++) buf[off + j] = 2 * buf[off + j] - norms[i] - norms[j]; }
      const rank = rankOfFirst(buf, off, p.ng, p.excludeSelf ? i : -1, members.get(p.labels!.query[i])!);
      p.firstRelevantRank![i] = Math.max(rank, p.k + 1);
    });
  }
  return { seconds: ms / 1000, flops };
}

/** BLAS sgemm per chunk into one reused buffer. */
function nativeKnn(p: Problem): Promise<number> {
  // The chunk and the rows' thresholds in WebAssembly memory, for the SIMD scans.
  const arena = ScoreArena.create([p.chunk * p.ng, p.nq]);
  const [buf, worst] = arena.arrays;
  return hostSelectKnn(p, blasProduct(p, buf), { worst, scan: arena.scan });
}

function blasProduct(p: ScorePass, buf: Float32Array): Product {
  const lib = blas()!;
  return (start, rows) => {
    lib.gemmNT(p.q.subarray(start * p.dim, (start + rows) * p.dim), rows, p.g, p.ng, p.dim, buf);
    return buf;
  };
}

/**
 * tfjs matMul per chunk on a CPU backend (cpu, wasm), read back for the selection: the scores
 * are in host memory anyway, and a typed-array scan beats a dozen tfjs kernels over each chunk.
 */
function tfjsProductKnn(p: Problem): Promise<number> {
  return withTfjsProduct(p, (product) => hostSelectKnn(p, product));
}

/** A tfjs matMul per chunk, read back; the gallery tensor lives while `use` runs. */
async function withTfjsProduct<T>(p: ScorePass, use: (product: Product) => Promise<T>): Promise<T> {
  // The gallery is kept transposed, [dim, ng]: the wasm backend's XNNPACK matMul is about 9× faster
  // on that layout than with transposeB.
  const gT = tf.tidy(() => tf.transpose(tf.tensor2d(p.g, [p.ng, p.dim])));
  try {
    return await use(async (start, rows) => {
      const product = tf.tidy(() => {
        const q = tf.tensor2d(p.q.subarray(start * p.dim, (start + rows) * p.dim), [rows, p.dim]);
        return tf.matMul(q, gT);
      });
      const values = await product.data() as Float32Array;
      product.dispose();
      return values;
    });
  } finally {
    gT.dispose();
  }
}

/**
 * Every query's scores against the whole gallery, one chunk of query rows at a time, for a metric
 * the kNN lists cannot give (e.g. a quantile over all pairs): `visit(start, rows, scores)` gets
 * the [rows, ng] scores of queries start … start + rows − 1 — cosine similarity, or minus the
 * squared distance — in an array it may not keep (the next chunk reuses it). The same products,
 * normalisation and engines as {@link knn} (BLAS, or the tfjs backend read back to the host).
 */
export async function forEachScoreChunk(
  query: Float32Array,
  nq: number,
  gallery: Float32Array,
  ng: number,
  dim: number,
  opts: { metric?: KnnMetric; chunk?: number; engine?: KnnEngine },
  visit: (start: number, rows: number, scores: Float32Array) => void,
): Promise<{ seconds: number; flops: number }> {
  const metric = opts.metric ?? "cosine";
  checkInputs(query, nq, gallery, ng, dim, metric);
  const chunk = Math.max(1, Math.min(nq, chunkRows(ng, opts.chunk)));
  const cosine = metric === "cosine";
  const g = cosine ? normalizeRows(gallery, ng, dim) : gallery;
  const q = cosine ? (query === gallery ? g : normalizeRows(query, nq, dim)) : query;
  const pass: ScorePass = { q, nq, g, ng, dim, metric, chunk };
  const seconds = await resolveEngine(opts.engine) === "native"
    ? await scanScoreChunks(pass, blasProduct(pass, new Float32Array(chunk * ng)), visit)
    : await withTfjsProduct(pass, (product) => scanScoreChunks(pass, product, visit));
  return { seconds, flops: 2 * nq * ng * dim };
}

/** The distance a score stands for, as {@link KnnResult.distances} reports it. */
export function scoreToDistance(score: number, metric: KnnMetric): number {
  return metric === "cosine"
    ? 1 - score
    : metric === "euclidean"
    ? Math.sqrt(Math.max(0, -score))
    : Math.max(0, -score);
}

/** Gallery indices of each label, ascending. */
function galleryByLabel(labels: Int32Array): Map<number, Int32Array> {
  const lists = new Map<number, number[]>();
  labels.forEach((y, j) => {
    const l = lists.get(y);
    if (l) l.push(j);
    else lists.set(y, [j]);
  });
  return new Map([...lists].map(([y, l]) => [y, Int32Array.from(l)]));
}

/**
 * 1-based rank of the best of `relevant` columns (ascending) in a score row, `skip` excluded; 0
 * if none is left. Everything ranked before it scores higher, or the same at a lower column.
 */
function rankOfFirst(row: Float32Array, offset: number, n: number, skip: number, relevant: Int32Array): number {
  let best = -Infinity, bestCol = -1;
  for (const j of relevant) {
    if (j !== skip && (bestCol < 0 || row[offset + j] > best)) best = row[offset + j], bestCol = j;
  }
  if (bestCol < 0) return 0;
  let ahead = 0;
  const end = offset + n, tieEnd = offset + bestCol;
  for (let p = offset; p < end; p++) {
    const v = row[p];
    if (v >= best && (v > best || p < tieEnd)) ahead++;
  }
  if (skip >= 0) {
    const v = row[offset + skip];
    if (v > best || (v === best && skip < bestCol)) ahead--;
  }
  return ahead + 1;
}

/** Similarity and top-k on the device (the active tfjs backend); tfjs's TopK also puts lower indices first. */
async function deviceKnn(p: Problem): Promise<void> {
  const euclid = p.metric !== "cosine";
  // The gallery is kept transposed, [dim, ng], as in tfjsProductKnn.
  const [gT, gg] = tf.tidy((): Tensor[] => {
    const g = tf.tensor2d(p.g, [p.ng, p.dim]);
    return euclid ? [tf.transpose(g), tf.reshape(tf.sum(tf.square(g), 1), [1, p.ng])] : [tf.transpose(g)];
  });
  const cols = tf.tidy(() => tf.reshape(tf.range(0, p.ng, 1, "int32"), [1, p.ng]));
  const galleryLabels = p.labels ? tf.tensor2d(p.labels.gallery, [1, p.ng], "int32") : null;
  try {
    for (let start = 0; start < p.nq; start += p.chunk) {
      const rows = Math.min(p.chunk, p.nq - start);
      const [values, indices, rank] = tf.tidy((): Tensor[] => {
        const q = tf.tensor2d(p.q.subarray(start * p.dim, (start + rows) * p.dim), [rows, p.dim]);
        let score: Tensor2D = tf.matMul(q, gT as Tensor2D);
        if (euclid) {
          const qq = tf.sum(tf.square(q), 1, true);
          score = tf.sub(tf.mul(score, 2), tf.add(qq, gg!));
        }
        const minusInf = tf.fill([rows, p.ng], -Infinity);
        if (p.excludeSelf) {
          const first = p.firstQueryRow + start;
          const self = tf.equal(cols, tf.reshape(tf.range(first, first + rows, 1, "int32"), [rows, 1]));
          score = tf.where(self, minusInf, score) as Tensor2D;
        }
        const top = tf.topk(score, p.k);
        if (!galleryLabels) return [top.values, top.indices];
        // Rank of the nearest same-label item: 1 + the items scoring higher, or equal at a lower column.
        const queryLabels = tf.tensor2d(p.labels!.query.subarray(start, start + rows), [rows, 1], "int32");
        const same = tf.logicalAnd(tf.equal(galleryLabels, queryLabels), tf.greater(score, minusInf));
        const best = tf.max(tf.where(same, score, minusInf), 1, true);
        const bestCol = tf.min(tf.where(tf.logicalAnd(same, tf.equal(score, best)), cols, p.ng), 1, true);
        const ahead = tf.logicalOr(
          tf.greater(score, best),
          tf.logicalAnd(tf.equal(score, best), tf.less(cols, bestCol)),
        );
        const count = tf.sum(tf.cast(ahead, "int32"), 1);
        const found = tf.reshape(tf.less(bestCol, p.ng), [rows]);
        return [top.values, top.indices, tf.where(found, tf.add(count, 1), tf.zerosLike(count))];
      });
      const [v, i, r] = await Promise.all([values.data(), indices.data(), rank?.data()]);
      tf.dispose([values, indices, ...(rank ? [rank] : [])]);
      p.scores.set(v as Float32Array, start * p.k);
      p.indices.set(i as Int32Array, start * p.k);
      if (r) p.firstRelevantRank!.set(r as Int32Array, start);
    }
  } finally {
    tf.dispose([gT, cols, ...(gg ? [gg] : []), ...(galleryLabels ? [galleryLabels] : [])]);
  }
}
