/**
 * Recipes: YAML files that declare which components a run combines.
 *
 * ```ts
 * const raw = await loadRecipe("recipes/quickstart.yaml", ["train.epochs=2"]);
 * const recipe = await resolveRecipe(raw, registry);   // defaults filled, validated
 * ```
 *
 * A section `{ use: name, ...options }` names a registered component; `extends: base.yaml`
 * inherits another recipe (a section whose `use` changes is replaced whole, otherwise merged);
 * `--set a.b=value` overrides any key after that, its value read as YAML.
 */
import { isScalar, parse, parseDocument, stringify, visit } from "yaml";
import { readTextBounded } from "./bounded_read.ts";
import { DmlError } from "./errors.ts";
import { bool, describe, int, num, nums, resolveOptions, type Schema, str } from "./options.ts";
import type { Registry } from "./registry.ts";
import type { Kind } from "./types.ts";
import { BACKENDS } from "./backend.ts";

export type RawRecipe = Record<string, unknown>;

/** Sections that name a component, with their kind; `memory` is optional. */
export const COMPONENT_SECTIONS: ReadonlyArray<[string, Kind, boolean]> = [
  ["data", "dataset", true],
  ["backbone", "backbone", true],
  ["sampler", "sampler", true],
  ["loss", "loss", true],
  ["memory", "memory", false],
  ["optimizer", "optimizer", true],
  ["eval", "evaluator", true],
];

/** The trainer's own options (`train:`). */
export const TRAIN_SCHEMA: Schema = {
  epochs: int(10, { min: 1, doc: "passes over the sampler's epoch" }),
  maxSteps: int(0, { min: 0, doc: "stop after this many steps in all (0: no bound); for smoke runs" }),
  backend: str("auto", BACKENDS, "auto picks WebGPU on a GPU, else the fastest CPU backend with the run's kernels"),
  schedule: str("constant", ["constant", "step", "cosine", "linear"], "learning-rate schedule over the run"),
  warmup: int(0, { min: 0, doc: "steps of linear warm-up from 0 to the learning rate" }),
  milestones: nums([], {
    min: 0,
    integer: true,
    doc: "epochs at which the step schedule multiplies the rate by gamma",
  }),
  gamma: num(0.1, { gt: 0, doc: "factor of the step schedule" }),
  minLr: num(0, { min: 0, doc: "the rate cosine and linear schedules end at" }),
  clip: num(0, { min: 0, doc: "clip gradients to this global L2 norm (0: off)" }),
  logEvery: int(50, { min: 1, doc: "steps per summary line and metrics.jsonl step record" }),
  checkpoint: bool(true, "write a checkpoint at the end of every epoch"),
  keepCheckpoints: int(2, { min: 1, doc: "how many epoch checkpoints to keep" }),
  evalBatch: int(256, { min: 1, doc: "batch size when embedding a split" }),
  prefetch: int(2, {
    min: 0,
    doc: "batches a file-backed dataset decodes ahead of the training step (0: each when it is needed)",
  }),
};

/** Keys of `eval:` that the trainer reads; the rest are the evaluator's options. */
export const EVAL_TRAINER_SCHEMA: Schema = {
  every: int(1, { min: 0, doc: "evaluate every this many epochs (0: only at the end)" }),
  baselines: bool(false, "also evaluate raw pixels and the untrained network, for comparison"),
  space: str(
    "embedding",
    ["embedding", "features"],
    "what retrieval ranks by: the embedding head's output, or the backbone's pre-head features (the head is then " +
      "a projection head that only the loss sees, as in SimCLR and SupCon; features often transfer better to unseen classes)",
  ),
};

/** The largest seed: the generator's state starts from its 32 bits. */
export const MAX_SEED = 2 ** 32 - 1;

const TOP_LEVEL = [
  "name",
  "description",
  "seed",
  "plugins",
  "extends",
  "train",
  "output",
  ...COMPONENT_SECTIONS.map((s) => s[0]),
];

/** A recipe with defaults filled and every section validated. */
export interface Recipe {
  name: string;
  description?: string;
  seed: number;
  plugins: string[];
  output: string;
  train: Record<string, unknown> & { epochs: number; maxSteps: number; backend: string };
  data: Record<string, unknown>;
  backbone: Record<string, unknown>;
  sampler: Record<string, unknown>;
  loss: Record<string, unknown>;
  memory?: Record<string, unknown>;
  optimizer: Record<string, unknown>;
  eval: Record<string, unknown>;
  /** Directory of the recipe file, for relative plugin paths. */
  baseDir: string;
}

/** Reads a recipe file, follows `extends`, applies `--set` overrides. */
export async function loadRecipe(path: string, sets: string[] = []): Promise<RawRecipe> {
  const raw = await readWithExtends(path, []);
  for (const s of sets) applySet(raw, s);
  return raw;
}

async function readWithExtends(path: string, chain: string[]): Promise<RawRecipe> {
  const abs = absolute(path);
  if (chain.includes(abs)) {
    throw new DmlError(`${path}: extends cycle: ${[...chain, abs].map(shortPath).join(" -> ")}`);
  }
  const doc = await readYaml(path);
  // A plugin path is relative to the file that names it, so a recipe extending another keeps working.
  if (Array.isArray(doc.plugins)) {
    doc.plugins = doc.plugins.map((
      p,
    ) => (typeof p === "string" && !p.startsWith("/") ? normalize(`${dirname(abs)}/${p}`) : p));
  }
  const ext = doc.extends;
  delete doc.extends;
  if (ext === undefined) return doc;
  if (typeof ext !== "string") {
    throw new DmlError(`${path}: extends: expected a recipe path, got ${describe(ext)}`);
  }
  const parentPath = ext.startsWith("/") ? ext : `${dirname(abs)}/${ext}`;
  const parent = await readWithExtends(parentPath, [...chain, abs]);
  return mergeRecipe(parent, doc);
}

async function readYaml(path: string): Promise<RawRecipe> {
  return parseRecipeText(await readTextBounded(path, "recipe file"), path);
}

/** A recipe's YAML text as raw data (no `extends` followed); `where` names it in errors. */
export function parseRecipeText(text: string, where: string): RawRecipe {
  const doc = parseYaml(text, where);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new DmlError(`${where}: a recipe must be a YAML mapping`);
  }
  return doc as RawRecipe;
}

/** Aliases a recipe may expand: a few are handy, thousands are an expansion bomb. */
const MAX_ALIASES = 100;

/**
 * YAML to plain data, every failure one line with its place: syntax, a key given twice in a mapping (checked
 * here in linear time; the library's own check is quadratic in the keys), too many aliases.
 */
function parseYaml(text: string, path: string): unknown {
  const at = (offset: number) =>
    offset >= 0
      ? ` at line ${text.slice(0, offset).split("\n").length}, column ${offset - text.lastIndexOf("\n", offset - 1)}`
      : "";
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  const error = doc.errors[0];
  if (error) {
    const message = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new DmlError(`${path}: YAML syntax error${at(error.pos?.[0] ?? -1)}: ${message}`);
  }
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        const k = isScalar(key) ? key.value : key;
        if (seen.has(k)) {
          throw new DmlError(
            `${path}: YAML key '${String(k)}' given twice${at(isScalar(key) ? key.range?.[0] ?? -1 : -1)}`,
          );
        }
        seen.add(k);
      }
    },
  });
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    if (e instanceof ReferenceError) {
      throw new DmlError(`${path}: YAML aliases expand too far (at most ${MAX_ALIASES})`);
    }
    throw e;
  }
}

/** Child over parent; a component section whose `use` changes is replaced, not merged. */
export function mergeRecipe(parent: RawRecipe, child: RawRecipe): RawRecipe {
  const out: RawRecipe = structuredClone(parent);
  for (const [k, v] of Object.entries(child)) {
    const p = out[k];
    if (k === "plugins" && Array.isArray(p) && Array.isArray(v)) out[k] = [...new Set([...p, ...v])];
    else if (isMap(p) && isMap(v) && (v.use === undefined || v.use === p.use)) out[k] = mergeRecipe(p, v);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** Applies one `a.b.c=value` override; the value is read as YAML (numbers, booleans, lists). */
export function applySet(raw: RawRecipe, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new DmlError(`--set ${assignment}: expected key.path=value`);
  const keys = assignment.slice(0, eq).split(".");
  let value: unknown;
  try {
    value = parse(assignment.slice(eq + 1));
  } catch {
    value = assignment.slice(eq + 1);
  }
  let node: Record<string, unknown> = raw;
  for (const k of keys.slice(0, -1)) {
    if (!isMap(node[k])) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value === null && assignment.endsWith("=") ? "" : value;
}

/** Loads the recipe's `plugins:` and validates every section against the registry. */
export async function resolveRecipe(raw: RawRecipe, registry: Registry, baseDir = Deno.cwd()): Promise<Recipe> {
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL.includes(key)) throw new DmlError(`${key}: unknown recipe section; known: ${TOP_LEVEL.join(", ")}`);
  }
  const name = raw.name ?? "run";
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new DmlError(`name: expected letters, digits, '.', '_' or '-', got ${describe(name)}`);
  }
  const seed = raw.seed ?? 0;
  // The generator keeps 32 bits of it (core/rng.ts): a larger seed would alias a smaller one, silently.
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new DmlError(`seed: expected an integer >= 0 and <= ${MAX_SEED} (32 bits), got ${describe(seed)}`);
  }
  const plugins = raw.plugins ?? [];
  if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== "string")) {
    throw new DmlError(`plugins: expected a list of module paths, got ${describe(plugins)}`);
  }
  // Saved absolute, so that a resumed run finds its plugins from its own folder.
  const pluginPaths = (plugins as string[]).map((p) => (p.startsWith("/") ? p : normalize(`${baseDir}/${p}`)));
  for (const p of pluginPaths) await registry.load(p, baseDir);
  const output = raw.output ?? "runs";
  if (typeof output !== "string") throw new DmlError(`output: expected a folder path, got ${describe(output)}`);

  const train = resolveOptions(TRAIN_SCHEMA, section(raw, "train", {}), "train") as Recipe["train"];
  const out: Record<string, unknown> = { name, seed, plugins: pluginPaths, output, train, baseDir };
  if (raw.description !== undefined && raw.description !== null) {
    if (typeof raw.description !== "string") {
      throw new DmlError(`description: expected a string, got ${describe(raw.description)}`);
    }
    out.description = raw.description;
  }
  for (const [key, kind, required] of COMPONENT_SECTIONS) {
    if (raw[key] === undefined || raw[key] === null) {
      if (required) throw new DmlError(`${key}: missing section (it needs at least 'use: <${kind} name>')`);
      continue;
    }
    const sec = section(raw, key, {});
    if (key === "eval") {
      const trainerKeys: Record<string, unknown> = {};
      const evaluatorKeys: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(sec)) (k in EVAL_TRAINER_SCHEMA ? trainerKeys : evaluatorKeys)[k] = v;
      out.eval = {
        ...registry.resolve(kind, evaluatorKeys, key),
        ...resolveOptions(EVAL_TRAINER_SCHEMA, trainerKeys, key),
      };
    } else {
      out[key] = registry.resolve(kind, sec, key);
    }
  }
  return out as unknown as Recipe;
}

/** The evaluator's own options of a resolved `eval` section. */
export function evaluatorOptions(evalSection: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(evalSection)) if (!(k in EVAL_TRAINER_SCHEMA)) out[k] = v;
  return out;
}

/** The recipe as YAML, as saved in the run folder. */
export function recipeToYaml(recipe: Recipe): string {
  const { baseDir: _b, ...rest } = recipe;
  return stringify(rest, { lineWidth: 0 });
}

function section(raw: RawRecipe, key: string, dflt: Record<string, unknown>): Record<string, unknown> {
  const v = raw[key] ?? dflt;
  if (!isMap(v)) throw new DmlError(`${key}: expected a mapping, got ${describe(v)}`);
  return v;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function absolute(path: string): string {
  return path.startsWith("/") ? normalize(path) : normalize(`${Deno.cwd()}/${path}`);
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== "." && p !== "") parts.push(p);
  }
  return "/" + parts.join("/");
}

/** The folder of a path. */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function shortPath(abs: string): string {
  const cwd = Deno.cwd();
  return abs.startsWith(cwd + "/") ? abs.slice(cwd.length + 1) : abs;
}
