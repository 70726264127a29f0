/**
 * A user-facing error: bad input (a recipe, a dataset folder, a checkpoint, a flag).
 * The CLI prints its message as one line on stderr and exits with code 2.
 *
 * ```ts
 * throw new DmlError("memory.size: expected an integer >= 1, got -5");
 * ```
 */
export class DmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DmlError";
  }
}

/** Throws a DmlError with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new DmlError(typeof message === "string" ? message : message());
}
