/**
 * Named weights on disk in the tfjs weights format: a JSON manifest (`weights_manifest.json`, or a
 * `model.json` with a `weightsManifest`) listing groups of `{ name, shape, dtype }` and the binary
 * shard files beside it. This is how the ResNet and BN-Inception backbones take ImageNet weights
 * (converted from PyTorch with a few lines of numpy, see docs/datasets.md) and how their weights
 * are exported again.
 *
 * ```ts
 * const named = await readNamedWeights("/models/resnet50/weights_manifest.json");
 * named.get("conv1.weight")!.shape; // [7, 7, 3, 64] (HWIO)
 * await writeNamedWeights("/tmp/out", [["conv1.weight", variable]]);
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import { DmlError } from "../../core/errors.ts";
import { MANIFEST_BYTES, readBounded, readTextBounded } from "../../core/bounded_read.ts";

/** One weight as read from disk. */
export interface NamedWeight {
  shape: number[];
  values: Float32Array;
}

type ManifestGroup = { paths: string[]; weights: tf.io.WeightsManifestEntry[] };

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

/** Reads a manifest and its shards into a name -> float32 weight map (any stored dtype is converted). */
export async function readNamedWeights(path: string, what = "backbone.weights"): Promise<Map<string, NamedWeight>> {
  let json: unknown;
  const text = await readTextBounded(path, "weights manifest", MANIFEST_BYTES, `${what}: ${path}`);
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DmlError(`${what}: ${path} is not a JSON weights manifest (${(e as Error).message.split("\n")[0]})`);
  }
  const manifest = Array.isArray(json) ? json : (json as { weightsManifest?: unknown })?.weightsManifest;
  const valid = Array.isArray(manifest) && manifest.every((g) =>
    Array.isArray(g?.paths) && Array.isArray(g?.weights) &&
    g.weights.every((w: tf.io.WeightsManifestEntry) => typeof w?.name === "string" && Array.isArray(w?.shape))
  );
  if (!valid) {
    throw new DmlError(
      `${what}: ${path} is not a tfjs weights manifest (expected [{ paths, weights: [{ name, shape, dtype }] }] or a model.json with weightsManifest)`,
    );
  }
  const out = new Map<string, NamedWeight>();
  for (const group of manifest as ManifestGroup[]) {
    const shards: Uint8Array[] = [];
    for (const p of group.paths) {
      const file = `${dirOf(path)}/${p}`;
      try {
        shards.push(await readBounded(file, "weight file"));
      } catch (e) {
        const why = (e as Error).message.replace(`${file}: `, "");
        throw new DmlError(`${what}: the weight file ${file} listed in ${path} cannot be read (${why})`);
      }
    }
    const joined = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
    let o = 0;
    for (const s of shards) {
      joined.set(s, o);
      o += s.length;
    }
    let tensors: Record<string, Tensor>;
    try {
      tensors = tf.io.decodeWeights(joined.buffer, group.weights);
    } catch (e) {
      throw new DmlError(`${what}: ${path}: the weight files do not match the manifest (${(e as Error).message})`);
    }
    for (const [name, t] of Object.entries(tensors)) {
      const f = t.dtype === "float32" ? t : tf.cast(t, "float32");
      out.set(name, { shape: t.shape, values: f.dataSync() as Float32Array });
      if (f !== t) f.dispose();
      t.dispose();
    }
  }
  return out;
}

/** Writes `weights` as `dir/weights_manifest.json` + `dir/weights.bin`; returns the manifest path. */
export async function writeNamedWeights(dir: string, weights: Array<[string, Variable]>): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const named = weights.map(([name, v]) => ({ name, tensor: v as Tensor }));
  const { data, specs } = await tf.io.encodeWeights(named);
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(tf.io.concatenateArrayBuffers(data));
  await Deno.writeFile(`${dir}/weights.bin`, bytes);
  const manifest = [{ paths: ["weights.bin"], weights: specs }];
  await Deno.writeTextFile(`${dir}/weights_manifest.json`, JSON.stringify(manifest));
  return `${dir}/weights_manifest.json`;
}

/**
 * Assigns the weights named in `named` to the model's Variables of the same names. Names the file
 * has but the model does not (a classifier `fc.*`) are ignored; a model weight the file lacks is an
 * error unless `optional(name)` says it may keep its initial value (a new embedding head).
 */
export function assignNamedWeights(
  target: Array<[string, Variable]>,
  named: Map<string, NamedWeight>,
  o: { file: string; what: string; optional?: (name: string) => boolean },
): number {
  let loaded = 0;
  for (const [name, v] of target) {
    const w = named.get(name);
    if (!w) {
      if (o.optional?.(name)) continue;
      const near = [...named.keys()].slice(0, 5).join(", ");
      throw new DmlError(`${o.what}: ${o.file} has no weight '${name}' (it has e.g. ${near})`);
    }
    const same = w.shape.length === v.shape.length && w.shape.every((d, i) => d === v.shape[i]);
    if (!same) {
      const hint = v.shape.length === 4
        ? " (convolution kernels are [height, width, in, out]: permute PyTorch's with .permute(2, 3, 1, 0))"
        : "";
      throw new DmlError(
        `${o.what}: '${name}' in ${o.file} has shape [${w.shape}], the model needs [${v.shape}]${hint}`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(w.values, v.shape)));
    loaded++;
  }
  return loaded;
}
