/**
 * The curves a report draws, read from metrics.jsonl records as long-format rows (one value per
 * row, the series named in a column), which is what Vega-Lite plots.
 *
 * ```ts
 * lossRows(records);   // [{ step: 50, part: "loss", value: 0.41 }, { step: 50, part: "loss.batch", value: 0.3 }, …]
 * ```
 */
export type Rec = Record<string, unknown>;
export type Row = Record<string, string | number>;

/** Keys of an eval record that are not metrics. */
const EVAL_META = new Set(["type", "epoch", "step"]);

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The total `loss` and every `loss.<part>` of the step records: {step, part, value}. */
export function lossRows(records: Rec[]): Row[] {
  const rows: Row[] = [];
  for (const r of records) {
    if (r.type !== "step" || !isNum(r.step)) continue;
    for (const [k, v] of Object.entries(r)) {
      if ((k === "loss" || k.startsWith("loss.")) && isNum(v)) rows.push({ step: r.step, part: k, value: v });
    }
  }
  return rows;
}

/** One numeric field of the records of `type`, by step: {step, value}. */
export function fieldRows(records: Rec[], type: string, field: string): Row[] {
  return records.filter((r) => r.type === type && isNum(r.step) && isNum(r[field]))
    .map((r) => ({ step: r.step as number, value: r[field] as number }));
}

/** Every evaluation metric by epoch: {epoch, step, metric, value}. */
export function evalRows(records: Rec[]): Row[] {
  const rows: Row[] = [];
  for (const r of records) {
    if (r.type !== "eval") continue;
    for (const [k, v] of Object.entries(r)) {
      if (!EVAL_META.has(k) && isNum(v)) {
        rows.push({ epoch: isNum(r.epoch) ? r.epoch : 0, step: isNum(r.step) ? r.step : 0, metric: k, value: v });
      }
    }
  }
  return rows;
}

/** Whether a metric's values are fractions (all in [0, 1], not all whole), not counts. */
export function isFraction(values: number[]): boolean {
  return values.every((v) => v >= 0 && v <= 1) && !values.every(Number.isInteger);
}

/** The metrics of the last evaluation, or null when the run has none. */
export function lastEval(records: Rec[]): Record<string, number> | null {
  const r = records.findLast((x) => x.type === "eval");
  if (!r) return null;
  return Object.fromEntries(Object.entries(r).filter(([k, v]) => !EVAL_META.has(k) && isNum(v))) as Record<
    string,
    number
  >;
}

/** The baseline evaluations (raw pixels, untrained network) by name. */
export function baselines(records: Rec[]): Array<{ name: string; metrics: Record<string, number> }> {
  return records.filter((r) => r.type === "baseline").map((r) => ({
    name: String(r.name ?? "baseline"),
    metrics: Object.fromEntries(
      Object.entries(r).filter(([k, v]) => !EVAL_META.has(k) && k !== "name" && isNum(v)),
    ) as Record<string, number>,
  }));
}

/** Divide-and-conquer's cluster sizes at each re-clustering: {step, epoch, cluster, size}. */
export function clusterRows(records: Rec[]): Row[] {
  const rows: Row[] = [];
  for (const r of records) {
    if (r.type !== "clusters" || !Array.isArray(r.sizes)) continue;
    r.sizes.forEach((size, k) => {
      if (isNum(size)) rows.push({ step: Number(r.step ?? 0), epoch: Number(r.epoch ?? 0), cluster: `${k}`, size });
    });
  }
  return rows;
}
