/**
 * Backend choice: `auto` prefers a WebGPU adapter, else the fastest CPU backend that has the
 * run's kernels (blas, then wasm, then cpu); `webgpu`, `blas`, `wasm` and `cpu` force one. Says
 * which it picked and why.
 *
 * ```ts
 * const { backend, reason } = await useBackend("auto");
 * ```
 */
import { tf } from "./tf.ts";
import { DmlError } from "./errors.ts";
import { blas, whyNoBlas } from "./blas.ts";
import { registerBlasBackend } from "./blas_backend.ts";

export type BackendName = "auto" | "webgpu" | "wasm" | "cpu" | "blas";
export const BACKENDS: readonly BackendName[] = ["auto", "webgpu", "wasm", "cpu", "blas"];

export interface BackendChoice {
  backend: Exclude<BackendName, "auto">;
  reason: string;
  /** The GPU adapter's description, when WebGPU is used. */
  adapter?: string;
}

let webgpuLoaded = false;
let wasmLoaded = false;

/** Whether Deno exposes a WebGPU adapter here, and its description. */
export async function webgpuAdapter(): Promise<string | null> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return null;
  quietWaylandProbe();
  try {
    const adapter = await gpu.requestAdapter() as { info?: Record<string, string> } | null;
    if (!adapter) return null;
    const info = adapter.info ?? {};
    return info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || "unknown";
  } catch {
    return null;
  }
}

/**
 * On a headless Linux machine the Vulkan driver's Wayland probe prints "XDG_RUNTIME_DIR is invalid or not set"
 * twice to stderr, from native code, before any message of ours. It only needs the variable to name a folder;
 * /tmp is the customary fallback, and nothing is written there.
 */
function quietWaylandProbe(): void {
  try {
    if (Deno.build.os === "linux" && !Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  } catch {
    // no --allow-env: the lines stay
  }
}

/** A software rasteriser posing as a GPU (Mesa's lavapipe/llvmpipe, SwiftShader): slower than the CPU backends. */
export function isSoftwareAdapter(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

async function load(name: "webgpu" | "wasm"): Promise<void> {
  if (name === "webgpu" && !webgpuLoaded) {
    quietWaylandProbe();
    await import("@tensorflow/tfjs-backend-webgpu");
    webgpuLoaded = true;
  }
  if (name === "wasm" && !wasmLoaded) {
    await import("@tensorflow/tfjs-backend-wasm");
    // The threaded build spawns Node workers from blob: URLs, which Deno refuses; use the
    // single-threaded SIMD build (core/tf.ts hides Node from tfjs, which would otherwise turn threads on).
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    await import("./wasm_kernels.ts");
    wasmLoaded = true;
  }
}

/** Sets the tfjs backend, loading it first; a forced backend that is unavailable is a DmlError. */
export async function useBackend(want: BackendName, opts: { needs?: string[] } = {}): Promise<BackendChoice> {
  if (!BACKENDS.includes(want)) {
    throw new DmlError(`train.backend: unknown backend '${want}'; known: ${BACKENDS.join(", ")}`);
  }
  const adapter = want === "auto" || want === "webgpu" ? await webgpuAdapter() : null;
  if (want === "webgpu") {
    if (!adapter) {
      throw new DmlError(
        `train.backend: webgpu is not available here (no GPU adapter; on Linux install mesa-vulkan-drivers for a software one); available: ${
          (await availableBackends()).join(", ")
        }`,
      );
    }
    await set("webgpu");
    return { backend: "webgpu", reason: "forced by the recipe", adapter };
  }
  if (want === "blas" && !registerBlasBackend()) {
    throw new DmlError(
      `train.backend: blas is not available here (${whyNoBlas()}); available: ${
        (await availableBackends()).join(", ")
      }`,
    );
  }
  if (want === "wasm" || want === "cpu" || want === "blas") {
    await set(want);
    return { backend: want, reason: "forced by the recipe" };
  }
  if (adapter && !isSoftwareAdapter(adapter)) {
    await set("webgpu");
    return { backend: "webgpu", reason: `a WebGPU adapter is present (${adapter})`, adapter };
  }
  const noGpu = adapter ? `the only WebGPU adapter is a software one (${adapter})` : "no WebGPU adapter";
  if (registerBlasBackend()) {
    await set("blas");
    return {
      backend: "blas",
      reason: `${noGpu}; blas (tfjs cpu with ${
        blas()!.name
      } sgemm for matMul and convolutions) is the fastest CPU backend`,
    };
  }
  const noBlas = `no BLAS (${whyNoBlas()})`;
  const missing = await missingWasmKernels(opts.needs ?? []);
  if (missing.length === 0) {
    await set("wasm");
    return {
      backend: "wasm",
      reason: `${noGpu}; ${noBlas}; wasm (SIMD) is the fastest CPU backend with every kernel this run uses`,
    };
  }
  await set("cpu");
  return { backend: "cpu", reason: `${noGpu}; ${noBlas}; wasm lacks ${missing.join(", ")}` };
}

async function set(name: Exclude<BackendName, "auto">): Promise<void> {
  if (name === "webgpu" || name === "wasm") await load(name);
  if (tf.getBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok) throw new DmlError(`train.backend: the ${name} backend failed to initialise`);
  await tf.ready();
}

/** Kernels of `names` the wasm backend does not have. */
export async function missingWasmKernels(names: string[]): Promise<string[]> {
  await load("wasm");
  return names.filter((k) => tf.getKernel(k, "wasm") === undefined);
}

/** Backends that can run here, in the order `auto` prefers them on a hardware GPU. */
export async function availableBackends(): Promise<string[]> {
  const out = ["wasm", "cpu"];
  if (registerBlasBackend()) out.unshift("blas");
  if (await webgpuAdapter()) out.unshift("webgpu");
  return out;
}
