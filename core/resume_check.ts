/**
 * What a resume checks of a checkpoint's state before the run folder is touched (its recipe was
 * compared with the run's just before): the counters are non-negative integers, the generator
 * state is one, every float tensor is finite, and the optimizer's arrays fit the model's weights.
 * The shapes of weights and states, the memory and the hooks are checked where they are restored
 * (trainer.ts `restore`), also before the folder is touched.
 *
 * ```ts
 * checkResumeState(state, trainables.map((v) => v.size), "runs/x/checkpoints/epoch-0002");
 * ```
 */
import { DmlError } from "./errors.ts";
import type { State } from "./types.ts";

/** Throws a DmlError naming the first field of `s` a resumed run could not continue from. */
export function checkResumeState(s: Record<string, State>, weightSizes: number[], where: string): void {
  const fail = (what: string) => {
    throw new DmlError(`${where}: ${what}`);
  };
  for (const k of ["epoch", "step"]) {
    if (!isCount(s[k])) fail(`${k} is ${describe(s[k])}, expected an integer >= 0`);
  }
  if (s.metricsBytes !== undefined && !isCount(s.metricsBytes)) {
    fail(`metricsBytes is ${describe(s.metricsBytes)}, expected an integer >= 0`);
  }
  const rng = s.rng;
  const words = Array.isArray(rng) ? rng.slice(0, 4) : [];
  if (
    !Array.isArray(rng) || words.length < 4 || !words.every((w) => isCount(w) && (w as number) <= 0xffffffff) ||
    words.every((w) => w === 0) || (rng.length > 4 && typeof rng[4] !== "number")
  ) {
    fail("rng is not a generator state (four 32-bit words, not all zero)");
  }
  const bad = firstNonFinite(s, "");
  if (bad) fail(`${bad.path} holds ${bad.value} (a checkpoint of a diverged or damaged run)`);
  if (s.optimizer === null || typeof s.optimizer !== "object") fail("the checkpoint holds no optimizer state");
  // Optimizer state is per weight (moments, velocities), whatever else an optimizer keeps.
  const sizes = new Set(weightSizes);
  const misfit = floatArrays(s.optimizer, "optimizer").find(([, a]) => !sizes.has(a.length));
  if (misfit) fail(`${misfit[0]} has ${misfit[1].length} values, the size of none of the model's weights`);
}

function isCount(v: State): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: State): string {
  return v === undefined ? "missing" : typeof v === "number" ? String(v) : JSON.stringify(v);
}

/** Every Float32Array under `v`, with its path ("optimizer.m[3]"). */
function floatArrays(v: State, path: string): [string, Float32Array][] {
  if (v instanceof Float32Array) return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => floatArrays(x, `${path}[${i}]`));
  if (v !== null && typeof v === "object" && !ArrayBuffer.isView(v)) {
    return Object.entries(v).flatMap(([k, x]) => floatArrays(x, path ? `${path}.${k}` : k));
  }
  return [];
}

function firstNonFinite(v: State, path: string): { path: string; value: number } | null {
  for (const [p, a] of floatArrays(v, path)) {
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return { path: `${p}[${i}]`, value: a[i] };
  }
  return null;
}
