/**
 * The training loop: seeded, checkpointed every epoch, resumable exactly.
 *
 * ```ts
 * const result = await train(recipe, registry, { log: console.log });
 * result.metrics["recall@1"];
 * ```
 *
 * Per step, inside one gradient tape: embed the batch; let the memory adapt and enqueue (before
 * the loss, as the official XBM code does, unless it asks for after the step); add the batch loss
 * and the weighted memory loss; clip; step the optimizer. The loss (and, with a memory, its batch
 * and memory parts) is read back only every `train.logEvery` steps, so a GPU is not stalled each step.
 *
 * The run folder also gets `run.json` and `report.html` (rewritten after each evaluation); see
 * report/reporter.ts.
 */
import { tf } from "./tf.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Dataset, Split, State, TrainContext } from "./types.ts";
import type { Registry } from "./registry.ts";
import { parseRecipeText, type Recipe, recipeToYaml, resolveRecipe } from "./recipe.ts";
import { assemble, type Components } from "./assemble.ts";
import { type BackendChoice, useBackend } from "./backend.ts";
import { learningRate, type ScheduleOptions } from "./schedule.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { Progress } from "./progress.ts";
import { DmlError } from "./errors.ts";
import { Rng } from "./rng.ts";
import { RunFolder } from "./run_folder.ts";
import { checkResumeState } from "./resume_check.ts";
import { embedSplit, rawPixels } from "./embed.ts";
import { loadAhead } from "./prefetch.ts";
import { RunReporter } from "./report/reporter.ts";
import type { EvalEmbeddings } from "./report/collect.ts";

export interface TrainOptions {
  /** Continue the run in this folder from its last checkpoint. */
  resumeDir?: string;
  /** No progress output (tests). */
  quiet?: boolean;
}

export interface TrainResult {
  runDir: string;
  backend: BackendChoice;
  /** The last evaluation's metrics. */
  metrics: Record<string, number>;
  /** Mean loss of every step summary, in order. */
  losses: number[];
  steps: number;
  baselines?: Record<string, Record<string, number>>;
}

/** Kernels a backward pass through the built-in backbones needs; `auto` avoids a backend without them. */
export const TRAINING_KERNELS = [
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "MaxPoolGrad",
  "AvgPoolGrad",
  "UnsortedSegmentSum",
];

export async function train(recipe: Recipe, registry: Registry, opts: TrainOptions = {}): Promise<TrainResult> {
  const started: Started = {};
  try {
    return await trainRun(recipe, registry, opts, started);
  } catch (e) {
    // Bad input is refused before a folder exists; what fails later is said in the folder it leaves,
    // while the folder is still locked.
    await started.reporter?.failed(started.step?.() ?? 0, e);
    throw e;
  } finally {
    await started.folder?.close();
  }
}

/** What outlives a failed run: its folder (locked until then), its reporter, the step it reached. */
interface Started {
  folder?: RunFolder;
  reporter?: RunReporter;
  step?: () => number;
}

async function trainRun(recipe: Recipe, registry: Registry, opts: TrainOptions, started: Started) {
  // A run is locked for the life of its training: a second process is refused before it loads anything.
  const resuming = opts.resumeDir ? await RunFolder.open(opts.resumeDir) : null;
  started.folder = resuming ?? undefined;
  if (!resuming) RunFolder.checkWritable(recipe.output);
  const backend = await useBackend(recipe.train.backend as never, { needs: TRAINING_KERNELS });
  const c = await assemble(recipe, registry);
  const t = recipe.train as Recipe["train"] & ScheduleOptions & {
    logEvery: number;
    clip: number;
    checkpoint: boolean;
    keepCheckpoints: number;
    evalBatch: number;
    prefetch: number;
  };
  const yaml = recipeToYaml(recipe);
  const trainables: Variable[] = [...c.backbone.trainableWeights, ...(c.loss.trainableWeights ?? [])];
  const checkpoint = resuming ? await RunFolder.latestCheckpoint(resuming.dir) : null;
  const resumed = checkpoint ? await loadCheckpoint(checkpoint) as Record<string, State> : null;
  if (resumed) {
    await checkSameRecipe(resumed.recipe, recipe, registry, opts.resumeDir!);
    checkResumeState(resumed, trainables.map((v) => v.size), checkpoint!);
    restore(c, resumed, checkpoint!);
  }
  checkEvaluable(c);
  // Everything above can fail on bad input; only now is a run folder created or touched.
  const created = resuming ? null : await RunFolder.create(recipe.output, recipe.name, yaml);
  started.folder ??= created ?? undefined;
  const folder = resuming ?? created!;
  if (resumed) {
    const at = { bytes: resumed.metricsBytes as number | undefined, step: resumed.step as number };
    await folder.rewindMetrics(at, `--resume ${folder.dir}`);
  }
  const progress = new Progress(0, opts.quiet);
  const say = (line: string) => progress.line(line);
  say(`backend: ${backend.backend} (${backend.reason})`);
  if (c.data.description) say(`data: ${c.data.description}`);

  let epoch = 0, step = 0;
  if (resumed) {
    epoch = resumed.epoch as number;
    step = resumed.step as number;
    say(`resumed from ${checkpoint} (epoch ${epoch}, step ${step})`);
  }
  const trainRng = resumed ? Rng.fromState(resumed.rng as number[]) : c.trainRng;
  const epochLength = c.sampler.epochLength?.(0) ?? Math.floor(c.data.train.size / c.sampler.batchSize);
  const totalSteps = t.maxSteps > 0 ? Math.min(t.maxSteps, t.epochs * epochLength) : t.epochs * epochLength;
  (progress as unknown as { total: number }).total = totalSteps;

  const labels = c.data.train.labels;
  const ctx: TrainContext = {
    step,
    epoch,
    epochs: t.epochs,
    rng: trainRng,
    data: c.data,
    backbone: c.backbone,
    embedAll: (split: Dataset, o?: { features?: boolean; normalize?: boolean }) =>
      // embedSplit leaves the loss's evalTransform out of features by itself.
      embedSplit(split, c.backbone, c.loss, { batch: t.evalBatch, ...o }),
    shared: c.shared,
    log: (r) => folder.append({ ...r, step: ctx.step, epoch: ctx.epoch }),
    say,
  };
  const reporter = await RunReporter.start(folder.dir, recipe, backend, step, ctx);
  [started.reporter, started.step] = [reporter, () => ctx.step];
  const hooks = async (name: "onTrainStart" | "onEpochStart" | "afterStep" | "onEpochEnd") => {
    for (const [, h] of c.ordered) if (h[name]) await h[name]!(ctx);
  };
  // What the evaluator ranks by (eval.space), for the trained and the untrained network alike.
  const onFeatures = recipe.eval.space === "features";
  const embedNetwork = (split: Dataset) => ctx.embedAll(split, { features: onFeatures });
  // The page after the last evaluation is written once, when training ends.
  const evaluate = async (last: boolean, logged = false): Promise<Record<string, number>> => {
    const m = await evaluateSplits(c, embedNetwork, (seen) => reporter.seen = seen);
    if (!logged) folder.append({ type: "eval", epoch: ctx.epoch, step: ctx.step, ...m });
    say(`eval epoch ${ctx.epoch} step ${ctx.step}: ${formatMetrics(m)}`);
    if (!last) await reporter.evaluated();
    return m;
  };

  let baselines: Record<string, Record<string, number>> | undefined;
  if (!resumed) {
    if (recipe.eval.baselines) baselines = await runBaselines(c, t.evalBatch, embedNetwork, folder, say);
    await hooks("onTrainStart");
  }

  const losses: number[] = [];
  let pending: StepLoss[] = [];
  let windowStart = performance.now(), windowImages = 0;
  let metrics: Record<string, number> = {};
  let lr = c.optimizer.lr;
  const flush = async () => {
    if (pending.length === 0) return;
    // The one read-back per logging window (async: a GPU backend cannot read synchronously).
    const names = Object.keys(pending[0].parts);
    const series = [pending.map((p) => p.loss), ...names.map((k) => pending.map((p) => p.parts[k]))];
    const sums = tf.tidy(() => series.map((xs) => tf.addN(xs)));
    const means = (await Promise.all(sums.map((s) => s.data()))).map((v) => v[0] / pending.length);
    tf.dispose(sums);
    pending.forEach((p) => tf.dispose([p.loss, ...Object.values(p.parts)]));
    const mean = means[0];
    const parts = Object.fromEntries(names.map((k, i) => [k, means[i + 1]]));
    const secs = (performance.now() - windowStart) / 1000;
    const imagesPerSec = windowImages / Math.max(secs, 1e-9);
    if (!Number.isFinite(mean)) {
      throw new DmlError(`training diverged: loss is ${mean} at step ${step} (lower optimizer.lr or set train.clip)`);
    }
    losses.push(mean);
    const terms = await readTerms(c);
    folder.append({ type: "step", step, epoch, loss: mean, lr, imagesPerSec, ...parts, ...terms });
    progress.update(step, { loss: mean, imagesPerSec, lr, epoch });
    pending = [];
    windowStart = performance.now();
    windowImages = 0;
  };

  const stopAt = t.maxSteps > 0 ? t.maxSteps : Infinity;
  for (; epoch < t.epochs && step < stopAt; epoch++) {
    ctx.epoch = epoch;
    const epochRng = trainRng.fork();
    const samplerRng = epochRng.fork(), augmentRng = epochRng.fork();
    await hooks("onEpochStart");
    // A dataset that decodes files loads the next `prefetch` batches while this one trains.
    const batches = loadAhead(c.sampler.batches(epoch, samplerRng), c.data.train, { augment: true, rng: augmentRng }, {
      ahead: t.prefetch,
      limit: stopAt - step,
    });
    for await (const { indices, x } of batches) {
      lr = learningRate(t, c.optimizer.lr, { step, totalSteps, epoch });
      pending.push(trainStep(c, trainables, indices, labels, augmentRng, step, lr, t.clip, x));
      windowImages += indices.length;
      step++;
      ctx.step = step;
      if (step % t.logEvery === 0) await flush();
      await hooks("afterStep");
    }
    await flush();
    await hooks("onEpochEnd");
    await reporter.epochEnd(c, step);
    const last = epoch + 1 >= t.epochs || step >= stopAt;
    const every = recipe.eval.every as number;
    if (last || (every > 0 && (epoch + 1) % every === 0)) {
      ctx.epoch = epoch + 1;
      metrics = await evaluate(last);
    }
    if (t.checkpoint) {
      // metricsBytes: what a resume from here cuts metrics.jsonl back to.
      const head = {
        epoch: epoch + 1,
        step,
        rng: trainRng.state(),
        recipe: yaml,
        metricsBytes: await folder.metricsBytes(),
      };
      const state = await snapshot(c, trainables, head);
      await folder.saveCheckpoint(epoch + 1, state, t.keepCheckpoints);
    }
  }
  if (Object.keys(metrics).length === 0) {
    // A resume of a run that was stopped after its last checkpoint has that evaluation logged already.
    metrics = await evaluate(true, resumed !== null && await folder.hasEvalAt(step));
  }
  progress.done();
  if (baselines) say(baselineTable(baselines, metrics, onFeatures));
  await reporter.finish(c.data, step);
  await folder.close();
  return { runDir: folder.dir, backend, metrics, losses, steps: step, baselines };
}

/** A step's loss and, with a memory, its `loss.batch` and `loss.memory` parts; still on the device. */
interface StepLoss {
  loss: Scalar;
  parts: Record<string, Scalar>;
}

/** One optimisation step on `loaded` (the batch, when loaded ahead; it is disposed); returns the loss, still on the device. */
function trainStep(
  c: Components,
  trainables: Variable[],
  indices: Int32Array,
  labels: Int32Array,
  rng: Rng,
  step: number,
  lr: number,
  clip: number,
  loaded: Tensor | null = null,
): StepLoss {
  const batchLabels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) batchLabels[i] = labels[indices[i]];
  let detached: [Tensor2D, Tensor1D] | null = null;
  const parts: Record<string, Scalar> = {};
  const loss = tf.tidy(() => {
    const y = tf.tensor1d(batchLabels, "int32");
    const { value, grads } = tf.variableGrads(() => {
      const x = loaded ?? c.data.train.batch(indices, { augment: true, rng });
      // A loss that reads the pre-head features (BIER's regulariser view) gets them from the same forward pass.
      const { e, features } = c.loss.usesFeatures && c.backbone.embedWithFeatures
        ? c.backbone.embedWithFeatures(x, true)
        : { e: c.backbone.embed(x, true), features: undefined };
      const memory = c.memory;
      if (memory && memory.order !== "after-step") memory.update(e, y, step, indices);
      const ref = memory?.reference() ?? null;
      let total: Scalar = ref && !memory!.batchLoss ? tf.scalar(0) : c.loss.compute(e, y, undefined, features);
      if (memory) {
        const memoryLoss: Scalar = ref ? tf.mul(memory.weight, c.loss.compute(e, y, ref, features)) : tf.scalar(0);
        parts["loss.batch"] = tf.keep(total);
        parts["loss.memory"] = tf.keep(memoryLoss);
        if (ref) total = tf.add(total, memoryLoss);
      }
      if (memory?.order === "after-step") detached = [tf.keep(tf.clone(e)), tf.keep(tf.clone(y))];
      return total;
    }, trainables);
    const used = trainables.filter((v) => grads[v.name] !== undefined);
    let g: Tensor[] = used.map((v) => grads[v.name]);
    if (clip > 0) g = clipByGlobalNorm(g, clip);
    c.optimizer.step(used, g, lr);
    return value;
  });
  loaded?.dispose();
  if (detached) {
    const [e, y] = detached as [Tensor2D, Tensor1D];
    c.memory!.update(e, y, step, indices);
    e.dispose();
    y.dispose();
  }
  return { loss, parts };
}

/** Scales gradients so their joint L2 norm is at most `maxNorm`. */
export function clipByGlobalNorm(grads: Tensor[], maxNorm: number): Tensor[] {
  const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-12)));
  return grads.map((g) => tf.mul(g, scale));
}

async function readTerms(c: Components): Promise<Record<string, number>> {
  const terms = c.loss.terms?.();
  if (!terms) return {};
  const entries = Object.entries(terms);
  const values = await Promise.all(entries.map(([, v]) => v.data()));
  return Object.fromEntries(entries.map(([k], i) => [`loss.${k}`, values[i][0]]));
}

/** The evaluator's label checks on the splits it will evaluate, so that a split it refuses is found before training. */
function checkEvaluable(c: Components): void {
  if (c.data.test) c.evaluator.check?.(c.data.test.labels);
  else if (c.data.query && c.data.gallery) c.evaluator.check?.(c.data.query.labels, c.data.gallery.labels);
  else throw new DmlError("data: the dataset has neither a test split nor query and gallery splits to evaluate on");
}

/** The evaluator on the test split (one set) or on query vs gallery; `seen` gets the embeddings (for the report). */
async function evaluateSplits(
  c: Components,
  embed: (split: Dataset) => Promise<Split>,
  seen?: (e: EvalEmbeddings) => void,
): Promise<Record<string, number>> {
  if (c.data.test) {
    const query = await embed(c.data.test);
    seen?.({ query });
    return await c.evaluator.evaluate(query);
  }
  if (c.data.query && c.data.gallery) {
    const q = await embed(c.data.query);
    const g = await embed(c.data.gallery);
    seen?.({ query: q, gallery: g });
    return await c.evaluator.evaluate(q, g);
  }
  throw new DmlError("data: the dataset has neither a test split nor query and gallery splits to evaluate on");
}

async function runBaselines(
  c: Components,
  batch: number,
  embedNetwork: (split: Dataset) => Promise<Split>,
  folder: RunFolder,
  say: (s: string) => void,
): Promise<Record<string, Record<string, number>>> {
  if (!c.data.test && !(c.data.query && c.data.gallery)) return {};
  // The same protocol as the trained network (one set, or queries against the gallery).
  const raw = await evaluateSplits(c, (split) => rawPixels(split, batch));
  const untrained = await evaluateSplits(c, embedNetwork);
  folder.append({ type: "baseline", name: "raw-pixels", ...raw });
  folder.append({ type: "baseline", name: "untrained", ...untrained });
  say(`baseline raw pixels: ${formatMetrics(raw)}`);
  say(`baseline untrained network: ${formatMetrics(untrained)}`);
  return { "raw pixels": raw, "untrained network": untrained };
}

function baselineTable(
  b: Record<string, Record<string, number>>,
  trained: Record<string, number>,
  onFeatures: boolean,
): string {
  const rows = { ...b, "trained network": trained };
  // Recall@K is what the papers headline; R-Precision and MAP@R also weigh the rest of the ranking.
  const keys = Object.keys(trained).filter((k) => k.startsWith("recall@") || k === "r_precision" || k === "map@r");
  const head = `${"".padEnd(18)}${keys.map((k) => k.padStart(12)).join("")}`;
  const lines = Object.entries(rows).map(([n, m]) =>
    `${n.padEnd(18)}${keys.map((k) => (m[k] ?? NaN).toFixed(4).padStart(12)).join("")}`
  );
  const note = onFeatures ? ["(both network rows rank by the backbone's pre-head features: eval.space)"] : [];
  return [head, ...lines, ...note].join("\n");
}

/** "recall@1 0.8123, map@r 0.4012". */
export function formatMetrics(m: Record<string, number>): string {
  return Object.entries(m).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join(", ");
}

/** Everything a resumed run needs to continue exactly. */
async function snapshot(c: Components, trainables: Variable[], head: Record<string, State>): Promise<State> {
  // Copies: a backend may hand out views of its own buffers.
  const read = (vs: Variable[] | undefined) =>
    Promise.all((vs ?? []).map(async (v) => (await v.data() as Float32Array).slice()));
  const hooks: Record<string, State> = {};
  for (const [name, h] of c.ordered) if (h.saveState) hooks[name] = h.saveState();
  return {
    ...head,
    trainables: await read(trainables),
    backboneState: await read(c.backbone.stateWeights),
    lossState: await read(c.loss.stateWeights),
    optimizer: await c.optimizer.state(),
    memory: c.memory ? await c.memory.state() : null,
    hooks,
  };
}

function restore(c: Components, s: Record<string, State>, where: string): void {
  restoreWeights(c, s, where);
  c.optimizer.load(s.optimizer);
  if (c.memory) {
    if (s.memory === null || s.memory === undefined) {
      throw new DmlError(`${where}: the checkpoint holds no memory state`);
    }
    c.memory.load(s.memory);
  }
  const hooks = (s.hooks ?? {}) as Record<string, State>;
  for (const [name, h] of c.ordered) if (h.loadState && hooks[name] !== undefined) h.loadState(hooks[name]);
}

/** The network's part of a checkpoint: trainable weights and state (batch-norm statistics) of backbone and loss. */
export function restoreWeights(c: Components, s: Record<string, State>, where: string): void {
  const trainables = [...c.backbone.trainableWeights, ...(c.loss.trainableWeights ?? [])];
  assign(trainables, s.trainables, `${where}: weights`);
  assign(c.backbone.stateWeights ?? [], s.backboneState, `${where}: backbone state`);
  assign(c.loss.stateWeights ?? [], s.lossState, `${where}: loss state`);
}

function assign(vars: Variable[], saved: State, what: string): void {
  if (!Array.isArray(saved) || saved.length !== vars.length) {
    throw new DmlError(
      `${what}: ${Array.isArray(saved) ? saved.length : 0} tensors saved, the model has ${vars.length}`,
    );
  }
  vars.forEach((v, i) => {
    const a = saved[i];
    if (!(a instanceof Float32Array) || a.length !== v.size) {
      throw new DmlError(
        `${what}: tensor ${i} has ${
          (a as Float32Array)?.length ?? "no"
        } values, the model needs ${v.size} (${v.shape})`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(a, v.shape)));
  });
}

async function checkSameRecipe(saved: State, now: Recipe, registry: Registry, dir: string): Promise<void> {
  if (typeof saved !== "string") throw new DmlError(`--resume ${dir}: the checkpoint holds no recipe`);
  // The checkpoint's recipe is resolved again by today's schemas, so an option added since it was written takes
  // its default on both sides instead of reading as a change (a run from before an upgrade still resumes).
  let then: Recipe;
  try {
    then = await resolveRecipe(parseRecipeText(saved, "its checkpoint's recipe"), registry, now.baseDir);
  } catch (e) {
    if (e instanceof DmlError) throw new DmlError(`--resume ${dir}: ${e.message}`);
    throw e;
  }
  // The stopping point may move (train.epochs, train.maxSteps); nothing else may.
  const strip = (y: string) => y.split("\n").filter((l) => !/^\s+(epochs|maxSteps):/.test(l)).join("\n");
  const a = strip(recipeToYaml(then)).split("\n"), b = strip(recipeToYaml(now)).split("\n");
  const i = a.findIndex((l, k) => l !== b[k]);
  if (i >= 0 || a.length !== b.length) {
    const at = i >= 0 ? i : Math.min(a.length, b.length);
    throw new DmlError(
      `--resume ${dir}: the run was trained with another recipe (first difference: '${(a[at] ?? "").trim()}' vs '${
        (b[at] ?? "").trim()
      }')`,
    );
  }
}
