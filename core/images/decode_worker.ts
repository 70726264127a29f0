/// <reference lib="deno.worker" />
/**
 * A decoding worker: reads image files, decodes and resizes them with sharp (libvips), applies the
 * planned crop and mirror, normalises, and writes the result straight into the shared output
 * buffer of the request. Started by {@link DecodePool}; never imported by the main thread.
 *
 * ```ts
 * const worker = new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" });
 * worker.postMessage(request); // a DecodeRequest or VerifyRequest
 * ```
 */
import type sharpModule from "sharp";
import { Rng } from "../rng.ts";
import { boxRect, planTransform } from "./transform.ts";
import {
  type DecodeJob,
  type DecodeRequest,
  finishJob,
  reportFailure,
  type VerifyRequest,
  type WorkerRequest,
} from "./decode_protocol.ts";

type Sharp = typeof sharpModule;

let sharpPromise: Promise<Sharp> | null = null;

function loadSharp(): Promise<Sharp> {
  sharpPromise ??= import("sharp").then((m) => {
    const sharp = m.default as Sharp;
    // Parallelism comes from several images in flight; libvips threads per image would oversubscribe.
    sharp.concurrency(1);
    sharp.cache(false);
    return sharp;
  }).catch((e) => {
    sharpPromise = null;
    const text = String((e as Error)?.message ?? e);
    throw new Error(
      /ffi|NotCapable|PermissionDenied|permission/i.test(text)
        ? "decoding images needs --allow-ffi (sharp's native libvips); deno task train/eval/test grant it"
        : `the image library sharp could not load: ${text.split("\n")[0]}`,
    );
  });
  return sharpPromise;
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
async function forEachLimited<T>(items: T[], concurrency: number, work: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  });
  await Promise.all(lanes);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

async function readImage(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${path}: no such file`);
    throw new Error(`${path}: ${firstLine(e)}`);
  }
}

async function decodeOne(sharp: Sharp, req: DecodeRequest, job: DecodeJob, out: Float32Array | Uint8Array) {
  const bytes = await readImage(job.path);
  let meta;
  try {
    meta = await sharp(bytes, { failOn: "truncated" }).metadata();
  } catch (e) {
    throw new Error(`${job.path}: not a readable image (${firstLine(e)})`);
  }
  const width = meta.width ?? 0, height = meta.height ?? 0;
  if (width < 1 || height < 1) throw new Error(`${job.path}: not a readable image (no size)`);
  const box = job.box ? boxRect(job.box, width, height) : null;
  if (job.box && !box) throw new Error(`${job.path}: its box [${job.box}] lies outside the ${width}×${height} image`);
  const region = box ?? { left: 0, top: 0, width, height };
  const rng = job.seed === null ? null : new Rng(job.seed);
  const plan = planTransform(req.transform, job.seed === null ? "test" : "train", region.width, region.height, rng);
  // The box and the planned crop combine into the one extraction before the resize.
  const crop = plan.crop
    ? {
      left: region.left + plan.crop.left,
      top: region.top + plan.crop.top,
      width: plan.crop.width,
      height: plan.crop.height,
    }
    : box;
  let img = sharp(bytes, { failOn: "truncated" });
  if (crop) img = img.extract(crop);
  img = img.resize(plan.resize[0], plan.resize[1], { fit: "fill", kernel: "linear" });
  if (plan.after) img = img.extract(plan.after);
  let data: Uint8Array, info;
  try {
    const bg = req.pixels.background;
    img = bg ? img.flatten({ background: { r: bg[0], g: bg[1], b: bg[2] } }) : img.removeAlpha();
    ({ data, info } = await img.toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({
      resolveWithObject: true,
    }));
  } catch (e) {
    throw new Error(`${job.path}: cannot decode (${firstLine(e)})`);
  }
  const size = req.transform.size;
  if (info.width !== size || info.height !== size) {
    throw new Error(`${job.path}: decoded to ${info.width}×${info.height}, expected ${size}×${size}`);
  }
  writePixels(data, info.channels, size, plan.flip, req, out, job.slot);
}

/** Copies RGB(A) bytes into slot `slot` of `out`, mirrored when `flip`, normalised for float32 output. */
function writePixels(
  data: Uint8Array,
  channels: number,
  size: number,
  flip: boolean,
  req: DecodeRequest,
  out: Float32Array | Uint8Array,
  slot: number,
) {
  const base = slot * size * size * 3;
  // The RGB channel each output channel holds; mean and std are given in RGB order whatever the output order.
  // 8-bit output is the image as a person sees it (reports, exported models' inputs): always RGB.
  const order = req.pixels.bgr && out instanceof Float32Array ? [2, 1, 0] : [0, 1, 2];
  const [r, g, b] = channels < 3 ? [0, 0, 0] : order;
  // One lookup table per output channel: byte -> normalised value (identity for uint8 output).
  const [l0, l1, l2] = order.map((c) => lookup(req.pixels, c, out instanceof Float32Array));
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const src = (row + (flip ? size - 1 - x : x)) * channels;
      const dst = base + (row + x) * 3;
      out[dst] = l0[data[src + r]];
      out[dst + 1] = l1[data[src + g]];
      out[dst + 2] = l2[data[src + b]];
    }
  }
}

const lookups = new Map<string, Float32Array>();

/** byte v -> ((v / 255) * range - mean[c]) / std[c], or v itself for 8-bit output. */
function lookup(p: DecodeRequest["pixels"], c: number, float: boolean): Float32Array {
  const key = float ? `${p.range}:${p.mean[c]}:${p.std[c]}` : "bytes";
  let table = lookups.get(key);
  if (!table) {
    table = Float32Array.from({ length: 256 }, (_, v) => float ? ((v * p.range) / 255 - p.mean[c]) / p.std[c] : v);
    lookups.set(key, table);
  }
  return table;
}

async function decode(req: DecodeRequest) {
  const control = new Int32Array(req.control), message = new Uint8Array(req.message);
  const out = req.output === "float32" ? new Float32Array(req.out) : new Uint8Array(req.out);
  let sharp: Sharp;
  try {
    sharp = await loadSharp();
  } catch (e) {
    reportFailure(control, message, firstLine(e));
    for (let i = 0; i < req.jobs.length; i++) finishJob(control);
    return;
  }
  await forEachLimited(req.jobs, req.concurrency, async (job) => {
    try {
      // A failed request needs no more work: its batch is never used.
      if (Atomics.load(control, 1) === 0) await decodeOne(sharp, req, job, out);
    } catch (e) {
      reportFailure(control, message, firstLine(e));
    } finally {
      finishJob(control);
    }
  });
}

async function verify(req: VerifyRequest) {
  const control = new Int32Array(req.control), message = new Uint8Array(req.message);
  const status = new Int32Array(req.status);
  let sharp: Sharp | null = null;
  try {
    sharp = await loadSharp();
  } catch (e) {
    reportFailure(control, message, firstLine(e));
  }
  await forEachLimited(req.paths, req.concurrency, async (path, i) => {
    let ok = false;
    try {
      if (sharp) {
        const bytes = await readImage(path);
        await sharp(bytes, { failOn: "truncated" }).raw().toBuffer();
        ok = true;
      }
    } catch {
      ok = false;
    } finally {
      Atomics.store(status, req.offset + i, ok ? 1 : 2);
      finishJob(control);
    }
  });
}

self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  const req = e.data;
  if (req.kind === "decode") decode(req);
  else verify(req);
};
