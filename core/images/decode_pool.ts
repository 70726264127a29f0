/**
 * The process's pool of decoding workers, shared by every image dataset. A request's images are
 * spread over the workers in contiguous chunks; the results land in shared memory, so a caller may
 * wait synchronously (`Atomics.wait`, for `Dataset.batch`) or asynchronously (for `loadBatch`, which
 * lets decoding run ahead of training).
 *
 * Idle workers are ended after a few seconds (a live worker keeps a Deno process alive); the next
 * request starts them again. Tests call {@link closeDecodePool}.
 *
 * ```ts
 * const pending = decodePool().decode(jobs, transform, pixels, "float32", out);
 * pending.waitSync();            // or: await pending.wait();
 * pending.failure();             // the first failure's text, or null
 * ```
 */
import {
  CONTROL_BYTES,
  type DecodeJob,
  type DecodeRequest,
  MESSAGE_BYTES,
  type PixelSpec,
  readFailure,
  type VerifyRequest,
} from "./decode_protocol.ts";
import type { TransformSpec } from "./transform.ts";
import { DmlError } from "../errors.ts";
import { nativeWorker, startWorker, type WorkerHandle } from "../sandbox.ts";

/** sharp is native code: the worker is registered to keep FFI once the CLI seals the process. */
const DECODE_WORKER = nativeWorker(new URL("./decode_worker.ts", import.meta.url).href);

/** Idle time after which the workers are ended. */
const IDLE_MS = 3000;
/** A synchronous wait that sees no progress for this long reports the workers as stuck. */
const STALL_MS = 120_000;

/** One submitted request: its jobs are counted down in `control[0]`. */
export class Pending {
  readonly control: Int32Array;
  readonly message: Uint8Array;

  constructor(jobs: number, private readonly onSettled: () => void) {
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    this.message = new Uint8Array(new SharedArrayBuffer(MESSAGE_BYTES));
    this.control[0] = jobs;
    if (jobs === 0) queueMicrotask(onSettled);
  }

  /** Blocks the calling thread until every job is done. */
  waitSync(): void {
    let last = Atomics.load(this.control, 0), since = performance.now();
    while (last > 0) {
      Atomics.wait(this.control, 0, last, 1000);
      const now = Atomics.load(this.control, 0);
      if (now !== last) {
        last = now;
        since = performance.now();
      } else if (performance.now() - since > STALL_MS) {
        throw new DmlError(`data: the image decoding workers stopped answering (${now} images still pending)`);
      }
    }
    this.onSettled();
  }

  /** Resolves when every job is done, without blocking the thread. */
  async wait(): Promise<void> {
    for (let left = Atomics.load(this.control, 0); left > 0; left = Atomics.load(this.control, 0)) {
      const r = Atomics.waitAsync(this.control, 0, left, STALL_MS);
      const outcome = r.async ? await r.value : r.value;
      if (outcome === "timed-out" && Atomics.load(this.control, 0) === left) {
        throw new DmlError(`data: the image decoding workers stopped answering (${left} images still pending)`);
      }
    }
    this.onSettled();
  }

  /** The first failure's text, or null when every job succeeded. */
  failure(): string | null {
    return readFailure(this.control, this.message);
  }
}

/** Decoding workers for the whole process. */
export class DecodePool {
  private workers: WorkerHandle[] = [];
  private inFlight = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @param size number of workers
   * @param concurrency images each worker keeps in flight
   */
  constructor(public size: number, public concurrency: number) {}

  /** Decodes `jobs` into `out` ([B, size, size, 3] of `output`'s type). */
  decode(
    jobs: DecodeJob[],
    transform: TransformSpec,
    pixels: PixelSpec,
    output: "float32" | "uint8",
    out: SharedArrayBuffer,
  ): Pending {
    const pending = this.track(jobs.length);
    this.spread(jobs, (chunk, worker) => {
      const req: DecodeRequest = {
        kind: "decode",
        jobs: chunk,
        transform,
        pixels,
        output,
        out,
        control: pending.control.buffer as SharedArrayBuffer,
        message: pending.message.buffer as SharedArrayBuffer,
        concurrency: this.concurrency,
      };
      worker.postMessage(req);
    });
    return pending;
  }

  /** Fully decodes each file once; `status` (Int32 per path) gets 1 for readable, 2 for not. */
  verify(paths: string[], status: SharedArrayBuffer): Pending {
    const pending = this.track(paths.length);
    let offset = 0;
    this.spread(paths, (chunk, worker) => {
      const req: VerifyRequest = {
        kind: "verify",
        paths: chunk,
        offset,
        status,
        control: pending.control.buffer as SharedArrayBuffer,
        message: pending.message.buffer as SharedArrayBuffer,
        concurrency: this.concurrency,
      };
      offset += chunk.length;
      worker.postMessage(req);
    });
    return pending;
  }

  /** Ends the workers now (they restart on the next request). */
  close(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }

  private track(jobs: number): Pending {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.inFlight++;
    return new Pending(jobs, () => {
      this.inFlight--;
      if (this.inFlight === 0) this.scheduleIdleClose();
    });
  }

  private scheduleIdleClose(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const timer = setTimeout(() => {
      this.idleTimer = null;
      if (this.inFlight === 0) this.close();
    }, IDLE_MS);
    // The timer alone must not keep the process alive.
    Deno.unrefTimer(timer);
    this.idleTimer = timer;
  }

  /** Hands contiguous chunks of `items` to the workers (starting them if needed). */
  private spread<T>(items: T[], send: (chunk: T[], worker: WorkerHandle) => void): void {
    if (items.length === 0) return;
    while (this.workers.length < this.size) {
      this.workers.push(startWorker(DECODE_WORKER));
    }
    const per = Math.ceil(items.length / this.workers.length);
    for (let w = 0; w * per < items.length; w++) send(items.slice(w * per, (w + 1) * per), this.workers[w]);
  }
}

let shared: DecodePool | null = null;

/** Workers to use when a dataset asks for 0 (auto): a quarter of the cores, 1 to 4. */
export function autoWorkers(): number {
  const cores = navigator.hardwareConcurrency || 2;
  return Math.max(1, Math.min(4, Math.floor(cores / 4)));
}

/**
 * The process's pool, grown to at least `workers` workers (0 = {@link autoWorkers}). Each worker
 * keeps enough images in flight to use all cores between them.
 */
export function decodePool(workers = 0): DecodePool {
  const want = workers > 0 ? workers : autoWorkers();
  const cores = navigator.hardwareConcurrency || 2;
  shared ??= new DecodePool(want, 1);
  // Growing adds workers at the next request; running requests are not disturbed.
  shared.size = Math.max(shared.size, want);
  shared.concurrency = Math.max(2, Math.ceil(cores / shared.size));
  return shared;
}

/** Ends the shared pool's workers (tests; a CLI run simply exits). */
export function closeDecodePool(): void {
  shared?.close();
}
