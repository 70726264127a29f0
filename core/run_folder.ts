/**
 * A run's folder: `runs/<name>/<timestamp>/` with the resolved `recipe.yaml`, `metrics.jsonl`
 * (one JSON object per line) and `checkpoints/epoch-NNNN/`.
 *
 * A process that trains a run holds a lock on its folder until it ends (an advisory lock on the
 * folder itself, which the system releases when the process dies, even by SIGKILL), so a second
 * `--resume` of the same run is refused instead of writing the same steps twice.
 *
 * ```ts
 * await using run = await RunFolder.create("runs", "quickstart", yamlText);
 * run.append({ type: "step", step: 50, loss: 0.41 });
 * ```
 */
import { DmlError } from "./errors.ts";
import { removeCheckpoint, removeStaleWrites, saveCheckpoint } from "./checkpoint.ts";
import type { State } from "./types.ts";

export class RunFolder {
  private constructor(readonly dir: string, private lock: Deno.FsFile | null) {}

  /**
   * Fails unless the process may write under `output`: called before the data is loaded, so that a
   * forbidden output folder is the only line printed.
   */
  static checkWritable(output: string, what = "output"): void {
    let state = "granted";
    try {
      state = Deno.permissions.querySync({ name: "write", path: output }).state;
    } catch { /* a runtime without the permissions API: let mkdir decide */ }
    if (state !== "granted") throw notAllowed(output, what);
  }

  /**
   * A new folder named after the time, locked. Created without `recursive`, so that of two runs
   * started in the same second one gets the name and the other the next suffix.
   */
  static async create(output: string, name: string, recipeYaml: string): Promise<RunFolder> {
    const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\..*$/, "");
    const parent = `${output}/${name}`;
    let dir = "";
    try {
      await Deno.mkdir(parent, { recursive: true });
      for (let i = 1; !dir; i++) {
        const candidate = i === 1 ? `${parent}/${stamp}` : `${parent}/${stamp}-${i}`;
        try {
          await Deno.mkdir(candidate);
          dir = candidate;
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw notAllowed(output);
      throw e;
    }
    const folder = new RunFolder(dir, await lockFolder(dir, `output ${dir}`));
    await Deno.writeTextFile(`${dir}/recipe.yaml`, recipeYaml);
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, "");
    return folder;
  }

  /**
   * An existing run, locked (refused if another process holds it), with what interrupted
   * checkpoint writes left behind cleared. Its metrics are untouched until {@link rewindMetrics}.
   */
  static async open(dir: string, what = `--resume ${dir}`): Promise<RunFolder> {
    if (!(await exists(`${dir}/recipe.yaml`))) throw new DmlError(`${what}: not a run folder (no recipe.yaml)`);
    RunFolder.checkWritable(dir, what);
    const folder = new RunFolder(dir, await lockFolder(dir, what));
    // Holding the lock, every temporary file here is a dead process's.
    await removeStaleWrites(`${dir}/checkpoints`);
    await Deno.remove(`${dir}/${METRICS}${TMP}`).catch(() => {});
    return folder;
  }

  /** The newest complete checkpoint of a run folder. */
  static async latestCheckpoint(dir: string, what = `--resume ${dir}`): Promise<string> {
    if (!(await exists(`${dir}/recipe.yaml`))) throw new DmlError(`${what}: not a run folder (no recipe.yaml)`);
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(`${dir}/checkpoints`)) if (/^epoch-\d+$/.test(e.name)) names.push(e.name);
    } catch { /* no checkpoints folder */ }
    if (names.length === 0) throw new DmlError(`${what}: the run has no checkpoint yet`);
    names.sort();
    return `${dir}/checkpoints/${names[names.length - 1]}`;
  }

  /** The size of metrics.jsonl now; a checkpoint records it so that a resume can cut the file back to it. */
  async metricsBytes(): Promise<number> {
    return (await Deno.stat(`${this.dir}/${METRICS}`)).size;
  }

  /**
   * Cuts metrics.jsonl back to what it held when the checkpoint was written, so that a resumed run
   * repeats no line: to `bytes` (its recorded size), or for a checkpoint from before sizes were
   * recorded, to the lines up to its `step`. Checked first; then written to a temporary file and
   * renamed, so a crash leaves the old file or the new one.
   */
  async rewindMetrics(at: { bytes?: number; step: number }, what: string): Promise<void> {
    const path = `${this.dir}/${METRICS}`;
    const text = await Deno.readFile(path).catch(() => new Uint8Array(0));
    let kept: Uint8Array;
    if (at.bytes !== undefined) {
      if (text.byteLength < at.bytes || (at.bytes > 0 && text[at.bytes - 1] !== 0x0a)) {
        throw new DmlError(
          `${what}: ${path} holds ${text.byteLength} bytes, not the ${at.bytes} whole lines it had at the checkpoint (truncated or edited?)`,
        );
      }
      if (text.byteLength === at.bytes) return;
      kept = text.subarray(0, at.bytes);
    } else {
      const lines = new TextDecoder().decode(text).split("\n").filter((l) => {
        if (!l.trim()) return false;
        try {
          const r = JSON.parse(l);
          return typeof r.step !== "number" || r.step <= at.step;
        } catch {
          return false;
        }
      });
      kept = new TextEncoder().encode(lines.map((l) => l + "\n").join(""));
    }
    await Deno.writeFile(`${path}${TMP}`, kept);
    await Deno.rename(`${path}${TMP}`, path);
  }

  /** Whether metrics.jsonl holds an evaluation at `step`. */
  async hasEvalAt(step: number): Promise<boolean> {
    const text = await Deno.readTextFile(`${this.dir}/${METRICS}`).catch(() => "");
    return text.split("\n").some((l) => l.startsWith('{"type":"eval"') && JSON.parse(l).step === step);
  }

  /** Appends one record to metrics.jsonl. */
  append(record: Record<string, unknown>): void {
    Deno.writeTextFileSync(`${this.dir}/${METRICS}`, JSON.stringify(record) + "\n", { append: true });
  }

  /** Writes the epoch's checkpoint atomically and keeps only the newest `keep`. */
  async saveCheckpoint(epoch: number, state: State, keep: number): Promise<void> {
    const root = `${this.dir}/checkpoints`;
    await Deno.mkdir(root, { recursive: true });
    await saveCheckpoint(`${root}/epoch-${String(epoch).padStart(4, "0")}`, state);
    const names: string[] = [];
    for await (const e of Deno.readDir(root)) if (/^epoch-\d+$/.test(e.name)) names.push(e.name);
    names.sort();
    for (const old of names.slice(0, Math.max(0, names.length - keep))) await removeCheckpoint(`${root}/${old}`);
  }

  /** Releases the folder's lock. */
  close(): Promise<void> {
    this.lock?.close();
    this.lock = null;
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const METRICS = "metrics.jsonl", TMP = ".tmp";

/** An exclusive lock on the folder `dir`, held while the returned handle is open. */
async function lockFolder(dir: string, what: string): Promise<Deno.FsFile> {
  const handle = await Deno.open(dir, { read: true });
  if (await handle.tryLock(true)) return handle;
  handle.close();
  throw new DmlError(`${what}: another process is training this run (its folder is locked until that process ends)`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function notAllowed(output: string, what = "output"): DmlError {
  return new DmlError(
    `${what}: not allowed to write to '${output}' (the train task may write under runs/ only; run deno with --allow-write=${output})`,
  );
}
