/**
 * `deno task export RUN_DIR [--out DIR] [--space embedding|features] [--set key=value]...`: the
 * run's evaluation-space network (pixel normalisation, backbone, the loss's test-time transform) as
 * a standard tfjs GraphModel that `tf.loadGraphModel` runs without dml, checked against the run's
 * own embeddings before it is written (core/export/export_run.ts). Prints the folder: DIR (default
 * RUN/export) holding model.json, its weight shards and export.json.
 */
import { DmlError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { exportRun } from "../export/export_run.ts";
import { EXPORT_USAGE, parseCommandArgs } from "./usage.ts";

export async function exportCommand(args: string[], registry: Registry): Promise<string> {
  const parsed = parseCommandArgs("export", EXPORT_USAGE, {
    args,
    allowPositionals: true,
    options: { out: { type: "string" }, space: { type: "string" }, set: { type: "string", multiple: true } },
  });
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new DmlError(`export takes one run folder (usage: ${EXPORT_USAGE})`);
  if (values.out !== undefined && !values.out.trim()) throw new DmlError("export: --out needs a folder name");
  const run = positionals[0].replace(/\/+$/, "");
  return await exportRun(registry, run, { out: values.out, sets: values.set, space: values.space });
}
