/**
 * Backend choice through the real CLI (subprocesses): a forced backend that is unavailable is one
 * line listing what is; `auto` without a GPU picks blas, or wasm without BLAS, and says why.
 * "No GPU" is made by a preload that hides `navigator.gpu`; "no BLAS" by `DML_BLAS=off`.
 */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { blas } from "../core/blas.ts";
import { assertOneLineError, ROOT, runCli } from "./cli_process.ts";

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

function train(dir: string, opts: { gpu: boolean; blas: boolean }, ...sets: string[]) {
  return runCli(
    dir,
    ["-A", ...(opts.gpu ? [] : ["--preload", `${dir}/no_gpu.ts`])],
    ["train", "toy.yaml", ...["train.epochs=1", `output=${dir}/runs`, ...sets].flatMap((s) => ["--set", s])],
    opts.blas ? {} : { DML_BLAS: "off" },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const hasBlas = blas() !== null;

Deno.test("forcing webgpu with no GPU adapter is one line listing the available backends; nothing is written", async () => {
  const dir = await workspace();
  const r = await train(dir, { gpu: false, blas: hasBlas }, "train.backend=webgpu");
  assertOneLineError(
    r,
    /^error: train\.backend: webgpu is not available here \(no GPU adapter.*\); available: (blas, )?wasm, cpu$/,
  );
  ok(!(await exists(`${dir}/runs`)), "no run folder");
});

Deno.test("forcing blas without a BLAS library is one line listing the available backends", async () => {
  const dir = await workspace();
  const r = await train(dir, { gpu: false, blas: false }, "train.backend=blas");
  assertOneLineError(r, /^error: train\.backend: blas is not available here \(DML_BLAS=off\); available: wasm, cpu$/);
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
