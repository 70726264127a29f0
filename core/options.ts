/**
 * Option schemas: each component declares its options with a default, a type and a range,
 * and {@link resolveOptions} validates a recipe section against them, filling defaults.
 * Errors name the recipe path: `memory.size: expected an integer >= 1, got -5`.
 *
 * ```ts
 * const schema = { margin: num(0.5, { min: 0, doc: "hinge margin" }) };
 * resolveOptions(schema, { margin: 0.2 }, "loss"); // { margin: 0.2 }
 * ```
 */
import { DmlError } from "./errors.ts";

export type OptionSpec =
  | { type: "number"; default?: number; min?: number; max?: number; integer?: boolean; gt?: number; doc: string }
  | { type: "boolean"; default?: boolean; doc: string }
  | { type: "string"; default?: string; choices?: readonly string[]; doc: string }
  | { type: "numbers"; default?: number[]; min?: number; max?: number; integer?: boolean; doc: string }
  | { type: "strings"; default?: string[]; doc: string }
  | { type: "object"; default?: Record<string, unknown> | null; doc: string; schema?: Schema }
  | { type: "any"; default?: unknown; doc: string };

export type Schema = Record<string, OptionSpec>;

type Range = { min?: number; max?: number; gt?: number; doc?: string };

/** A number option; `default: undefined` makes it required. */
export function num(d: number | undefined, r: Range = {}): OptionSpec {
  return { type: "number", default: d, min: r.min, max: r.max, gt: r.gt, doc: r.doc ?? "" };
}
/** An integer option. */
export function int(d: number | undefined, r: Range = {}): OptionSpec {
  return { type: "number", integer: true, default: d, min: r.min, max: r.max, gt: r.gt, doc: r.doc ?? "" };
}
/** A boolean option. */
export function bool(d: boolean | undefined, doc = ""): OptionSpec {
  return { type: "boolean", default: d, doc };
}
/** A string option, optionally one of `choices`. */
export function str(d: string | undefined, choices?: readonly string[], doc = ""): OptionSpec {
  return { type: "string", default: d, choices, doc };
}
/** A list of numbers. */
export function nums(
  d: number[] | undefined,
  r: { min?: number; max?: number; integer?: boolean; doc?: string } = {},
): OptionSpec {
  return { type: "numbers", default: d, min: r.min, max: r.max, integer: r.integer, doc: r.doc ?? "" };
}
/** A nested object (e.g. a wrapped component's section `{ use: margin, ... }`). */
export function obj(d: Record<string, unknown> | null | undefined, doc = ""): OptionSpec {
  return { type: "object", default: d, doc };
}

/** A nested section validated by its own schema (e.g. `lrMult: { head: 10 }`); defaults fill what is left out. */
export function section(schema: Schema, doc = ""): OptionSpec {
  return { type: "object", default: resolveOptions(schema, {}, ""), doc, schema };
}

/** Validates `given` against `schema` and returns it with defaults filled. */
export function resolveOptions(schema: Schema, given: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!(key in schema)) {
      const known = Object.keys(schema);
      const near = closest(key, known);
      throw new DmlError(
        `${path}.${key}: unknown option${near ? ` (did you mean '${near}'?)` : ""}; known: ${
          known.join(", ") || "none"
        }`,
      );
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    const p = `${path}.${key}`;
    if (given[key] === undefined) {
      if (spec.default === undefined) throw new DmlError(`${p}: required option is missing (${spec.doc})`);
      out[key] = structuredClone(spec.default);
      continue;
    }
    out[key] = checkValue(spec, given[key], p);
  }
  return out;
}

/**
 * The largest integer any option takes unless it declares its own `max`: counts, sizes and indices are
 * int32 in tfjs, so a larger one is a typo (1e12) that would otherwise fail deep in the engine.
 */
export const INT_CEILING = 2 ** 31 - 1;

/** A value as an error shows it: JSON, except the numbers JSON cannot spell (NaN, Infinity). */
export function describe(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v) && v.some((x) => typeof x === "number" && !Number.isFinite(x))) {
    return `[${v.map(describe).join(",")}]`;
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * Refuses what a recipe implies allocating when it exceeds the machine's memory, naming the option that
 * sets it: `memory.size: 1000000000 entries of 128 float32 need 477 GiB, more than this machine's 8 GiB of memory`.
 */
export function checkFits(bytes: number, path: string, what: string): void {
  let total: number;
  try {
    total = Deno.systemMemoryInfo().total;
  } catch {
    return; // no --allow-sys: the engine reports it, later
  }
  if (bytes > total) {
    const gib = (b: number) => (b >= 10 * 2 ** 30 ? Math.round(b / 2 ** 30) : (b / 2 ** 30).toFixed(1)).toString();
    throw new DmlError(`${path}: ${what} need ${gib(bytes)} GiB, more than this machine's ${gib(total)} GiB of memory`);
  }
}

function checkValue(spec: OptionSpec, v: unknown, p: string): unknown {
  const got = describe(v);
  switch (spec.type) {
    case "number": {
      const what = spec.integer ? "an integer" : "a number";
      // The implicit ceiling is named only when it is what the value broke, so familiar messages stay short.
      const max = spec.max ?? (spec.integer ? INT_CEILING : undefined);
      const shown = spec.max ?? (typeof v === "number" && max !== undefined && v > max ? max : undefined);
      const bound = spec.gt !== undefined ? ` > ${spec.gt}` : spec.min !== undefined ? ` >= ${spec.min}` : "";
      const top = shown !== undefined ? `${bound ? " and" : ""} <= ${shown}` : "";
      const fail = () => new DmlError(`${p}: expected ${what}${bound}${top}, got ${got}`);
      if (typeof v !== "number" || !Number.isFinite(v)) throw fail();
      if (spec.integer && !Number.isInteger(v)) throw fail();
      if (spec.min !== undefined && v < spec.min) throw fail();
      if (spec.gt !== undefined && v <= spec.gt) throw fail();
      if (max !== undefined && v > max) throw fail();
      return v;
    }
    case "boolean":
      if (typeof v !== "boolean") throw new DmlError(`${p}: expected true or false, got ${got}`);
      return v;
    case "string":
      if (typeof v !== "string") throw new DmlError(`${p}: expected a string, got ${got}`);
      if (spec.choices && !spec.choices.includes(v)) {
        throw new DmlError(`${p}: expected one of ${spec.choices.join(", ")}, got ${got}`);
      }
      return v;
    case "numbers": {
      const max = spec.max ?? (spec.integer ? INT_CEILING : undefined);
      const over = Array.isArray(v) && v.some((x) => typeof x === "number" && max !== undefined && x > max);
      const shown = spec.max ?? (over ? max : undefined);
      const what = `a list of ${spec.integer ? "integers" : "numbers"}${
        spec.min !== undefined ? ` >= ${spec.min}` : ""
      }${shown !== undefined ? `${spec.min !== undefined ? " and" : ""} <= ${shown}` : ""}`;
      if (!Array.isArray(v)) throw new DmlError(`${p}: expected ${what}, got ${got}`);
      for (const x of v) {
        const bad = typeof x !== "number" || !Number.isFinite(x) || (spec.integer && !Number.isInteger(x)) ||
          (spec.min !== undefined && x < spec.min) || (max !== undefined && x > max);
        if (bad) throw new DmlError(`${p}: expected ${what}, got ${got}`);
      }
      return v;
    }
    case "strings":
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        throw new DmlError(`${p}: expected a list of strings, got ${got}`);
      }
      return v;
    case "object":
      if ((spec.schema && v === null) || (v !== null && (typeof v !== "object" || Array.isArray(v)))) {
        throw new DmlError(`${p}: expected a mapping, got ${got}`);
      }
      return spec.schema ? resolveOptions(spec.schema, v as Record<string, unknown>, p) : v;
    case "any":
      return v;
  }
}

/** The nearest name by edit distance, if it is close enough to be a typo. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
