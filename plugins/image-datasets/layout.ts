/**
 * What a dataset's folder layout reader produces, and the helpers the readers share: finding the
 * dataset inside `root`, reading whitespace-separated list files with line-numbered errors.
 * Every problem is a {@link DmlError} of one line that names the file (and line).
 *
 * ```ts
 * const rows = await readTable(`${root}/images.txt`, { columns: 2, header: false });
 * rows[0]; // { line: 1, cells: ["1", "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"] }
 * ```
 */
import { DmlError } from "../../core/errors.ts";

/** One listed image: its file, its class key (as the dataset names classes), an optional box. */
export interface LayoutEntry {
  path: string;
  key: string;
  /** [x1, y1, x2, y2] in pixels. */
  box?: number[];
}

/** A dataset's standard splits as read from its files. */
export interface Layout {
  train: LayoutEntry[];
  test?: LayoutEntry[];
  query?: LayoutEntry[];
  gallery?: LayoutEntry[];
  /** Display name of each class key (the key itself where absent). */
  classNames?: Map<string, string>;
  /** The files the splits came from, for the run's description. */
  source: string;
}

/** `~/x` and relative paths made absolute; trailing slashes dropped. */
export function resolveRoot(root: string): string {
  let r = root.trim();
  if (r === "~" || r.startsWith("~/")) {
    let home = "";
    try {
      home = Deno.env.get("HOME") ?? "";
    } catch {
      home = "";
    }
    if (home) r = home + r.slice(1);
  }
  if (!r.startsWith("/")) r = `${Deno.cwd()}/${r}`;
  return r.replace(/\/+$/, "") || "/";
}

/** Whether `path` is a directory / a file (false when missing). */
export async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Fails unless the root folder exists. */
export async function requireRoot(name: string, root: string): Promise<void> {
  if (!(await isDir(root))) {
    throw new DmlError(
      `data.root: ${root} is not a folder (point data.root at your copy of ${name}; see docs/datasets.md)`,
    );
  }
}

/**
 * The first of `candidates` (folders relative to `root`, "" = root itself) that holds every one of
 * `needs` (relative paths); a DmlError naming the first missing file otherwise.
 */
export async function locate(name: string, root: string, candidates: string[], needs: string[]): Promise<string> {
  await requireRoot(name, root);
  for (const c of candidates) {
    const base = c ? `${root}/${c}` : root;
    let all = true;
    for (const n of needs) if (!(await isFile(`${base}/${n}`)) && !(await isDir(`${base}/${n}`))) all = false;
    if (all) return base;
  }
  const base = candidates[0] ? `${root}/${candidates[0]}` : root;
  for (const n of needs) {
    if (!(await isFile(`${base}/${n}`)) && !(await isDir(`${base}/${n}`))) {
      const where = candidates.filter((c) => c).map((c) => `${root}/${c}`);
      throw new DmlError(
        `data.root: ${name} needs ${n}, not found in ${root}${where.length ? ` (nor in ${where.join(", ")})` : ""}`,
      );
    }
  }
  return base;
}

/** One row of a list file: its 1-based line number and its whitespace-separated cells. */
export interface Row {
  line: number;
  cells: string[];
}

/**
 * The rows of a whitespace-separated list file; blank lines skipped. `header` skips that many first
 * non-blank lines; `columns` is the least number of cells a row must have.
 */
export async function readTable(path: string, o: { columns: number; header?: number }): Promise<Row[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmlError(`data.root: missing split file ${path}`);
    throw new DmlError(`data.root: cannot read ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  const rows: Row[] = [];
  let skip = o.header ?? 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const cells = raw.trim().split(/\s+/).filter((c) => c.length > 0);
    if (cells.length === 0) return;
    if (skip > 0) {
      skip--;
      return;
    }
    if (cells.length < o.columns) {
      throw new DmlError(`${path}:${i + 1}: expected ${o.columns} columns, got ${cells.length} ('${raw.trim()}')`);
    }
    rows.push({ line: i + 1, cells });
  });
  return rows;
}

/** A cell that must be an integer; the error names file and line. */
export function intCell(path: string, row: Row, col: number, what: string): number {
  const v = row.cells[col];
  if (!/^-?\d+$/.test(v)) throw new DmlError(`${path}:${row.line}: ${what} must be an integer, got '${v}'`);
  return Number(v);
}

/** A cell that must be a number. */
export function numCell(path: string, row: Row, col: number, what: string): number {
  const v = Number(row.cells[col]);
  if (!Number.isFinite(v)) throw new DmlError(`${path}:${row.line}: ${what} must be a number, got '${row.cells[col]}'`);
  return v;
}

/** Sorts class keys numerically when they all are numbers, else as text. */
export function sortKeys(keys: Iterable<string>): string[] {
  const list = [...new Set(keys)];
  const numeric = list.every((k) => /^-?\d+$/.test(k));
  return numeric ? list.sort((a, b) => Number(a) - Number(b)) : list.sort();
}

/** The entries whose class key is among the first half of the sorted class keys, and the rest. */
export function splitClassesInHalf(entries: LayoutEntry[]): { train: LayoutEntry[]; test: LayoutEntry[] } {
  const keys = sortKeys(entries.map((e) => e.key));
  const trainKeys = new Set(keys.slice(0, Math.ceil(keys.length / 2)));
  return {
    train: entries.filter((e) => trainKeys.has(e.key)),
    test: entries.filter((e) => !trainKeys.has(e.key)),
  };
}
