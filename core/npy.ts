/**
 * NumPy `.npy` files, format versions 1, 2 and 3: little-endian, C order, dtypes float32,
 * float64, int32 and int64. Anything else is a {@link DmlError} that names the file.
 *
 * ```ts
 * await writeNpy("E.npy", new Float32Array(6), [2, 3]);
 * const { dtype, shape, data } = await readNpy("E.npy"); // "float32", [2, 3], Float32Array
 * ```
 */
import { DmlError } from "./errors.ts";
import { BINARY_BYTES, readBounded } from "./bounded_read.ts";

export type NpyDtype = "float32" | "float64" | "int32" | "int64";
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const DESCR: Record<string, NpyDtype> = { "<f4": "float32", "<f8": "float64", "<i4": "int32", "<i8": "int64" };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Reads a `.npy` file; `name` (default the path) is how errors refer to it. */
export async function readNpy(path: string, name: string = path): Promise<NpyArray> {
  return parseNpy(await readBounded(path, ".npy file", BINARY_BYTES, name), name);
}

/** Decodes the bytes of a `.npy` file. */
export function parseNpy(bytes: Uint8Array, name = "array"): NpyArray {
  const bad = (why: string) => new DmlError(`${name}: not a readable .npy file (${why})`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("missing the \\x93NUMPY magic");
  const major = bytes[6];
  if (major < 1 || major > 3) throw bad(`format version ${major}.${bytes[7]} is unknown`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (dataStart > bytes.length) throw bad("the header runs past the end of the file");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(8 + lenBytes, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(`unparsable header ${header.trim()}`);
  }
  const dtype = DESCR[descr];
  if (!dtype) {
    const hint = descr.startsWith(">") ? "big-endian; save with x.astype(x.dtype.newbyteorder('<'))" : "unsupported";
    throw new DmlError(`${name}: dtype '${descr}' is ${hint} (supported: float32, float64, int32, int64)`);
  }
  if (fortran === "True") throw new DmlError(`${name}: Fortran order is not supported; save np.ascontiguousarray(x)`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`bad shape (${shapeText})`);

  const count = shape.reduce((a, b) => a * b, 1);
  const itemSize = dtype === "float32" || dtype === "int32" ? 4 : 8;
  const need = count * itemSize;
  if (bytes.length - dataStart < need) {
    throw bad(`shape (${shape.join(", ")}) needs ${need} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // Copy into a fresh, aligned buffer (the data offset need not be a multiple of 8).
  const raw = bytes.slice(dataStart, dataStart + need).buffer;
  const data = dtype === "float32"
    ? new Float32Array(raw)
    : dtype === "float64"
    ? new Float64Array(raw)
    : dtype === "int32"
    ? new Int32Array(raw)
    : new BigInt64Array(raw);
  return { dtype, shape, data };
}

/** Encodes a C-order array as a version 1 `.npy` file (version 2 when the header needs it). */
export function encodeNpy(data: NpyData, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new DmlError(`npy: shape (${shape}) holds ${count} values, got ${data.length}`);
  const descr = data instanceof Float32Array
    ? "<f4"
    : data instanceof Float64Array
    ? "<f8"
    : data instanceof Int32Array
    ? "<i4"
    : "<i8";
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const major = dict.length + 12 > 65535 ? 2 : 1;
  const prefix = major === 1 ? 10 : 12;
  // Pad with spaces so the data starts at a multiple of 64, ending the header with a newline.
  dict += " ".repeat((64 - ((prefix + dict.length + 1) % 64)) % 64) + "\n";
  const header = new TextEncoder().encode(dict);
  const out = new Uint8Array(prefix + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(header, prefix);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + header.length);
  return out;
}

/** Writes a C-order array to a `.npy` file. */
export async function writeNpy(path: string, data: NpyData, shape: number[]): Promise<void> {
  await Deno.writeFile(path, encodeNpy(data, shape));
}
