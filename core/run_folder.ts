/**
 * A run's folder: `runs/<name>/<timestamp>/` with the resolved `recipe.yaml`, `metrics.jsonl`
 * (one JSON object per line) and `checkpoints/epoch-NNNN/`.
 *
 * ```ts
 * const run = await RunFolder.create("runs", "quickstart", yamlText);
 * run.append({ type: "step", step: 50, loss: 0.41 });
 * ```
 */
import { DmlError } from "./errors.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import type { State } from "./types.ts";

export class RunFolder {
  private constructor(readonly dir: string) {}

  /**
   * Fails unless the process may write under `output`: called before the data is loaded, so that a
   * forbidden output folder is the only line printed.
   */
  static checkWritable(output: string): void {
    let state = "granted";
    try {
      state = Deno.permissions.querySync({ name: "write", path: output }).state;
    } catch { /* a runtime without the permissions API: let mkdir decide */ }
    if (state !== "granted") throw notAllowed(output);
  }

  /** A new folder named after the time; never reuses an existing one. */
  static async create(output: string, name: string, recipeYaml: string): Promise<RunFolder> {
    const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\..*$/, "");
    let dir = `${output}/${name}/${stamp}`;
    for (let i = 2; await exists(dir); i++) dir = `${output}/${name}/${stamp}-${i}`;
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw notAllowed(output);
      throw e;
    }
    await Deno.writeTextFile(`${dir}/recipe.yaml`, recipeYaml);
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, "");
    return new RunFolder(dir);
  }

  /** An existing run, its metrics cut back to the checkpoint's step so a resumed run does not repeat lines. */
  static async reopen(dir: string, step: number): Promise<RunFolder> {
    const path = `${dir}/metrics.jsonl`;
    const text = await Deno.readTextFile(path).catch(() => "");
    const kept = text.split("\n").filter((l) => {
      if (!l.trim()) return false;
      try {
        const r = JSON.parse(l);
        return typeof r.step !== "number" || r.step <= step;
      } catch {
        return false;
      }
    });
    const tmp = `${path}.tmp`;
    await Deno.writeTextFile(tmp, kept.map((l) => l + "\n").join(""));
    await Deno.rename(tmp, path);
    return new RunFolder(dir);
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

  /** Appends one record to metrics.jsonl. */
  append(record: Record<string, unknown>): void {
    Deno.writeTextFileSync(`${this.dir}/metrics.jsonl`, JSON.stringify(record) + "\n", { append: true });
  }

  /** Writes the epoch's checkpoint atomically and keeps only the newest `keep`. */
  async saveCheckpoint(epoch: number, state: State, keep: number): Promise<void> {
    const root = `${this.dir}/checkpoints`;
    await Deno.mkdir(root, { recursive: true });
    await saveCheckpoint(`${root}/epoch-${String(epoch).padStart(4, "0")}`, state);
    const names: string[] = [];
    for await (const e of Deno.readDir(root)) if (/^epoch-\d+$/.test(e.name)) names.push(e.name);
    names.sort();
    for (const old of names.slice(0, Math.max(0, names.length - keep))) {
      await Deno.remove(`${root}/${old}`, { recursive: true });
    }
  }

  async close(): Promise<void> {}
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function notAllowed(output: string): DmlError {
  return new DmlError(
    `output: not allowed to write to '${output}' (the train task may write under runs/ only; run deno with --allow-write=${output})`,
  );
}
