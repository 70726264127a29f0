/**
 * `deno task embed`: the embeddings of a trained run, written as NumPy files, so that they can be
 * evaluated again (`deno task eval`, with other options or another split) or taken elsewhere
 * without retraining. The run's own recipe is rebuilt (with `--set` overrides, e.g. another
 * test sample: `data.testPerClass=0`), its latest checkpoint loaded, and each evaluation split
 * embedded as the trainer's evaluation does (`eval.space` unless `--space` says otherwise).
 *
 * ```sh
 * deno task embed runs/quickstart/2026-11-23T10-00-00 [--space embedding|features] [--set key=value]... [--out DIR]
 * # -> DIR/test.npy, DIR/test_labels.npy (or query/gallery pairs); DIR defaults to RUN/embeddings/<space>
 * deno task eval --embeddings DIR/test.npy --labels DIR/test_labels.npy --center
 * ```
 */
import { DmlError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { loadRecipe, type Recipe, resolveRecipe } from "../recipe.ts";
import { assemble, type Components } from "../assemble.ts";
import { useBackend } from "../backend.ts";
import { RunFolder } from "../run_folder.ts";
import { loadCheckpoint } from "../checkpoint.ts";
import { restoreWeights, TRAINING_KERNELS } from "../trainer.ts";
import { embedSplit } from "../embed.ts";
import { encodeNpy } from "../npy.ts";
import { EMBED_USAGE, parseCommandArgs } from "./usage.ts";
import type { Dataset, Split, State } from "../types.ts";

/** Runs the embed command on its arguments (after `embed`); returns the files written. */
export async function embedCommand(args: string[], registry: Registry): Promise<string[]> {
  const parsed = parseCommandArgs("embed", EMBED_USAGE, {
    args,
    allowPositionals: true,
    options: { space: { type: "string" }, set: { type: "string", multiple: true }, out: { type: "string" } },
  });
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new DmlError(`embed takes one run folder (usage: ${EMBED_USAGE})`);
  const run = positionals[0].replace(/\/+$/, "");
  const { onFeatures, embedded } = await embedRun(registry, run, values.set ?? [], values.space, "embed");
  // Everything is embedded before anything is written: bad input leaves no half-written folder.
  const files: [string, Uint8Array][] = embedded.flatMap(([name, e]) => [
    [`${name}.npy`, encodeNpy(e.data, [e.n, e.dim])],
    [`${name}_labels.npy`, encodeNpy(e.labels, [e.n])],
  ]);
  const out = (values.out ?? `${run}/embeddings/${onFeatures ? "features" : "embedding"}`).replace(/\/+$/, "");
  await Deno.mkdir(out, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of files) {
    // Each file appears whole or not at all: written beside its name, then renamed over it.
    const tmp = `${out}/.${name}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, `${out}/${name}`);
    written.push(`${out}/${name}`);
  }
  return written;
}

/** A trained run rebuilt from its folder, and its evaluation splits embedded. */
export interface EmbeddedRun {
  recipe: Recipe;
  components: Components;
  onFeatures: boolean;
  /** ["test", split], or ["query", q] and ["gallery", g]. */
  embedded: [string, Split][];
}

/**
 * Rebuilds the run in `run` from its saved recipe (with `sets` applied), loads its latest
 * checkpoint's weights and embeds each evaluation split as the trainer's evaluation does, in
 * `space` (embedding | features; the recipe's `eval.space` when undefined).
 * `command` names the command in error messages.
 */
export async function embedRun(
  registry: Registry,
  run: string,
  sets: string[],
  space: string | undefined,
  command: string,
): Promise<EmbeddedRun> {
  if (space !== undefined && space !== "embedding" && space !== "features") {
    throw new DmlError(`${command.split(" ")[0]}: --space must be embedding or features, got '${space}'`);
  }
  const { recipe, components: c } = await restoreRun(registry, run, sets, command);
  const onFeatures = (space ?? recipe.eval.space) === "features";
  const splits: [string, Dataset | undefined][] = c.data.test
    ? [["test", c.data.test]]
    : [["query", c.data.query], ["gallery", c.data.gallery]];
  if (splits.some(([, s]) => !s)) {
    throw new DmlError(`${command} ${run}: the dataset has neither a test split nor query and gallery splits`);
  }
  const embedded: [string, Split][] = [];
  for (const [name, split] of splits) {
    embedded.push([
      name,
      await embedSplit(split!, c.backbone, c.loss, { batch: recipe.train.evalBatch as number, features: onFeatures }),
    ]);
  }
  return { recipe, components: c, onFeatures, embedded };
}

/**
 * Rebuilds the run in `run` from its saved recipe (with `sets` applied) on `backend` (the recipe's
 * when undefined) and loads its latest checkpoint's weights. `command` names the command in errors.
 */
export async function restoreRun(
  registry: Registry,
  run: string,
  sets: string[],
  command: string,
  backend?: string,
): Promise<{ recipe: Recipe; components: Components; checkpoint: string }> {
  const checkpoint = await RunFolder.latestCheckpoint(run, `${command} ${run}`);
  const raw = await loadRecipe(`${run}/recipe.yaml`, sets);
  const recipe = await resolveRecipe(raw, registry, absolute(run));
  const state = await loadCheckpoint(checkpoint) as Record<string, State>;
  // The data's notices (e.g. malformed rows dropped) wait until the checkpoint fits the model, so
  // that a mismatch is the only line printed.
  const notices: unknown[][] = [], warn = console.warn;
  console.warn = (...a: unknown[]) => void notices.push(a);
  let c: Components;
  try {
    await useBackend((backend ?? recipe.train.backend) as never, { needs: TRAINING_KERNELS });
    c = await assemble(recipe, registry);
    restoreWeights(c, state, checkpoint);
  } finally {
    console.warn = warn;
  }
  for (const a of notices) console.warn(...a);
  return { recipe, components: c, checkpoint };
}

/** `dir` from the filesystem root (plugin paths in the saved recipe resolve against it). */
function absolute(dir: string): string {
  return dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
}
