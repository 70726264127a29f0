/**
 * A small reader of MATLAB Level 5 MAT-files (MATLAB 5 to 7.2 format, with or without
 * compression): numeric and logical arrays, char arrays, cell arrays and struct arrays, which is
 * what Cars196's `cars_annos.mat` holds. Sparse, object and v7.3 (HDF5) files are refused with a
 * clear error. Arrays are column-major, as MATLAB stores them.
 *
 * ```ts
 * const vars = readMat5(await Deno.readFile("cars_annos.mat"), "cars_annos.mat");
 * const annos = vars.get("annotations"); // { kind: "struct", dims: [1, 16185], fields: [...], elements: [...] }
 * ```
 */
import { inflateSync } from "node:zlib";
import { DmlError } from "../../core/errors.ts";

export type MatValue =
  | { kind: "numeric"; dims: number[]; data: Float64Array }
  | { kind: "char"; dims: number[]; rows: string[] }
  | { kind: "cell"; dims: number[]; cells: MatValue[] }
  | { kind: "struct"; dims: number[]; fields: string[]; elements: Record<string, MatValue>[] };

// Data types of data elements (the "mi" codes) and array classes (the "mx" codes) of the format.
const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13 };
const MI_MATRIX = 14, MI_COMPRESSED = 15, MI_UTF8 = 16, MI_UTF16 = 17, MI_UTF32 = 18;
const MX = { CELL: 1, STRUCT: 2, OBJECT: 3, CHAR: 4, SPARSE: 5 };
const MX_NUMERIC_FIRST = 6, MX_NUMERIC_LAST = 15;

interface Element {
  type: number;
  data: DataView;
  next: number;
}

class Reader {
  constructor(private readonly le: boolean, private readonly file: string) {}

  fail(what: string): never {
    throw new DmlError(`${this.file}: not a readable MAT-file (${what})`);
  }

  element(view: DataView, pos: number): Element {
    if (pos + 8 > view.byteLength) this.fail(`truncated at byte ${pos}`);
    const first = view.getUint32(pos, this.le);
    if (first >>> 16 !== 0) {
      // Small data element: type and size share the first word, data in the second.
      const n = first >>> 16;
      return { type: first & 0xffff, data: new DataView(view.buffer, view.byteOffset + pos + 4, n), next: pos + 8 };
    }
    const n = view.getUint32(pos + 4, this.le);
    if (pos + 8 + n > view.byteLength) this.fail(`an element at byte ${pos} runs past the end`);
    const data = new DataView(view.buffer, view.byteOffset + pos + 8, n);
    const next = first === MI_COMPRESSED ? pos + 8 + n : pos + 8 + Math.ceil(n / 8) * 8;
    return { type: first, data, next };
  }

  numbers(e: Element): Float64Array {
    const d = e.data, le = this.le;
    const size: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };
    const bytes = size[e.type];
    if (!bytes) this.fail(`numeric data of type ${e.type}`);
    const out = new Float64Array(Math.floor(d.byteLength / bytes));
    for (let i = 0; i < out.length; i++) {
      const o = i * bytes;
      switch (e.type) {
        case MI.INT8:
          out[i] = d.getInt8(o);
          break;
        case MI.UINT8:
          out[i] = d.getUint8(o);
          break;
        case MI.INT16:
          out[i] = d.getInt16(o, le);
          break;
        case MI.UINT16:
          out[i] = d.getUint16(o, le);
          break;
        case MI.INT32:
          out[i] = d.getInt32(o, le);
          break;
        case MI.UINT32:
          out[i] = d.getUint32(o, le);
          break;
        case MI.SINGLE:
          out[i] = d.getFloat32(o, le);
          break;
        case MI.DOUBLE:
          out[i] = d.getFloat64(o, le);
          break;
        case MI.INT64:
          out[i] = Number(d.getBigInt64(o, le));
          break;
        case MI.UINT64:
          out[i] = Number(d.getBigUint64(o, le));
          break;
      }
    }
    return out;
  }

  text(e: Element): number[] {
    const bytes = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    if (e.type === MI_UTF8 || e.type === MI.UINT8 || e.type === MI.INT8) {
      return Array.from(new TextDecoder().decode(bytes), (ch) => ch.codePointAt(0)!);
    }
    if (e.type === MI_UTF16 || e.type === MI.UINT16) return Array.from(this.numbers({ ...e, type: MI.UINT16 }));
    if (e.type === MI_UTF32 || e.type === MI.UINT32) return Array.from(this.numbers({ ...e, type: MI.UINT32 }));
    this.fail(`character data of type ${e.type}`);
  }

  /** A miMATRIX element's array (its name is returned too). */
  matrix(e: Element): { name: string; value: MatValue } {
    if (e.type !== MI_MATRIX) this.fail(`expected an array element, got type ${e.type}`);
    const d = e.data;
    if (d.byteLength === 0) return { name: "", value: { kind: "numeric", dims: [0, 0], data: new Float64Array(0) } };
    const flags = this.element(d, 0);
    const cls = flags.data.getUint32(0, this.le) & 0xff;
    const dimsEl = this.element(d, flags.next);
    const dims = Array.from(this.numbers(dimsEl));
    const nameEl = this.element(d, dimsEl.next);
    const name = new TextDecoder().decode(
      new Uint8Array(nameEl.data.buffer, nameEl.data.byteOffset, nameEl.data.byteLength),
    );
    const count = dims.reduce((a, b) => a * b, 1);
    let pos = nameEl.next;
    if (cls >= MX_NUMERIC_FIRST && cls <= MX_NUMERIC_LAST) {
      const real = this.element(d, pos);
      return { name, value: { kind: "numeric", dims, data: this.numbers(real) } };
    }
    if (cls === MX.CHAR) {
      const codes = count === 0 ? [] : this.text(this.element(d, pos));
      const rows = dims[0] ?? 0, cols = count / Math.max(1, rows);
      const lines = Array.from(
        { length: rows },
        (_, r) => String.fromCodePoint(...Array.from({ length: cols }, (_, c) => codes[c * rows + r] ?? 32)),
      );
      return { name, value: { kind: "char", dims, rows: lines } };
    }
    if (cls === MX.CELL) {
      const cells: MatValue[] = [];
      for (let i = 0; i < count; i++) {
        const el = this.element(d, pos);
        cells.push(this.matrix(el).value);
        pos = el.next;
      }
      return { name, value: { kind: "cell", dims, cells } };
    }
    if (cls === MX.STRUCT) {
      const lenEl = this.element(d, pos);
      const len = this.numbers(lenEl)[0];
      const namesEl = this.element(d, lenEl.next);
      const raw = new Uint8Array(namesEl.data.buffer, namesEl.data.byteOffset, namesEl.data.byteLength);
      const fields: string[] = [];
      for (let o = 0; o + len <= raw.length; o += len) {
        const end = raw.subarray(o, o + len).indexOf(0);
        fields.push(new TextDecoder().decode(raw.subarray(o, end < 0 ? o + len : o + end)));
      }
      pos = namesEl.next;
      const elements: Record<string, MatValue>[] = [];
      for (let i = 0; i < count; i++) {
        const record: Record<string, MatValue> = {};
        for (const f of fields) {
          const el = this.element(d, pos);
          record[f] = this.matrix(el).value;
          pos = el.next;
        }
        elements.push(record);
      }
      return { name, value: { kind: "struct", dims, fields, elements } };
    }
    const what = cls === MX.SPARSE ? "sparse arrays" : cls === MX.OBJECT ? "objects" : `array class ${cls}`;
    this.fail(`${what} are not supported`);
  }
}

/** The variables of a Level 5 MAT-file, by name. */
export function readMat5(bytes: Uint8Array, file: string): Map<string, MatValue> {
  if (bytes.length < 128) throw new DmlError(`${file}: not a MAT-file (only ${bytes.length} bytes)`);
  const header = new TextDecoder().decode(bytes.subarray(0, 116));
  if (header.startsWith("MATLAB 7.3")) {
    throw new DmlError(
      `${file}: MATLAB v7.3 (HDF5) files are not supported; re-save it in MATLAB with save(..., '-v7')`,
    );
  }
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  if (!header.startsWith("MATLAB 5.0") || (endian !== "IM" && endian !== "MI")) {
    throw new DmlError(`${file}: not a MATLAB 5 MAT-file (header '${header.slice(0, 40).trim()}')`);
  }
  const reader = new Reader(endian === "IM", file);
  const vars = new Map<string, MatValue>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 128;
  while (pos + 8 <= view.byteLength) {
    let el = reader.element(view, pos);
    pos = el.next;
    if (el.type === MI_COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(new Uint8Array(el.data.buffer, el.data.byteOffset, el.data.byteLength));
      } catch (e) {
        throw new DmlError(`${file}: a compressed variable does not inflate (${(e as Error).message})`);
      }
      const inner = new DataView(inflated.buffer, inflated.byteOffset, inflated.byteLength);
      el = reader.element(inner, 0);
    }
    if (el.type !== MI_MATRIX) continue;
    const { name, value } = reader.matrix(el);
    vars.set(name, value);
  }
  return vars;
}

/** A char value's text (rows joined), or null for other kinds. */
export function matText(v: MatValue | undefined): string | null {
  return v?.kind === "char" ? v.rows.join("").trim() : null;
}

/** A numeric value's first number, or null. */
export function matNumber(v: MatValue | undefined): number | null {
  return v?.kind === "numeric" && v.data.length > 0 ? v.data[0] : null;
}
