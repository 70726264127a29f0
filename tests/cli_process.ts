/** Runs the real CLI (cli.ts) in a subprocess, and the check every bad-input test makes of it. */
import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";

/** The checkout's root folder, with a trailing slash. */
export const ROOT = new URL("..", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  /** Trimmed. */
  stderr: string;
}

/**
 * `deno run <flags> cli.ts <args>` in `cwd`, without colours; `flags` are Deno's (permissions,
 * `--preload`), `env` is added to the environment.
 */
export async function runCli(
  cwd: string,
  flags: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}cli.ts`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  // Unfiltered: the WebGPU probe's XDG_RUNTIME_DIR lines are silenced at their source (core/backend.ts).
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** Bad input: exit code 2 and one line on stderr matching `pattern`, no stack trace. */
export function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assertEquals(r.code, 2, `exit code for: ${r.stderr}`);
  assertEquals(r.stderr.split("\n").length, 1, `one line expected, got:\n${r.stderr}`);
  match(r.stderr, pattern);
  ok(!/\bat file:|Stack backtrace/.test(r.stderr));
}

/**
 * The Deno flags a `deno task` line of deno.json passes before `cli.ts`, so that subprocess tests run
 * with exactly the permissions the task grants (a narrowed task fails them).
 */
export function taskFlags(task: string): string[] {
  const line: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks[task];
  const words = line.split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || !words.includes("cli.ts")) {
    throw new Error(`deno.json task ${task} is not 'deno run ... cli.ts': ${line}`);
  }
  return words.slice(2, words.indexOf("cli.ts"));
}
