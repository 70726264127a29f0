/**
 * The toy recipe (fixtures/toy.yaml and its plugin) in a fresh workspace, and the trainer run on it
 * as `deno task train` runs it: a subprocess of cli.ts with the task's permissions from deno.json.
 */
import { ROOT, taskFlags } from "./cli_process.ts";

/** A temporary folder holding toy.yaml and the toy plugin (its core imports pointed at this checkout). */
export async function toyWorkspace(): Promise<string> {
  const dir = await Deno.makeTempDir();
  const src = await Deno.readTextFile(`${ROOT}tests/fixtures/toy_plugin.ts`);
  await Deno.writeTextFile(`${dir}/toy_plugin.ts`, src.replaceAll("../../core/", `${ROOT}core/`));
  await Deno.copyFile(`${ROOT}tests/fixtures/toy.yaml`, `${dir}/toy.yaml`);
  return dir;
}

/** `deno task train ARGS` in `cwd`, started; `preload` is a module run before the CLI. */
export function spawnTrain(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  preload?: string,
): Deno.ChildProcess {
  const flags = [...taskFlags("train"), ...(preload ? [`--preload=${preload}`] : [])];
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}cli.ts`, "train", ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for a started trainer; stderr trimmed. */
export async function finished(child: Deno.ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** The run folders under `root` (e.g. `${cwd}/runs/toy`), by name. */
export function runFolders(root: string): string[] {
  try {
    return [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Every file under `dir` with its bytes, by path: equal maps mean an untouched folder. */
export function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of [...Deno.readDirSync(d)].sort((a, b) => a.name.localeCompare(b.name))) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else out.set(p.slice(dir.length), Array.from(Deno.readFileSync(p), (b) => String.fromCharCode(b)).join(""));
    }
  };
  walk(dir);
  return out;
}
