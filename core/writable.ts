/**
 * Writing a task's output folder safely. Refusing an output folder a task may not write before any work
 * is done: the tasks that write (export, index, demo) may write under runs/ only, and a refusal after
 * minutes of work, or after part of the output was written, would be worse than one line at once. Then
 * writing it whole or not at all ({@link replaceFolder}).
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

/**
 * Writes the folder `out` whole or not at all: `fill` writes into a new sibling folder, which then takes
 * `out`'s place (an `out` already there is moved aside first and removed after). A failure leaves `out`
 * as it was and removes the sibling.
 */
export async function replaceFolder<T>(out: string, fill: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = `${out}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    const result = await fill(tmp);
    const old = `${out}.old-${crypto.randomUUID().slice(0, 8)}`;
    const exists = await Deno.stat(out).then(() => true, () => false);
    if (exists) await Deno.rename(out, old);
    await Deno.rename(tmp, out);
    if (exists) await Deno.remove(old, { recursive: true });
    return result;
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
