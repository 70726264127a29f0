/**
 * Reading a JSON-lines file that may have been cut short (a run killed mid-write) or damaged:
 * every whole line that holds a JSON object is kept, the rest are counted as dropped.
 *
 * ```ts
 * const { records, dropped } = parseJsonl(await Deno.readTextFile("runs/x/metrics.jsonl"));
 * ```
 */

export interface JsonlRead {
  records: Record<string, unknown>[];
  /** 1-based numbers of the non-empty lines that were not a whole JSON object. */
  dropped: number[];
}

export function parseJsonl(text: string): JsonlRead {
  const records: Record<string, unknown>[] = [];
  const dropped: number[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const r = JSON.parse(line);
      if (r !== null && typeof r === "object" && !Array.isArray(r)) return void records.push(r);
    } catch { /* a partial line */ }
    dropped.push(i + 1);
  });
  return { records, dropped };
}
