/**
 * Backend choice through the real CLI (subprocesses): a forced backend that is unavailable is one
 * line listing what is; `auto` without a GPU picks blas, or wasm without BLAS, and says why.
 * "No GPU" is made by a preload that hides `navigator.gpu`; "no BLAS" by `DML_BLAS=off`.
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { blas } from "../core/blas.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures`;

async function workspace(): Promise<string> {
  const dir = await Deno.makeTempDir();
  // The toy plugin imports core by relative path; point it at this checkout.
  const src = await Deno.readTextFile(`${FIXTURES}/toy_plugin.ts`);
  await Deno.writeTextFile(`${dir}/toy_plugin.ts`, src.replaceAll("../../core/", `${ROOT}core/`));
  await Deno.writeTextFile(`${dir}/toy.yaml`, await Deno.readTextFile(`${FIXTURES}/toy.yaml`));
  await Deno.writeTextFile(`${dir}/no_gpu.ts`, `Object.defineProperty(navigator, "gpu", { value: undefined });\n`);
  return dir;
}

async function train(dir: string, opts: { gpu: boolean; blas: boolean }, ...sets: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(opts.gpu ? [] : ["--preload", `${dir}/no_gpu.ts`]),
      `${ROOT}cli.ts`,
      "train",
      "toy.yaml",
      "--set",
      "train.epochs=1",
      "--set",
      `output=${dir}/runs`,
      ...sets.flatMap((s) => ["--set", s]),
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...(opts.blas ? {} : { DML_BLAS: "off" }) },
  }).output();
  const dec = new TextDecoder();
  // Deno's WebGPU prints a harmless XDG_RUNTIME_DIR line on some machines.
  const stderr = dec.decode(out.stderr).split("\n").filter((l) => l && !l.includes("XDG_RUNTIME_DIR")).join("\n");
  return { code: out.code, stdout: dec.decode(out.stdout), stderr };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function oneLine(r: { code: number; stderr: string }, pattern: RegExp) {
  assertEquals(r.code, 2, `exit code for: ${r.stderr}`);
  assertEquals(r.stderr.split("\n").length, 1, `one line expected, got:\n${r.stderr}`);
  match(r.stderr, pattern);
  ok(!/\bat file:|Stack backtrace/.test(r.stderr));
}

const hasBlas = blas() !== null;

Deno.test("forcing webgpu with no GPU adapter is one line listing the available backends; nothing is written", async () => {
  const dir = await workspace();
  const r = await train(dir, { gpu: false, blas: hasBlas }, "train.backend=webgpu");
  oneLine(
    r,
    /^error: train\.backend: webgpu is not available here \(no GPU adapter.*\); available: (blas, )?wasm, cpu$/,
  );
  ok(!(await exists(`${dir}/runs`)), "no run folder");
});

Deno.test("forcing blas without a BLAS library is one line listing the available backends", async () => {
  const dir = await workspace();
  const r = await train(dir, { gpu: false, blas: false }, "train.backend=blas");
  oneLine(r, /^error: train\.backend: blas is not available here \(DML_BLAS=off\); available: wasm, cpu$/);
  ok(!(await exists(`${dir}/runs`)), "no run folder");
});

Deno.test("auto without a GPU trains on wasm when BLAS is off, saying why", async () => {
  const dir = await workspace();
  const r = await train(dir, { gpu: false, blas: false }, "train.backend=auto");
  assertEquals(r.code, 0, r.stderr);
  match(r.stdout, /^backend: wasm \(no WebGPU adapter; no BLAS \(DML_BLAS=off\); wasm \(SIMD\) is the fastest/m);
});

Deno.test({
  name: "auto without a GPU trains on blas where a BLAS library loads, saying why; `backend: blas` trains too",
  ignore: !hasBlas,
  fn: async () => {
    const dir = await workspace();
    const r = await train(dir, { gpu: false, blas: true }, "train.backend=auto");
    assertEquals(r.code, 0, r.stderr);
    match(r.stdout, new RegExp(`^backend: blas \\(no WebGPU adapter; blas \\(tfjs cpu with ${blas()!.name}`, "m"));
    const forced = await train(dir, { gpu: false, blas: true }, "train.backend=blas");
    assertEquals(forced.code, 0, forced.stderr);
    match(forced.stdout, /^backend: blas \(forced by the recipe\)/m);
  },
});
