/**
 * The usage line of each command, in one place: the commands quote their own in errors, and
 * `core/cli.ts` lists them all without loading the commands themselves. {@link parseCommandArgs} is the one
 * place a command's flags are parsed, so a bad flag is the same one line in every command.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DmlError } from "../errors.ts";

export const TRAIN_USAGE = "deno task train RECIPE [--set key.path=value]... [--resume RUN_DIR]\n" +
  "  deno task train --resume RUN_DIR";
export const EMBED_USAGE = "deno task embed RUN_DIR [--space embedding|features] [--set key.path=value]... [--out DIR]";
export const EVAL_RUN_USAGE = "deno task eval --run RUN_DIR [--set key.path=value]... [--space embedding|features]";
/** Every flag of `eval` on .npy files. */
export const EVAL_USAGE =
  "deno task eval --embeddings E.npy --labels L.npy [--gallery-embeddings G.npy --gallery-labels GL.npy] " +
  "[--metric cosine|euclidean] [--center] [--average queries|classes] [--recall-at 1,2,4,8] [--no-nmi] [--f1] [--ami] [--mrr] " +
  "[--fnmr-at-fmr 0.001,0.01] [--backend auto|cpu|wasm|webgpu] [--chunk ROWS] [--engine auto|backend|native]";
export const EXPORT_USAGE =
  "deno task export RUN_DIR [--out DIR] [--space embedding|features] [--set key.path=value]...";
export const SEARCH_USAGE = "deno task search (RUN_DIR | --gallery G.npy [--labels L.npy] [--ids IDS.txt]) " +
  "QUERY.npy... | IMAGE... [--k 10] [--model EXPORT_DIR] [--index DIR] [--engine auto|exact|ann] [--verify-index] " +
  "[--metric cosine|euclidean] [--center]";
export const INDEX_USAGE = "deno task index RUN_DIR | --embeddings G.npy [--labels L.npy] [--ids IDS.txt] " +
  "[--metric cosine|euclidean] [--center] --out DIR";
export const DEMO_USAGE = "deno task demo RUN_DIR [--port 8000] [--limit 2000] [--k 8] [--out DIR] [--build-only]";
export const REPORT_USAGE = "deno task report RUN_DIR... [--out FILE]";
export const PLUGINS_USAGE = "deno task plugins [KIND]";

/** A usage of several lines as one, for an error message. */
export function oneLine(usage: string): string {
  return usage.replace(/\n\s*/g, " | ");
}

/** node:util's parseArgs for `command`; what it refuses becomes one line with the command's usage. */
export function parseCommandArgs<T extends ParseArgsConfig>(
  command: string,
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    // node:util's message goes on to explain `--`; the first sentence is the problem.
    const problem = (e as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
    throw new DmlError(`${command}: ${problem} (usage: ${oneLine(usage)})`);
  }
}
