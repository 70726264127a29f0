/**
 * `run.json`: the resolved recipe, the backend (and GPU adapter), the seed, the versions of
 * Deno, V8, TypeScript, tfjs and dml, and the wall time, one session per `train` invocation.
 * Written when training starts and again when it ends; a resumed run adds a session.
 *
 * ```ts
 * const info = await RunInfoFile.begin(dir, recipe, backend, 0);
 * await info.end(step);
 * ```
 */
import { parse } from "yaml";
import { tf } from "../tf.ts";
import type { BackendChoice } from "../backend.ts";
import type { Recipe } from "../recipe.ts";
import { recipeToYaml } from "../recipe.ts";
import type { RunInfo } from "./files.ts";

export class RunInfoFile {
  private readonly start = performance.now();

  private constructor(private readonly path: string, private readonly info: RunInfo) {}

  /** Records a session starting at `step` (0 for a new run) and writes run.json. */
  static async begin(dir: string, recipe: Recipe, backend: BackendChoice, step: number): Promise<RunInfoFile> {
    const path = `${dir}/run.json`;
    const before = await Deno.readTextFile(path).then((t) => JSON.parse(t) as RunInfo, () => null);
    const sessions = (before?.sessions ?? []).filter((s) => s.finished !== undefined && (s.toStep ?? 0) <= step);
    const info: RunInfo = {
      name: recipe.name,
      seed: recipe.seed,
      recipe: parse(recipeToYaml(recipe)) as Record<string, unknown>,
      backend: {
        backend: backend.backend,
        reason: backend.reason,
        ...(backend.adapter ? { adapter: backend.adapter } : {}),
      },
      versions: await versions(),
      sessions: [...sessions, { started: new Date().toISOString(), fromStep: step }],
      wallSeconds: total(sessions),
    };
    const file = new RunInfoFile(path, info);
    await file.write();
    return file;
  }

  /** Records the end of this session at `step`; `failed` says why it stopped, when it did not finish. */
  async end(step: number, failed?: string): Promise<void> {
    const s = this.info.sessions[this.info.sessions.length - 1];
    s.finished = new Date().toISOString();
    if (failed !== undefined) s.failed = failed;
    s.seconds = (performance.now() - this.start) / 1000;
    s.toStep = step;
    this.info.wallSeconds = total(this.info.sessions);
    await this.write();
  }

  private async write(): Promise<void> {
    await Deno.writeTextFile(`${this.path}.tmp`, JSON.stringify(this.info, null, 2) + "\n");
    await Deno.rename(`${this.path}.tmp`, this.path);
  }
}

function total(sessions: RunInfo["sessions"]): number {
  return sessions.reduce((t, s) => t + (s.seconds ?? 0), 0);
}

/** Deno, V8, TypeScript, tfjs, and dml's git commit when this checkout is a git clone. */
async function versions(): Promise<Record<string, string>> {
  const v: Record<string, string> = { ...Deno.version, tfjs: tf.version_core };
  const commit = await gitCommit(new URL("../../.git/", import.meta.url));
  if (commit) v.dml = commit;
  return v;
}

/** The commit HEAD names, read from the files (no subprocess); null when there is none to read. */
async function gitCommit(git: URL): Promise<string | null> {
  try {
    const head = (await Deno.readTextFile(new URL("HEAD", git))).trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    const loose = await Deno.readTextFile(new URL(ref, git)).catch(() => null);
    if (loose) return loose.trim();
    const packed = await Deno.readTextFile(new URL("packed-refs", git));
    return packed.split("\n").find((l) => l.endsWith(` ${ref}`))?.split(" ")[0] ?? null;
  } catch {
    return null;
  }
}
