/** NumPy .npy reading and writing (core/npy.ts): hand-built files as NumPy writes them, round trips, bad files. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { encodeNpy, parseNpy, readNpy, writeNpy } from "../core/npy.ts";
import { DmlError } from "../core/errors.ts";

/** A .npy file byte by byte: magic, version, header length, the header dict padded to 64, data. */
function npyBytes(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const padded = dict + " ".repeat((64 - ((prefix + dict.length + 1) % 64)) % 64) + "\n";
  const out = new Uint8Array(prefix + padded.length + data.length);
  out.set([0x93, ..."NUMPY"].map((c) => typeof c === "number" ? c : c.charCodeAt(0)));
  out[6] = major;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), prefix);
  out.set(data, prefix + padded.length);
  return out;
}

const le = (...xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

Deno.test("npy: reads a float32 [2, 3] file as NumPy 1.x writes it", () => {
  const bytes = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le(1, 2, 3, 4, 5, 6.5));
  assertEquals(bytes.length, 128 + 24); // the header pads the data start to 128 bytes
  const a = parseNpy(bytes);
  assertEquals(a.dtype, "float32");
  assertEquals(a.shape, [2, 3]);
  assertEquals(Array.from(a.data as Float32Array), [1, 2, 3, 4, 5, 6.5]);
});

Deno.test("npy: int32 and int64 labels, a 1-D shape '(n,)', format version 2", () => {
  const i32 = parseNpy(
    npyBytes(
      "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
      new Uint8Array(Int32Array.of(7, -1, 2).buffer),
    ),
  );
  assertEquals([i32.dtype, i32.shape, Array.from(i32.data as Int32Array)], ["int32", [3], [7, -1, 2]]);
  const i64 = parseNpy(
    npyBytes(
      "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
      new Uint8Array(BigInt64Array.of(5n, -3n).buffer),
      2,
    ),
  );
  assertEquals([i64.dtype, i64.shape, Array.from(i64.data as BigInt64Array)], ["int64", [2], [5n, -3n]]);
});

Deno.test("npy: encode/parse round trip for every dtype, including an empty array", async () => {
  const arrays: Array<[Float32Array | Float64Array | Int32Array | BigInt64Array, number[]]> = [
    [Float32Array.of(0.5, -1, 3e-8, 7), [2, 2]],
    [Float64Array.of(Math.PI, -0), [2]],
    [Int32Array.of(-2147483648, 2147483647, 0), [3, 1]],
    [BigInt64Array.of(-(2n ** 63n), 2n ** 40n), [2]],
    [new Float32Array(0), [0, 512]],
  ];
  for (const [data, shape] of arrays) {
    const bytes = encodeNpy(data, shape);
    assertEquals((bytes[8] | (bytes[9] << 8)) + 10, bytes.length - data.byteLength); // data starts after the header
    assertEquals((bytes.length - data.byteLength) % 64, 0);
    const back = parseNpy(bytes);
    assertEquals(back.shape, shape);
    assertEquals(back.data, data);
  }
  const dir = await Deno.makeTempDir();
  try {
    await writeNpy(`${dir}/x.npy`, Int32Array.of(1, 2), [2]);
    assertEquals((await readNpy(`${dir}/x.npy`)).data, Int32Array.of(1, 2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npy: bad files are DmlErrors that name the file and the problem", async () => {
  const bad = (bytes: Uint8Array, pattern: RegExp) =>
    throws(
      () => parseNpy(bytes, "E.npy"),
      (e: Error) => e instanceof DmlError && /^E\.npy: /.test(e.message) && pattern.test(e.message),
    );
  bad(new TextEncoder().encode("just text, not numpy"), /magic/);
  bad(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", le(1)), /big-endian/);
  bad(npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", le(1)), /'<f2' is unsupported/);
  bad(npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", le(1)), /unsupported/);
  bad(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", le(1, 2, 3, 4)), /Fortran order/);
  bad(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", le(1, 2, 3, 4)), /needs 24 data bytes/);
  bad(npyBytes("{'descr': '<f4', 'shape': (1,), }", le(1)), /unparsable header/);
  const truncated = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le(1)).slice(0, 40);
  bad(truncated, /header runs past/);
  const v9 = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le(1));
  v9[6] = 9;
  bad(v9, /version 9/);
  await (async () => {
    try {
      await readNpy("/nonexistent/dir/E.npy", "E.npy");
      throw new Error("no error");
    } catch (e) {
      assertEquals((e as Error).message, "E.npy: no such file");
    }
  })();
});
