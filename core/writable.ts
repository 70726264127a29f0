/**
 * Refusing an output folder a task may not write before any work is done: the tasks that write
 * (export, index, demo) may write under runs/ only, and a refusal after minutes of work, or after
 * part of the output was written, would be worse than one line at once.
 *
 * ```ts
 * await checkWritable("/tmp/out", "export"); // DmlError: export: not permitted to write /tmp/out (...)
 * ```
 */
import { DmlError } from "./errors.ts";

/** Throws a DmlError naming `command` unless the process may write `path` and its parent folder. */
export async function checkWritable(path: string, command: string): Promise<void> {
  const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  for (const p of [path, parent]) {
    const { state } = await Deno.permissions.query({ name: "write", path: p });
    if (state !== "granted") {
      throw new DmlError(`${command}: not permitted to write ${p} (the task writes under runs/ only)`);
    }
  }
}
