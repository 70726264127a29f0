/**
 * The plugin sandbox: native code (OpenBLAS, sharp) loads before any recipe's plugin runs, and then the
 * process gives up FFI for good, so plugin code cannot `Deno.dlopen` a library, call a function pointer
 * or load a native addon (sharp's could write files anywhere). `deno task train|eval|embed` seal; tests
 * and library use that never seal keep the permissions they were started with.
 *
 * Workers that need a native library (sharp's decoding workers) are started by a host worker that keeps
 * FFI: it was given its own permissions before the seal (`--unstable-worker-options`), and it starts only
 * modules registered with {@link nativeWorker} before the seal, i.e. by the built-in plugins.
 *
 * ```ts
 * const DECODER = nativeWorker(new URL("./decode_worker.ts", import.meta.url).href); // at module level
 * sealNative();                              // cli.ts, before the recipe (and its plugins) load
 * const w = startWorker(DECODER);            // a Worker, or its stand-in through the host once sealed
 * w.postMessage(request); w.terminate();
 * ```
 */
import { blas } from "./blas.ts";
import { DmlError } from "./errors.ts";

/** What callers use of a worker: messages go one way; results come back through shared memory. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

const registered = new Set<string>();
let sealed = false;
let host: Worker | null = null;
let hostMissing = "";
let nextId = 0;

/** Registers a worker module that may load native code after the seal; returns its URL. */
export function nativeWorker(url: string): string {
  if (sealed && !registered.has(url)) throw new DmlError(`${url}: native workers are registered before plugins load`);
  registered.add(url);
  return url;
}

/** Whether a registered native worker can load its library: FFI granted, or kept by the host after the seal. */
export function nativeWorkersCanLoad(): boolean {
  return sealed ? host !== null : Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

/**
 * Loads the native libraries the core uses, starts the host for registered native workers, then revokes
 * FFI for the rest of the process. Idempotent.
 */
export function sealNative(): void {
  if (sealed) return;
  sealed = true;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return;
  blas(); // loaded (and cached) while FFI is still granted
  if (registered.size > 0) {
    try {
      host = new Worker(new URL("./native_host.ts", import.meta.url).href, {
        type: "module",
        // Its own permissions, so that revoking FFI here leaves it FFI; it writes nothing and has no network.
        deno: {
          permissions: {
            ffi: true,
            read: "inherit",
            env: "inherit",
            sys: "inherit",
            write: false,
            net: false,
            run: false,
          },
        },
      } as WorkerOptions);
      host.postMessage({ kind: "allow", urls: [...registered] });
    } catch (e) {
      hostMissing = (e as Error).message.split("\n")[0];
    }
  }
  Deno.permissions.revokeSync({ name: "ffi" });
}

/** Starts a worker: directly, or through the host when sealed (only for registered modules). */
export function startWorker(url: string): WorkerHandle {
  if (!sealed || !registered.has(url)) return new Worker(url, { type: "module" });
  if (!host) {
    throw new DmlError(
      `native code runs only in workers started before plugins load, which needs --unstable-worker-options ` +
        `(deno task train/eval/embed grant it)${hostMissing ? `: ${hostMissing}` : ""}`,
    );
  }
  const id = nextId++, via = host;
  via.postMessage({ kind: "start", id, url });
  return {
    postMessage: (data) => via.postMessage({ kind: "post", id, data }),
    terminate: () => via.postMessage({ kind: "end", id }),
  };
}
