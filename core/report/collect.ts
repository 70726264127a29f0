/**
 * What the trainer saves for the report when training ends, from the last evaluation's
 * embeddings: `report/examples.json` (retrieval examples) and `report/embedding.json` (the
 * embedding map). See files.ts for the formats.
 *
 * ```ts
 * await saveReportData(runDir, data, { query: testEmbeddings }, "cosine", false);
 * ```
 */
import type { DatasetSplits, Split } from "../types.ts";
import { retrievalExamples } from "./examples.ts";
import { embeddingMap } from "./embedding_map.ts";
import { centerOnReference } from "../retrieval.ts";

/** The embeddings an evaluation computed: the test split, or query and gallery. */
export interface EvalEmbeddings {
  query: Split;
  gallery?: Split;
}

export async function saveReportData(
  dir: string,
  data: DatasetSplits,
  seen: EvalEmbeddings,
  metric: "cosine" | "euclidean",
  center = false,
): Promise<void> {
  const queryData = seen.gallery ? data.query! : data.test!;
  // The examples and the map show the neighbours the evaluator ranked (eval.center: the reference set's mean removed).
  if (center) seen = centerOnReference(seen.query, seen.gallery);
  await Deno.mkdir(`${dir}/report`, { recursive: true });
  const examples = await retrievalExamples({
    query: seen.query,
    queryData,
    gallery: seen.gallery,
    galleryData: seen.gallery ? data.gallery : undefined,
    metric,
  });
  await writeJson(`${dir}/report/examples.json`, examples);
  const map = embeddingMap(seen.query, queryData.classNames, { metric, split: seen.gallery ? "query" : "test" });
  await writeJson(`${dir}/report/embedding.json`, map);
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(value));
  await Deno.rename(`${path}.tmp`, path);
}
