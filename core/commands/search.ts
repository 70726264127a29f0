/**
 * `deno task search`: the nearest gallery items of image files or .npy embeddings, printed as one
 * JSON line per query. The gallery is a run's (what `deno task embed` wrote, compared as the run
 * evaluates: core/search/gallery.ts) or any .npy; images are embedded by the run's exported model
 * (`deno task export`; core/search/embed_images.ts).
 *
 * Exact search (core/knn.ts) is the default. With an index (`deno task index`, RUN/index or
 * --index DIR) and a gallery of at least {@link ANN_MIN_ITEMS} rows, the index answers instead
 * (`--engine exact|ann` forces one): below that size exact search is as fast (bench/ann_bench.ts).
 *
 * ```sh
 * deno task search runs/quickstart/2026-12-01T10-00-00 shirt.png coat.jpg --k 5
 * {"query":"shirt.png","engine":"exact","metric":"cosine","neighbours":[{"rank":1,"index":812,"id":"812","label":1,"distance":0.08},...]}
 * deno task search --gallery G.npy --labels GL.npy Q.npy --k 10 --metric euclidean
 * ```
 */
import { DmlError } from "../errors.ts";
import { knn } from "../knn.ts";
import { readNpy } from "../npy.ts";
import {
  type Gallery,
  type GalleryFiles,
  galleryMean,
  loadGallery,
  prepareRows,
  resolveGallery,
} from "../search/gallery.ts";
import { type Hits, openAnnIndex, type OpenIndex } from "../search/ann_index.ts";
import { embedImages } from "../search/embed_images.ts";
import { parseCommandArgs, SEARCH_USAGE } from "./usage.ts";

/**
 * Gallery rows from which an index answers by default. Measured end to end on the 2-core machine
 * (`deno run -A bench/ann_bench.ts command`, one query): below about 5,000 rows both take about
 * 0.25–0.3 s, mostly starting up; from 10,000 the index is clearly faster (512-d: 0.34 vs 0.25 s,
 * at 60,000 0.75 vs 0.32 s), and exact search is exact.
 */
export const ANN_MIN_ITEMS = 10_000;

export interface Neighbour {
  rank: number;
  index: number;
  id: string;
  label?: number;
  distance: number;
}

export interface QueryResult {
  query: string;
  engine: "exact" | "ann";
  metric: "cosine" | "euclidean";
  neighbours: Neighbour[];
}

/** Runs the search command; returns one result per query, in the order given. */
export async function searchCommand(args: string[]): Promise<QueryResult[]> {
  const parsed = parseCommandArgs("search", SEARCH_USAGE, {
    args,
    allowPositionals: true,
    options: {
      run: { type: "string" },
      gallery: { type: "string" },
      labels: { type: "string" },
      ids: { type: "string" },
      model: { type: "string" },
      index: { type: "string" },
      k: { type: "string" },
      metric: { type: "string" },
      center: { type: "boolean" },
      engine: { type: "string" },
      "verify-index": { type: "boolean" },
    },
  });
  const { values: v } = parsed;
  let queries = parsed.positionals;
  // The first positional is the run folder unless --run or --gallery says where the gallery is.
  let run = v.run?.replace(/\/+$/, "");
  if (!run && !v.gallery && queries.length > 0) run = queries[0].replace(/\/+$/, ""), queries = queries.slice(1);
  if (queries.length === 0) throw new DmlError(`search: no query files given (usage: ${SEARCH_USAGE})`);
  const k = v.k === undefined ? 10 : Number(v.k);
  if (!Number.isInteger(k) || k < 1) throw new DmlError(`search: --k must be an integer >= 1, got '${v.k}'`);
  const engine = v.engine ?? "auto";
  if (!["auto", "exact", "ann"].includes(engine)) {
    throw new DmlError(`search: --engine must be auto, exact or ann, got '${engine}'`);
  }
  if (run && !(await Deno.stat(`${run}/recipe.yaml`).then(() => true, () => false))) {
    throw new DmlError(`search ${run}: not a run folder (no recipe.yaml)`);
  }
  const spec = {
    run,
    embeddings: v.gallery,
    labels: v.labels,
    ids: v.ids,
    metric: v.metric,
    center: v.center || undefined,
  };
  const files = await resolveGallery(spec);
  const indexDir = v.index ?? (run ? `${run}/index` : undefined);
  const hasIndex = indexDir !== undefined &&
    (v.index !== undefined || await Deno.stat(`${indexDir}/index.json`).then(() => true, () => false));
  if (engine === "ann" && !hasIndex) throw new DmlError("search: --engine ann needs an index (deno task index)");
  const useIndex = hasIndex && (engine === "ann" || (engine === "auto" && files.n >= ANN_MIN_ITEMS));
  // With the index, the gallery's rows are never read: the index holds them, its labels and ids.
  const index = useIndex ? await openAnnIndex(indexDir!, { verify: v["verify-index"] }) : null;
  if (index) checkIndexFits(index, files, indexDir!);
  const gallery = index ? null : await loadGallery(spec);

  const q = await queryRows(queries, files, v.model ?? (run ? `${run}/export` : undefined));
  if (k > files.n) throw new DmlError(`search: --k ${k} is more than the gallery's ${files.n} items`);
  const hits = index ? index.search(q.data, q.n, k) : await exactSearch(gallery!, q.data, q.n, k);
  const labels = index ? index.labels : gallery!.labels, ids = index ? index.ids : gallery!.ids;
  return q.names.map((name, i) => ({
    query: name,
    engine: index ? "ann" : "exact",
    metric: files.metric,
    neighbours: Array.from({ length: k }, (_, j) => hits.indices[i * k + j])
      .map((row, j) => ({
        rank: j + 1,
        index: row,
        id: ids[row],
        ...(labels ? { label: labels[row] } : {}),
        distance: hits.distances[i * k + j],
      }))
      .filter((nb) => nb.index >= 0),
  }));
}

/** The index must describe this gallery: its size, dimension and comparison. */
function checkIndexFits(index: OpenIndex, g: GalleryFiles, dir: string): void {
  const i = index.info;
  if (i.dim !== g.dim || i.n !== g.n || i.metric !== g.metric || i.center !== g.center) {
    throw new DmlError(
      `${dir}: indexes ${i.n} × ${i.dim} (${i.metric}${i.center ? ", centred" : ""}), the gallery is ` +
        `${g.n} × ${g.dim} (${g.metric}${g.center ? ", centred" : ""}); rebuild it with deno task index`,
    );
  }
}

/** The queries' embeddings: rows of .npy files, or image files through the exported model. */
async function queryRows(
  files: string[],
  g: GalleryFiles,
  model: string | undefined,
): Promise<{ data: Float32Array; n: number; names: string[] }> {
  const npy = files.filter((f) => f.endsWith(".npy")), images = files.filter((f) => !f.endsWith(".npy"));
  if (npy.length && images.length) throw new DmlError("search: give either .npy embeddings or image files, not both");
  if (images.length) {
    if (!model) throw new DmlError("search: image queries need the run's exported model (deno task export) or --model");
    const e = await embedImages(model, images);
    if (e.dim !== g.dim) {
      throw new DmlError(`search: the model gives ${e.dim}-d embeddings, the gallery ${g.embeddings} is ${g.dim}-d`);
    }
    return { data: e.data, n: e.n, names: images };
  }
  const parts: Float32Array[] = [], names: string[] = [];
  for (const file of npy) {
    const a = await readNpy(file);
    const [n, dim] = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
    if (a.dtype !== "float32" || a.shape.length > 2 || dim !== g.dim) {
      throw new DmlError(
        `${file}: ${a.dtype} [${a.shape}] queries, the gallery ${g.embeddings} is float32 [n, ${g.dim}]`,
      );
    }
    parts.push(a.data as Float32Array);
    for (let i = 0; i < n; i++) names.push(a.shape.length === 1 ? file : `${file}#${i}`);
  }
  const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) data.set(p, at), at += p.length;
  return { data, n: names.length, names };
}

/** The project's exact kNN on the rows as the run compares them. */
async function exactSearch(g: Gallery, queries: Float32Array, nq: number, k: number): Promise<Hits> {
  const mean = g.center ? galleryMean(g) : null;
  const metric = g.metric;
  const gallery = prepareRows(g.data, g.n, g.dim, mean, metric);
  const rows = prepareRows(queries, nq, g.dim, mean, metric);
  const { indices, distances } = await knn(rows, nq, gallery, g.n, g.dim, k, { metric });
  return { indices, distances, k };
}
