/**
 * `deno task index RUN_DIR | --embeddings G.npy [--labels L.npy] [--ids IDS.txt] --out DIR`: an
 * approximate nearest-neighbour index (USearch HNSW, core/search/ann_index.ts) of a gallery, with
 * its labels and item ids, version-stamped. For a run: its gallery embeddings (`deno task embed`)
 * compared as the run evaluates, written to RUN/index, which `deno task search RUN` then uses for
 * galleries large enough to gain from it. Prints index.json.
 */
import { DmlError } from "../errors.ts";
import { loadGallery } from "../search/gallery.ts";
import { writeAnnIndex } from "../search/ann_index.ts";
import { checkWritable } from "../writable.ts";
import { INDEX_USAGE, parseCommandArgs } from "./usage.ts";

export async function indexCommand(args: string[]): Promise<Record<string, unknown>> {
  const parsed = parseCommandArgs("index", INDEX_USAGE, {
    args,
    allowPositionals: true,
    options: {
      embeddings: { type: "string" },
      labels: { type: "string" },
      ids: { type: "string" },
      metric: { type: "string" },
      center: { type: "boolean" },
      out: { type: "string" },
    },
  });
  const { values: v, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1) === (v.embeddings !== undefined)) {
    throw new DmlError(`index takes one run folder or --embeddings (usage: ${INDEX_USAGE})`);
  }
  const run = positionals[0]?.replace(/\/+$/, "");
  if (run && !(await Deno.stat(`${run}/recipe.yaml`).then(() => true, () => false))) {
    throw new DmlError(`index ${run}: not a run folder (no recipe.yaml)`);
  }
  const out = v.out ?? (run ? `${run}/index` : undefined);
  if (!out) throw new DmlError(`index: --embeddings needs --out DIR (usage: ${INDEX_USAGE})`);
  await checkWritable(out.replace(/\/+$/, ""), "index");
  const gallery = await loadGallery({
    run,
    embeddings: v.embeddings,
    labels: v.labels,
    ids: v.ids,
    metric: v.metric,
    center: v.center || undefined,
  });
  const info = await writeAnnIndex(out, gallery);
  return { path: out.replace(/\/+$/, ""), ...info };
}
