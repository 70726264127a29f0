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

/** `deno run <permissions> cli.ts <args>` in `cwd`, without colours. */
export async function runCli(cwd: string, permissions: string[], args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${ROOT}cli.ts`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** Bad input: exit code 2 and one line on stderr matching `pattern`, no stack trace. */
export function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assertEquals(r.code, 2, `exit code for: ${r.stderr}`);
  assertEquals(r.stderr.split("\n").length, 1, `one line expected, got:\n${r.stderr}`);
  match(r.stderr, pattern);
  ok(!/\bat file:|Stack backtrace/.test(r.stderr));
}
