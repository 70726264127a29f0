/**
 * A small PNG encoder (8-bit grey or RGB, no filtering), so a report can embed images as data
 * URLs without a native image library. The zlib stream comes from the platform's CompressionStream.
 *
 * ```ts
 * const url = await pngDataUrl({ width: 28, height: 28, channels: 1, data: pixels });
 * ```
 */

/** 8-bit pixels, row-major, `channels` interleaved (1: grey, 3: RGB). */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** The PNG file of `p`. */
export async function encodePng(p: Pixels): Promise<Uint8Array> {
  if (p.channels !== 1 && p.channels !== 3) throw new Error(`PNG: ${p.channels} channels (1 or 3 expected)`);
  if (p.data.length !== p.width * p.height * p.channels) {
    throw new Error(`PNG: ${p.data.length} bytes for ${p.width}×${p.height}×${p.channels}`);
  }
  const row = p.width * p.channels;
  // Each scanline starts with its filter type (0: none).
  const raw = new Uint8Array((row + 1) * p.height);
  for (let y = 0; y < p.height; y++) raw.set(p.data.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, p.width);
  view.setUint32(4, p.height);
  header[8] = 8; // bit depth
  header[9] = p.channels === 1 ? 0 : 2; // colour type: grey or truecolour
  return concat([
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk("IHDR", header),
    chunk("IDAT", await zlib(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** `data:image/png;base64,…` of `p`. */
export async function pngDataUrl(p: Pixels): Promise<string> {
  return `data:image/png;base64,${base64(await encodePng(p))}`;
}

async function zlib(bytes: Uint8Array): Promise<Uint8Array> {
  // "deflate" is the zlib format (RFC 1950) that PNG's IDAT holds.
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC), as PNG chunks use. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
