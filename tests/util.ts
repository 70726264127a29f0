/** Small test helpers shared by the suite: tolerant comparison, seeded data, leak checks, backends. */
import { tf } from "../core/tf.ts";
import type { Tensor } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { useBackend, webgpuAdapter } from "../core/backend.ts";

/** Asserts |a - b| <= atol + rtol |b| elementwise, naming the first bad index. */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  { atol = 1e-5, rtol = 1e-4, msg = "" }: { atol?: number; rtol?: number; msg?: string } = {},
): void {
  const a = typeof actual === "number" ? [actual] : actual;
  const b = typeof expected === "number" ? [expected] : expected;
  if (a.length !== b.length) throw new Error(`${msg} length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = (Number.isNaN(a[i]) && Number.isNaN(b[i])) || Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]);
    if (!ok) throw new Error(`${msg} at ${i}: got ${a[i]}, expected ${b[i]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Standard normal numbers as plain arrays of rows (float64, for references). */
export function randn(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
}

/** Random integer labels in [0, classes). */
export function randLabels(rng: Rng, n: number, classes: number): number[] {
  return Array.from({ length: n }, () => rng.int(classes));
}

/** Runs `fn` and asserts it leaves no new tensor behind. */
export async function assertNoLeak<T>(fn: () => T | Promise<T>, what = "call"): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${what} leaked ${after - before} tensors`);
  return out;
}

/** Backends to check a computation on: cpu always, webgpu where an adapter exists (lavapipe in CI). */
export async function testBackends(): Promise<string[]> {
  return (await webgpuAdapter()) ? ["cpu", "webgpu"] : ["cpu"];
}

/** Runs `fn` on the named backend, then returns to cpu. */
export async function onBackend<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  await useBackend(name as "cpu" | "webgpu" | "wasm");
  try {
    return await fn();
  } finally {
    await useBackend("cpu");
  }
}

/**
 * Runs one kernel by name on `backend` on inputs given as [values, shape] (int32 for an
 * Int32Array) and returns a copy of its output's values.
 */
export function runKernelOn(
  backend: string,
  kernel: string,
  inputs: Record<string, [Float32Array | Int32Array, number[]]>,
  attrs: Record<string, unknown> = {},
): Promise<Float32Array> {
  return onBackend(backend, () =>
    tf.tidy(() => {
      const ins = Object.fromEntries(
        Object.entries(inputs).map((
          [k, [v, s]],
        ) => [k, tf.tensor(v, s, v instanceof Int32Array ? "int32" : "float32")]),
      );
      return (tf.engine().runKernel(kernel, ins, attrs as never) as Tensor).dataSync().slice() as Float32Array;
    }));
}

/** Numerical gradient of a float64 function by central differences. */
export function numericGrad(f: (x: number[]) => number, x: number[], h = 1e-3): number[] {
  return x.map((_, i) => {
    const p = x.slice(), m = x.slice();
    p[i] += h;
    m[i] -= h;
    return (f(p) - f(m)) / (2 * h);
  });
}
