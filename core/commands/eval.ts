/**
 * `deno task eval`: retrieval metrics of saved embeddings (NumPy `.npy` files), with the same
 * code as the trainer's evaluation. Prints the metrics as one JSON object on the last line of
 * stdout; a note (backend, timing) goes to stderr once the metrics are known. Bad input is a
 * DmlError (one line, exit 2) and nothing else is printed.
 *
 * A trained run is evaluated with `--run RUN_DIR`: its saved recipe (with `--set` overrides, e.g.
 * `eval.fnmrAtFmr=[0.01]` or another test sample) is rebuilt, the latest checkpoint loaded, and the
 * recipe's evaluator run on its evaluation splits (core/commands/embed.ts embeds them).
 *
 * ```sh
 * deno task eval --run runs/quickstart/2026-11-23T10-00-00 [--set key.path=value]... [--space embedding|features]
 * deno task eval --embeddings E.npy --labels L.npy [--gallery-embeddings G.npy --gallery-labels GL.npy] \
 *   [--metric cosine|euclidean] [--center] [--average queries|classes] [--recall-at 1,2,4,8] [--no-nmi] [--f1] [--ami] \
 *   [--mrr] \
 *   [--fnmr-at-fmr 0.001,0.01] \
 *   [--backend cpu|wasm|webgpu|auto]
 * ```
 */
import { DmlError } from "../errors.ts";
import { readNpy } from "../npy.ts";
import type { Registry } from "../registry.ts";
import type { Evaluator, Split } from "../types.ts";
import { type BackendName, BACKENDS, useBackend, webgpuAdapter } from "../backend.ts";
import { resolveEngine, SOFTWARE_ADAPTER } from "../knn.ts";
import { evaluateRetrieval, type RetrievalOptions } from "../retrieval.ts";
import { blas } from "../blas.ts";
import { embedRun } from "./embed.ts";
import { EVAL_RUN_USAGE, EVAL_USAGE, parseCommandArgs } from "./usage.ts";

const USAGE = `usage: ${EVAL_USAGE}`;

/** Runs the eval command on its arguments (after `eval`). Uses the registry's `retrieval` evaluator when given. */
export async function evalCommand(args: string[], registry?: Registry): Promise<void> {
  if (args.some((a) => a === "--run" || a.startsWith("--run="))) return await evalRun(args, registry!);
  const flags = parse(args);
  const query = await loadSplit(flags.embeddings, flags.labels);
  const gallery = flags.galleryEmbeddings !== undefined
    ? await loadSplit(flags.galleryEmbeddings, flags.galleryLabels!)
    : undefined;
  const backend = await chooseBackend(flags.backend);
  const options: RetrievalOptions = {
    recallAt: flags.recallAt,
    metric: flags.metric,
    center: flags.center,
    average: flags.average,
    nmi: flags.nmi,
    f1: flags.f1,
    ami: flags.ami,
    mrr: flags.mrr,
    fnmrAtFmr: flags.fnmrAtFmr,
    chunk: flags.chunk,
    engine: flags.engine,
  };
  const engine = await resolveEngine(flags.engine) === "native" ? `BLAS (${blas()!.name})` : `tfjs ${backend}`;
  const start = performance.now();
  const metrics = registry?.list("evaluator").some((d) => d.name === "retrieval")
    ? await (await registry.create<Evaluator>("evaluator", "retrieval", options, { path: "eval" })).evaluate(
      query,
      gallery,
    )
    : await evaluateRetrieval(query, gallery, options);
  // After the work, so that bad input found during it leaves the error line alone on stderr.
  console.error(
    `eval: ${gallery ? "query/gallery" : "one set"}, ${query.n} × ${query.dim}, ${flags.metric}; ` +
      `backend ${backend}, similarity on ${engine}; ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
  console.log(JSON.stringify(metrics));
}

interface Flags {
  embeddings: string;
  labels: string;
  galleryEmbeddings?: string;
  galleryLabels?: string;
  metric: "cosine" | "euclidean";
  center: boolean;
  average: "queries" | "classes";
  recallAt: number[];
  nmi: boolean;
  f1: boolean;
  ami: boolean;
  mrr: boolean;
  fnmrAtFmr: number[];
  backend: BackendName;
  chunk: number;
  engine: "auto" | "backend" | "native";
}

function parse(args: string[]): Flags {
  const { values } = parseCommandArgs("eval", EVAL_USAGE, {
    args,
    allowPositionals: false,
    options: {
      embeddings: { type: "string" },
      labels: { type: "string" },
      "gallery-embeddings": { type: "string" },
      "gallery-labels": { type: "string" },
      metric: { type: "string", default: "cosine" },
      center: { type: "boolean", default: false },
      average: { type: "string", default: "queries" },
      "recall-at": { type: "string", default: "1,2,4,8" },
      "no-nmi": { type: "boolean", default: false },
      f1: { type: "boolean", default: false },
      ami: { type: "boolean", default: false },
      mrr: { type: "boolean", default: false },
      "fnmr-at-fmr": { type: "string", default: "" },
      backend: { type: "string", default: "auto" },
      chunk: { type: "string", default: "0" },
      engine: { type: "string", default: "auto" },
    },
  });
  if (!values.embeddings || !values.labels) {
    throw new DmlError(`eval: --embeddings and --labels are required (${USAGE})`);
  }
  if ((values["gallery-embeddings"] === undefined) !== (values["gallery-labels"] === undefined)) {
    throw new DmlError("eval: --gallery-embeddings and --gallery-labels go together");
  }
  const metric = values.metric!;
  if (metric !== "cosine" && metric !== "euclidean") {
    throw new DmlError(`eval: --metric must be cosine or euclidean, got '${metric}'`);
  }
  const average = values.average!;
  if (average !== "queries" && average !== "classes") {
    throw new DmlError(`eval: --average must be queries or classes, got '${average}'`);
  }
  // Named as the recipe's option (eval.recallAt); a `k` elsewhere is a neighbour count (eval.k, search --k).
  const recallAt = values["recall-at"]!.split(",").map((s) => s.trim());
  if (recallAt.some((s) => !/^[1-9][0-9]*$/.test(s))) {
    throw new DmlError(
      `eval: --recall-at must be a comma-separated list of positive integers, got '${values["recall-at"]}'`,
    );
  }
  const fmr = values["fnmr-at-fmr"] ? values["fnmr-at-fmr"].split(",").map((s) => s.trim()) : [];
  if (fmr.some((s) => s === "" || !(Number(s) >= 0 && Number(s) <= 1))) {
    throw new DmlError(
      `eval: --fnmr-at-fmr must be a comma-separated list of rates in [0, 1], got '${values["fnmr-at-fmr"]}'`,
    );
  }
  if (!BACKENDS.includes(values.backend as BackendName)) {
    throw new DmlError(`eval: --backend must be one of ${BACKENDS.join(", ")}, got '${values.backend}'`);
  }
  if (!/^[0-9]+$/.test(values.chunk!)) {
    throw new DmlError(`eval: --chunk must be an integer >= 0, got '${values.chunk}'`);
  }
  const engine = values.engine!;
  if (engine !== "auto" && engine !== "backend" && engine !== "native") {
    throw new DmlError(`eval: --engine must be auto, backend or native, got '${engine}'`);
  }
  return {
    embeddings: values.embeddings,
    labels: values.labels,
    galleryEmbeddings: values["gallery-embeddings"],
    galleryLabels: values["gallery-labels"],
    metric,
    center: values.center!,
    average,
    recallAt: recallAt.map(Number),
    nmi: !values["no-nmi"],
    f1: values.f1!,
    ami: values.ami!,
    mrr: values.mrr!,
    fnmrAtFmr: fmr.map(Number),
    backend: values.backend as BackendName,
    chunk: Number(values.chunk),
    engine,
  };
}

/** Float32 [N, D] embeddings and int32/int64 [N] labels from two `.npy` files. */
export async function loadSplit(embeddingsPath: string, labelsPath: string): Promise<Split> {
  const e = await readNpy(embeddingsPath);
  if (e.dtype !== "float32") {
    throw new DmlError(`${embeddingsPath}: embeddings must be float32, got ${e.dtype} (save x.astype(np.float32))`);
  }
  if (e.shape.length !== 2) {
    throw new DmlError(`${embeddingsPath}: embeddings must be 2-D [N, D], got shape (${e.shape.join(", ")})`);
  }
  const l = await readNpy(labelsPath);
  if (l.dtype !== "int32" && l.dtype !== "int64") {
    throw new DmlError(`${labelsPath}: labels must be int32 or int64, got ${l.dtype}`);
  }
  if (l.shape.length !== 1) {
    throw new DmlError(`${labelsPath}: labels must be 1-D [N], got shape (${l.shape.join(", ")})`);
  }
  const [n, dim] = e.shape;
  if (l.shape[0] !== n) {
    throw new DmlError(`${labelsPath}: ${l.shape[0]} labels for ${n} embeddings in ${embeddingsPath}`);
  }
  let labels: Int32Array;
  if (l.data instanceof BigInt64Array) {
    labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = l.data[i];
      if (v < -2147483648n || v > 2147483647n) {
        throw new DmlError(`${labelsPath}: label ${i} (${v}) does not fit in int32`);
      }
      labels[i] = Number(v);
    }
  } else labels = l.data as Int32Array;
  const split = { data: e.data as Float32Array, n, dim, labels };
  if (n === 0) throw new DmlError(`${embeddingsPath}: the set is empty`);
  for (let i = 0; i < split.data.length; i++) {
    if (!Number.isFinite(split.data[i])) {
      throw new DmlError(
        `${embeddingsPath}: embedding ${Math.floor(i / dim)} has a non-finite value (${split.data[i]})`,
      );
    }
  }
  return split;
}

/**
 * `auto`: a hardware GPU if there is one; else the CPU with BLAS; else wasm, whose matMul is the
 * fastest tfjs CPU kernel (a software WebGPU adapter is slower than both).
 */
async function chooseBackend(want: BackendName): Promise<string> {
  if (want !== "auto") {
    try {
      return (await useBackend(want)).backend;
    } catch (e) {
      // useBackend words its errors for recipes (`train.backend: …`).
      if (e instanceof DmlError) throw new DmlError(e.message.replace(/^train\.backend:/, "eval: --backend:"));
      throw e;
    }
  }
  const adapter = await webgpuAdapter();
  if (adapter && !SOFTWARE_ADAPTER.test(adapter)) return (await useBackend("webgpu")).backend;
  return (await useBackend(blas() ? "cpu" : "wasm")).backend;
}

/** `eval --run`: a trained run's checkpoint, evaluated by its recipe's evaluator; the metrics as one JSON line. */
async function evalRun(args: string[], registry: Registry): Promise<void> {
  const parsed = parseCommandArgs("eval", `${EVAL_RUN_USAGE}; evaluator options go in --set eval.KEY=VALUE`, {
    args,
    allowPositionals: false,
    options: { run: { type: "string" }, set: { type: "string", multiple: true }, space: { type: "string" } },
  });
  const { run, set, space } = parsed.values;
  const dir = run!.replace(/\/+$/, "");
  const start = performance.now();
  const { components, embedded } = await embedRun(registry, dir, set ?? [], space, "eval --run");
  const [query, gallery] = embedded.map(([, split]) => split);
  const metrics = await components.evaluator.evaluate(query, gallery);
  console.error(
    `eval: ${dir}, ${embedded.map(([n, s]) => `${n} ${s.n} × ${s.dim}`).join(", ")}; ${
      ((performance.now() - start) / 1000).toFixed(1)
    } s`,
  );
  console.log(JSON.stringify(metrics));
}
