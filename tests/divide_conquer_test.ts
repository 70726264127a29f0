/**
 * Divide and conquer (plugins/divide-conquer): the Hungarian relabelling (spec D4), k-means on
 * separable data against float64, cluster batches (D6), learner blocks (D5), the loss touching
 * only its learner's slice, the stages, resume, and bad input.
 */
import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { Registry } from "../core/registry.ts";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { embedSplit } from "../core/embed.ts";
import { kmeans } from "../core/kmeans.ts";
import type { Backbone, ComponentDef, Dataset, DatasetSplits, Loss, Plugin, TrainContext } from "../core/types.ts";
import { hungarian, matchingCost } from "../plugins/divide-conquer/hungarian.ts";
import { matchClusters, membershipCost, relabelToMatch } from "../plugins/divide-conquer/relabel.ts";
import { dropSingletons } from "../plugins/divide-conquer/singletons.ts";
import { ClusterBatches, clusterGroups, cycleTo, mergeOrder } from "../plugins/divide-conquer/batches.ts";
import { fullEmbedding, learnerBlock, unitBlocks } from "../plugins/divide-conquer/blocks.ts";
import { reclusterDue, stageAt } from "../plugins/divide-conquer/schedule.ts";
import { type Clustering, SHARED_KEY } from "../plugins/divide-conquer/clustering.ts";
import type { ClusterSampler } from "../plugins/divide-conquer/sampler.ts";
import dncPlugin from "../plugins/divide-conquer/mod.ts";
import { margin } from "../plugins/losses/margin.ts";
import { gumbelNoise } from "../plugins/losses/distance_weighted.ts";
import lossesPlugin from "../plugins/losses/mod.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { assertClose, assertNoLeak } from "./util.ts";

// ---------------------------------------------------------------- Hungarian matching

Deno.test("hungarian: the spec's D4 cost matrix matches curr0->prev1, curr1->prev2, curr2->prev0", () => {
  const prev = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2]);
  const curr = Int32Array.from([2, 2, 1, 0, 0, 1, 1, 1]);
  assert.deepEqual(membershipCost(prev, curr, 3), [[5, 0, 5], [5, 6, 1], [1, 4, 5]]);
  assert.deepEqual([...matchClusters(prev, curr, 3)], [1, 2, 0]);
  assert.deepEqual([...relabelToMatch(prev, curr, 3)], [0, 0, 2, 1, 1, 2, 2, 2]);
  // The official relabelling applies the inverse permutation, which differs for this 3-cycle.
  const perm = matchClusters(prev, curr, 3);
  const inverse = new Int32Array(3);
  perm.forEach((j, i) => inverse[j] = i);
  assert.deepEqual([...curr.map((c) => inverse[c])], [1, 1, 0, 2, 2, 0, 0, 0]);
});

Deno.test("hungarian: optimal on random matrices (brute force over all permutations, n <= 6)", () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 60; trial++) {
    const n = 1 + (trial % 6);
    const integer = trial % 2 === 0; // integer costs make ties, the hard case
    const cost = Array.from({ length: n }, () => Array.from({ length: n }, () => integer ? rng.int(4) : rng.normal()));
    const match = hungarian(cost);
    assert.deepEqual([...match].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), "a permutation");
    assertClose(matchingCost(cost, match), bruteForceMin(cost), { atol: 1e-9, msg: `n=${n}` });
  }
});

Deno.test("relabelToMatch: recovers permuted clusters (K = 3..32, 5% of points moved)", () => {
  const rng = new Rng(11);
  for (const k of [3, 5, 8, 32]) {
    const n = 40 * k;
    const prev = Int32Array.from({ length: n }, () => rng.int(k));
    const perm = rng.shuffle(Array.from({ length: k }, (_, i) => i));
    const curr = prev.map((c) => perm[c]);
    const moved = new Set<number>();
    while (moved.size < n / 20) moved.add(rng.int(n));
    for (const i of moved) curr[i] = rng.int(k);
    const renamed = relabelToMatch(prev, curr, k);
    for (let i = 0; i < n; i++) if (!moved.has(i)) assert.equal(renamed[i], prev[i], `K=${k} point ${i}`);
    // The matching is a bijection of cluster names.
    assert.equal(new Set(matchClusters(prev, curr, k)).size, k);
  }
});

// ---------------------------------------------------------------- k-means

Deno.test("kmeans: separable blobs give the true partition, float64 centroids and inertia", async () => {
  const rng = new Rng(5);
  const k = 4, dim = 16, perBlob = 150, n = k * perBlob;
  const centers = Array.from({ length: k }, () => Array.from({ length: dim }, () => 10 * rng.normal()));
  const truth = new Int32Array(n);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    truth[i] = i % k;
    rows.push(centers[truth[i]].map((c) => c + 0.2 * rng.normal()));
  }
  const data = Float32Array.from(rows.flat());
  const out = await assertNoLeak(() => kmeans(data, n, dim, k, { seed: 1, iters: 50 }), "kmeans");
  // The same partition up to the cluster names.
  const named = relabelToMatch(truth, out.assignments, k);
  assert.deepEqual([...named], [...truth]);
  // Float64 reference: blob means of the float32 data and the sum of squared distances to them.
  const perm = matchClusters(truth, out.assignments, k); // found cluster c is blob perm[c]
  let inertia = 0;
  for (let c = 0; c < k; c++) {
    const blob = perm[c];
    const mean = new Float64Array(dim);
    for (let i = blob; i < n; i += k) for (let j = 0; j < dim; j++) mean[j] += data[i * dim + j] / perBlob;
    assertClose(out.centroids.subarray(c * dim, (c + 1) * dim), mean, { atol: 1e-4, msg: `centroid ${c}` });
    for (let i = blob; i < n; i += k) for (let j = 0; j < dim; j++) inertia += (data[i * dim + j] - mean[j]) ** 2;
  }
  assertClose(out.inertia, inertia, { rtol: 1e-3, msg: "inertia" });
});

// ---------------------------------------------------------------- batches, blocks, schedule

Deno.test("dropSingletons: a class's only sample in a cluster is left out", () => {
  const clusters = Int32Array.from([0, 0, 0, 1, 1, 1, 2]);
  const labels = Int32Array.from([7, 7, 3, 7, 3, 3, 9]);
  assert.deepEqual([...dropSingletons(clusters, labels)], [0, 0, -1, -1, 1, 1, -1]);
});

Deno.test("mergeOrder: the spec's D6 round robin (lengths [5, 2, 3] -> 15 steps), under and cycling", () => {
  assert.deepEqual(mergeOrder([5, 2, 3], "over"), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  assert.deepEqual(mergeOrder([5, 2, 3], "under"), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(mergeOrder([5, 0, 3], "under"), [0, 2, 0, 2, 0, 2], "an empty cluster is skipped");
  assert.deepEqual(cycleTo([0, 1, 2], 7), [0, 1, 2, 0, 1, 2, 0]);
  assert.deepEqual(cycleTo([0, 1, 2], 0), [0, 1, 2]);
});

Deno.test("ClusterBatches: classes x perClass from one cluster; too few classes -> with replacement", () => {
  const rng = new Rng(2);
  const labels = Int32Array.from({ length: 200 }, (_, i) => i % 10);
  const clusters = Int32Array.from({ length: 200 }, (_, i) => (i % 10 < 6 ? 0 : 1)); // 6 and 4 classes
  const groups = clusterGroups(clusters, labels, 2);
  assert.deepEqual(groups.map((g) => g.length), [6, 4]);
  const draw = new ClusterBatches(groups[0], 5, 3, rng);
  for (let b = 0; b < 20; b++) {
    const batch = draw.next();
    assert.equal(batch.length, 15);
    for (const i of batch) assert.equal(clusters[i], 0);
    const cls = [0, 1, 2, 3, 4].map((c) => labels[batch[c * 3]]);
    assert.equal(new Set(cls).size, 5, "distinct classes when the cluster has enough");
    for (let c = 0; c < 5; c++) for (let j = 0; j < 3; j++) assert.equal(labels[batch[c * 3 + j]], cls[c]);
    assert.equal(new Set(batch).size, 15, "no image twice");
  }
  const small = new ClusterBatches(groups[1], 5, 3, rng); // 4 classes < 5: classes repeat
  for (let b = 0; b < 10; b++) for (const i of small.next()) assert.equal(clusters[i], 1);
});

Deno.test("blocks: the spec's D5 (d = 8, K = 2)", () => {
  const e = tf.tensor2d([[3, 4, 0, 0, 1, 1, 1, 1]]);
  assertClose(learnerBlock(e, 0, 2, true).dataSync(), [0.6, 0.8, 0, 0]);
  assertClose(learnerBlock(e, 1, 2, false).dataSync(), [1, 1, 1, 1]);
  assertClose(unitBlocks(e, 2).dataSync(), [0.6, 0.8, 0, 0, 0.5, 0.5, 0.5, 0.5]);
  const r = Math.SQRT1_2;
  assertClose(fullEmbedding(e, 2, true).dataSync(), [0.6 * r, 0.8 * r, 0, 0, 0.5 * r, 0.5 * r, 0.5 * r, 0.5 * r]);
  e.dispose();
});

Deno.test("schedule: the official defaults (T = 2, full embedding from 80, fine-tune from 190)", () => {
  const s = { reclusterEvery: 2, fullEmbeddingFrom: 80, finetuneFrom: 190 };
  assert.deepEqual([0, 79, 80, 189, 190, 199].map((e) => stageAt(e, s)), [
    "learners",
    "learners",
    "full",
    "full",
    "finetune",
    "finetune",
  ]);
  assert.deepEqual([0, 1, 2, 3, 188, 190].map((e) => reclusterDue(e, s)), [true, false, true, false, true, false]);
});

// ---------------------------------------------------------------- the components in a run

/** 12 classes in 3 well-separated groups of 4 (k-means with K = 3 finds the groups), 8-d inputs. */
function blobData(seed = 0, perClass = 10): DatasetSplits {
  const rng = new Rng(seed);
  const classes = 12, dim = 8;
  const centers = Array.from({ length: 3 }, () => Array.from({ length: dim }, () => 5 * rng.normal()));
  const offsets = Array.from({ length: classes }, () => Array.from({ length: dim }, () => 0.5 * rng.normal()));
  const n = classes * perClass;
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const x = Float32Array.from(
    Array.from(labels).flatMap((y) => centers[y % 3].map((c, j) => c + offsets[y][j] + 0.05 * rng.normal())),
  );
  const train: Dataset = {
    size: n,
    labels,
    classes,
    shape: [dim],
    batch: (idx) => tf.tidy(() => tf.gather(tf.tensor2d(x, [n, dim]), tf.tensor1d(idx, "int32"))),
  };
  return { train };
}

/** A linear backbone whose pre-head features are its input. */
function linearBackbone(inDim: number, dim: number, seed = 0): Backbone {
  const rng = new Rng(seed);
  const w = tf.variable(tf.tensor2d(Array.from({ length: inDim * dim }, () => rng.normal()), [inDim, dim]));
  return {
    dim,
    trainableWeights: [w],
    features: (x: Tensor) => tf.clone(x) as Tensor2D,
    embed: (x: Tensor) => tf.matMul(x as Tensor2D, w),
  };
}

interface Probe extends Loss {
  dim: number;
  inputs: number[];
}

/** A test base loss: Σ e ⊙ c with a fixed random c, recording the dim it was made for and its input width. */
const probeLoss: ComponentDef<Probe> = {
  kind: "loss",
  name: "probe",
  doc: "test only",
  options: {},
  create: (_o, ctx) => {
    const rng = ctx.rng.fork();
    const probe: Probe = {
      dim: ctx.dim!,
      inputs: [],
      compute(e: Tensor2D, _y: Tensor1D): Scalar {
        probe.inputs.push(e.shape[1]);
        return tf.tidy(() => {
          const c = tf.tensor2d(Array.from({ length: e.size }, () => rng.normal()), e.shape);
          return tf.sum(tf.mul(e, c)) as Scalar;
        });
      },
    };
    return probe;
  },
};

async function setup(
  sampler: Record<string, unknown>,
  opts: { dim?: number; data?: DatasetSplits; backbone?: Backbone } = {},
) {
  const registry = new Registry();
  registry.register(dncPlugin);
  registry.register({ name: "test", components: [probeLoss] } as Plugin);
  const data = opts.data ?? blobData();
  const dim = opts.dim ?? 12;
  const backbone = opts.backbone ?? linearBackbone(8, dim);
  const shared = new Map<string, unknown>();
  const base = { rng: new Rng(1), shared, data, dim, classes: data.train.classes };
  const s = await registry.create<ClusterSampler>("sampler", "divide-conquer", sampler, { ...base, path: "sampler" });
  const loss = await registry.create<Loss>("loss", "divide-conquer", { base: { use: "probe" } }, {
    ...base,
    path: "loss",
    batchSize: s.batchSize,
  });
  const lines: string[] = [];
  const records: Record<string, unknown>[] = [];
  let embedCalls = 0;
  const ctx: TrainContext = {
    step: 0,
    epoch: 0,
    epochs: 10,
    rng: new Rng(2),
    data,
    backbone,
    embedAll: (split, o) => {
      embedCalls++;
      return embedSplit(split, backbone, o?.features ? undefined : loss, { batch: 64, ...o });
    },
    shared,
    log: (r) => records.push(r),
    say: (l) => lines.push(l),
  };
  const clustering = shared.get(SHARED_KEY) as Clustering;
  return { registry, data, backbone, sampler: s, loss, ctx, lines, records, clustering, embedCalls: () => embedCalls };
}

Deno.test("sampler: every batch stays within the cluster of its step, and classes x perClass", async () => {
  const { sampler, ctx, clustering, data, records, backbone } = await setup({
    clusters: 3,
    classes: 3,
    perClass: 2,
    kmeansIters: 20,
  });
  await sampler.onEpochStart(ctx);
  const a = clustering.assignments!;
  // K-means on the separable features finds the three groups of classes (class % 3).
  for (let i = 0; i < a.length; i++) assert.equal(a[i], a[data.train.labels[i] % 3], "clusters follow the groups");
  assert.equal(records[0].type, "clusters");
  assert.deepEqual(records[0].classes, [4, 4, 4]);
  const batches = [...sampler.batches(0, new Rng(9))];
  // 40 samples a cluster, batch 6 -> 6 batches each, 3 clusters round robin.
  assert.equal(batches.length, 18);
  assert.equal(sampler.epochLength(0), 18);
  batches.forEach((b, s) => {
    assert.equal(b.length, 6);
    for (const i of b) assert.equal(a[i], clustering.order[s], `step ${s}`);
  });
  backbone.trainableWeights.forEach((v) => v.dispose());
});

Deno.test("loss: learner k's slice only (gradient zero elsewhere); full embedding from fullEmbeddingFrom", async () => {
  const { sampler, loss, ctx, clustering } = await setup({
    clusters: 3,
    classes: 3,
    perClass: 2,
    fullEmbeddingFrom: 1,
    finetuneFrom: 2,
    kmeansIters: 20,
  });
  const width = 4; // D = 12, K = 3
  const rng = new Rng(4);
  const e = tf.tensor2d(Array.from({ length: 6 * 12 }, () => rng.normal()), [6, 12]);
  const y = tf.tensor1d([0, 0, 1, 1, 2, 2], "int32");
  const gradOf = () => {
    const g = tf.tidy(() => tf.grad((x: Tensor) => loss.compute(x as Tensor2D, y))(e));
    const rows = g.arraySync() as number[][];
    g.dispose();
    return rows;
  };
  await sampler.onEpochStart(ctx);
  for (let s = 0; s < 6; s++) {
    const k = clustering.currentCluster();
    const g = await assertNoLeak(gradOf, "loss gradient");
    for (let j = 0; j < 12; j++) {
      const inBlock = j >= k * width && j < (k + 1) * width;
      const mass = g.reduce((m, row) => m + Math.abs(row[j]), 0);
      if (inBlock) assert.ok(mass > 1e-6, `step ${s}: dim ${j} of learner ${k} gets a gradient`);
      else assert.equal(mass, 0, `step ${s}: dim ${j} is outside learner ${k}`);
    }
    sampler.afterStep();
  }
  // Each learner's base loss was built for D/K dims and sees D/K-wide inputs; the full one D.
  const bases = loss as unknown as { learners: Probe[]; full: Probe };
  assert.deepEqual(bases.learners.map((b) => b.dim), [4, 4, 4]);
  assert.ok(bases.learners.every((b) => b.inputs.length > 0 && b.inputs.every((w) => w === 4)));
  assert.equal(bases.full.dim, 12);
  ctx.epoch = 1; // full-embedding stage: cluster batches, every dim trained
  await sampler.onEpochStart(ctx);
  assert.equal(clustering.stage, "full");
  assert.ok(gradOf().every((row) => row.every((v) => v !== 0)));
  assert.deepEqual(bases.full.inputs, [12]);
  ctx.epoch = 2; // fine-tuning: one cluster of all the data
  await sampler.onEpochStart(ctx);
  assert.equal(clustering.stage, "finetune");
  assert.equal(clustering.groups.length, 1);
  assert.equal(sampler.epochLength(2), Math.floor(120 / 6));
  e.dispose();
  y.dispose();
});

Deno.test("loss: evalTransform makes every learner block a unit vector (scaled to unit norm)", async () => {
  const { loss } = await setup({ clusters: 3, classes: 3, perClass: 2 });
  const e = tf.tensor2d([[3, 4, 0, 0, 0, 0, 1, 0, 2, 2, 2, 2]]);
  const out = loss.evalTransform!(e).dataSync();
  const r = 1 / Math.sqrt(3);
  assertClose(out, [0.6, 0.8, 0, 0, 0, 0, 1, 0, 0.5, 0.5, 0.5, 0.5].map((v) => v * r));
  e.dispose();
});

Deno.test("resume: the clustering comes back from saveState; no re-clustering before it is due", async () => {
  const first = await setup({ clusters: 3, classes: 3, perClass: 2, reclusterEvery: 2, kmeansIters: 20 });
  await first.sampler.onEpochStart(first.ctx);
  const saved = first.sampler.saveState();
  const second = await setup({ clusters: 3, classes: 3, perClass: 2, reclusterEvery: 2, kmeansIters: 20 });
  second.sampler.loadState(structuredClone(saved));
  second.ctx.epoch = 1;
  await second.sampler.onEpochStart(second.ctx);
  assert.equal(second.embedCalls(), 0, "epoch 1 keeps the clustering of epoch 0");
  assert.deepEqual([...second.clustering.assignments!], [...first.clustering.assignments!]);
  const b1 = [...first.sampler.batches(0, new Rng(5))];
  second.ctx.epoch = 0;
  await second.sampler.onEpochStart(second.ctx); // epoch 0 is a re-clustering epoch: same seed, same clusters
  assert.deepEqual([...second.clustering.assignments!], [...first.clustering.assignments!]);
  assert.deepEqual([...second.sampler.batches(0, new Rng(5))], b1);
  assert.throws(() => second.sampler.loadState({ clusteredAt: 0, assignments: new Int32Array(3) }), /do not fit/);
});

Deno.test("re-clustering keeps learner names: a re-run with permuted k-means labels is matched back", async () => {
  const { sampler, ctx, clustering, records } = await setup({
    clusters: 3,
    classes: 3,
    perClass: 2,
    reclusterEvery: 1,
    kmeansIters: 20,
  });
  await sampler.onEpochStart(ctx);
  const before = clustering.assignments!.slice();
  for (let e = 1; e <= 3; e++) {
    ctx.epoch = e; // a different k-means seed each epoch, so the raw labels come out in another order
    await sampler.onEpochStart(ctx);
    assert.deepEqual([...clustering.assignments!], [...before], `epoch ${e}`);
  }
  assert.deepEqual(records.map((r) => r.moved), [0, 0, 0, 0]);
  // The scenario does exercise the matching: k-means with other seeds names the same groups differently.
  const x = await ctx.embedAll(ctx.data.train, { features: true, normalize: true });
  const namings = new Set<string>();
  for (let seed = 0; seed < 6; seed++) {
    const km = await kmeans(x.data, x.n, x.dim, 3, { seed, iters: 20 });
    assert.deepEqual([...relabelToMatch(before, km.assignments, 3)], [...before]);
    namings.add([0, 1, 2].map((g) => km.assignments[g]).join());
  }
  assert.ok(namings.size > 1, "k-means seeds give different cluster names");
});

/**
 * 12 classes, 8-d inputs: dims 0–3 group class y with y % 3, dims 4–7 group it with ⌊y / 4⌋ (both 3 groups of 4).
 * Each sub-space pair shares 2 classes per group: a matching by overlap is unique.
 */
function twoGroupings(seed = 0, perClass = 10): DatasetSplits {
  const rng = new Rng(seed);
  const centers = () => Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => 5 * rng.normal()));
  const [first, second] = [centers(), centers()];
  const n = 12 * perClass;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 12);
  const x = Float32Array.from(
    Array.from(labels).flatMap((y) =>
      [...first[y % 3], ...second[Math.floor(y / 4)]].map((c) => c + 0.1 * rng.normal())
    ),
  );
  const train: Dataset = {
    size: n,
    labels,
    classes: 12,
    shape: [8],
    batch: (idx) => tf.tidy(() => tf.gather(tf.tensor2d(x, [n, 8]), tf.tensor1d(idx, "int32"))),
  };
  return { train };
}

Deno.test("re-clustering follows the current model: new features give new clusters, named by the Hungarian matching", async () => {
  // features = x A: A reads dims 0–3 at first; "training" then moves it onto dims 4–7.
  const select = (from: number) =>
    tf.tensor2d(Array.from({ length: 32 }, (_, k) => (Math.floor(k / 4) === from + (k % 4) ? 1 : 0)), [8, 4]);
  const A = tf.variable(select(0));
  const W = tf.variable(tf.eye(4, 12));
  const backbone: Backbone = {
    dim: 12,
    trainableWeights: [A, W],
    features: (x: Tensor) => tf.matMul(x as Tensor2D, A),
    embed: (x: Tensor) => tf.tidy(() => tf.matMul(tf.matMul(x as Tensor2D, A), W)),
  };
  const data = twoGroupings();
  const { sampler, ctx, clustering, records } = await setup(
    { clusters: 3, classes: 3, perClass: 2, reclusterEvery: 1, kmeansIters: 30 },
    { data, backbone },
  );
  const labels = data.train.labels;
  const first = (y: number) => labels.indexOf(y);
  await sampler.onEpochStart(ctx);
  const before = clustering.assignments!.slice();
  // Epoch 0 clusters by y % 3: three distinct names, one per group.
  labels.forEach((y, i) => assert.equal(before[i], before[first(y % 3)], `sample ${i}`));
  assert.equal(new Set(before).size, 3);
  A.assign(select(4));
  ctx.epoch = 1;
  await sampler.onEpochStart(ctx);
  const after = clustering.assignments!;
  // Now by ⌊y / 4⌋. Group g holds 2 classes of old group g (class 4g has 4g % 3 = g), so the
  // matching gives it old group g's name.
  labels.forEach((y, i) => assert.equal(after[i], before[first(Math.floor(y / 4))], `sample ${i}`));
  // Half the classes changed cluster (0, 3, 4, 7, 8 and 11, with y % 3 = ⌊y / 4⌋, keep theirs).
  const moved = Array.from(labels).filter((_, i) => after[i] !== before[i]).length;
  assert.equal(moved, 6 * 10);
  assert.equal(records.at(-1)!.moved, moved);
  A.dispose();
  W.dispose();
});

Deno.test("K = 1: no clustering at all, the base loss on the whole (normalised) embedding", async () => {
  const { sampler, ctx, clustering, embedCalls, loss } = await setup({ clusters: 1, classes: 4, perClass: 2 });
  await sampler.onEpochStart(ctx);
  assert.equal(embedCalls(), 0);
  assert.ok(clustering.assignments!.every((c) => c === 0));
  assert.equal(sampler.epochLength(0), 15);
  assert.equal((loss as unknown as { learners: Probe[] }).learners[0].dim, 12);
});

Deno.test("bad input: K above the classes, D not divisible by K, loss without the sampler, small clusters", async () => {
  await assert.rejects(
    () => setup({ clusters: 13 }),
    (e: Error) =>
      e instanceof DmlError && /sampler\.clusters: 13 clusters, but the training split has only 12/.test(e.message),
  );
  await assert.rejects(
    () => setup({ clusters: 5 }, { dim: 12 }),
    (e: Error) => e instanceof DmlError && /embedding dim 12 is not divisible by 5 clusters.*e\.g\. 15/.test(e.message),
  );
  const registry = new Registry();
  registry.register(dncPlugin);
  await assert.rejects(
    () => registry.create("loss", "divide-conquer", {}, { dim: 12, path: "loss" }),
    (e: Error) => e instanceof DmlError && /needs sampler: \{ use: divide-conquer \}/.test(e.message),
  );
  // 4 classes a cluster but 5 a batch: the sampler says which cluster and draws classes with replacement.
  const { sampler, ctx, lines, clustering } = await setup({ clusters: 3, classes: 5, perClass: 2, kmeansIters: 20 });
  await sampler.onEpochStart(ctx);
  for (let k = 0; k < 3; k++) {
    assert.ok(
      lines.some((l) => l.includes(`cluster ${k} has 4 classes, fewer than the 5 a batch needs`)),
      lines.join("\n"),
    );
  }
  for (const [s, b] of [...sampler.batches(0, new Rng(1))].entries()) {
    for (const i of b) assert.equal(clustering.assignments![i], clustering.order[s]);
  }
});

function bruteForceMin(cost: number[][]): number {
  const n = cost.length;
  let best = Infinity;
  const perm = Array.from({ length: n }, (_, i) => i);
  const permute = (i: number) => {
    if (i === n) {
      best = Math.min(best, perm.reduce((s, j, r) => s + cost[r][j], 0));
      return;
    }
    for (let j = i; j < n; j++) {
      [perm[i], perm[j]] = [perm[j], perm[i]];
      permute(i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
  };
  permute(0);
  return best;
}

// ---------------------------------------------------------------- the default base: margin + DWS on slices

/**
 * Float64 reference of the margin loss with distance-weighted negatives (bier_dnc.md §2.5, in the
 * form plugins/losses/margin.ts documents) on rows `x` of width `n`, given the Gumbel noise of
 * its draw: the selection keys are log w + g, each anchor keeps its K largest.
 */
function marginDwsReference(x: number[][], y: number[], n: number, gumbel: Float32Array): number {
  const b = x.length, beta = 1.2, margin = 0.2, cutoff = 0.5, nzc = 1.4;
  const unit = x.map((r) => {
    const norm = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / norm);
  });
  const d = unit.map((a) => unit.map((c) => Math.sqrt(a.reduce((s, v, j) => s + (v - c[j]) ** 2, 0) + 1e-12)));
  const pos = (i: number, j: number) => i !== j && y[i] === y[j];
  const neg = (i: number, j: number) => y[i] !== y[j];
  const nPos = y.map((_, i) => y.filter((_, j) => pos(i, j)).length);
  const nNeg = y.map((_, i) => y.filter((_, j) => neg(i, j)).length);
  const k = Math.min(Math.max(1, Math.floor(nPos.reduce((s, v) => s + v, 0) / b + 0.5)), Math.min(...nNeg));
  let total = 0, count = 0;
  for (let i = 0; i < b; i++) {
    const logW = d[i].map((dij, j) => {
      const D = Math.max(dij, cutoff);
      const lw = (2 - n) * Math.log(D) - ((n - 3) / 2) * Math.log(Math.max(1 - D * D / 4, 1e-30));
      return !neg(i, j) || D >= nzc ? 0 : lw;
    });
    const top = Math.max(...logW);
    const w = d[i].map((dij, j) =>
      !neg(i, j) ? 0 : Math.max(dij, cutoff) > nzc ? 1e-6 : Math.exp(logW[j] - top) + 1e-9
    );
    const keys = w.map((wj, j) => (wj > 0 ? Math.log(wj) + gumbel[i * b + j] : -1e9));
    const kth = [...keys].sort((p, q) => q - p)[k - 1];
    const hasPos = nPos[i] > 0 ? 1 : 0;
    for (let j = 0; j < b; j++) {
      if (pos(i, j)) {
        const t = Math.max(0, d[i][j] - beta + margin), wt = k / Math.max(nPos[i], 1);
        total += t * wt;
        count += t > 0 ? wt : 0;
      }
      if (w[j] > 0 && keys[j] >= kth && hasPos) {
        const t = Math.max(0, beta - d[i][j] + margin);
        total += t;
        count += t > 0 ? 1 : 0;
      }
    }
  }
  return count > 0 ? total / count : 0;
}

Deno.test("default base: each learner's margin loss samples negatives by distance on its D/K-dim slice", async () => {
  const registry = new Registry();
  registry.register(dncPlugin);
  registry.register({ name: "losses", components: [margin] });
  const data = blobData();
  const shared = new Map<string, unknown>();
  const dim = 32, k = 4, width = dim / k;
  const ctx = { rng: new Rng(7), shared, data, dim, classes: 12 };
  await registry.create("sampler", "divide-conquer", { clusters: k, classes: 4, perClass: 3 }, {
    ...ctx,
    rng: new Rng(6),
    path: "sampler",
  });
  const loss = await registry.create<Loss>("loss", "divide-conquer", {}, { ...ctx, path: "loss" });
  const clustering = shared.get(SHARED_KEY) as Clustering;
  // The bases took forks 0..K-1 (learners) and K (full) of the loss's stream, in that order.
  const streams = new Rng(7);
  const forks = Array.from({ length: k + 1 }, () => streams.fork());
  const rng = new Rng(8);
  const b = 12;
  const x = Array.from({ length: b }, () => Array.from({ length: dim }, () => rng.normal()));
  const y = Array.from({ length: b }, (_, i) => i % 4);
  const e = tf.tensor2d(x), yt = tf.tensor1d(y, "int32");
  clustering.stage = "learners";
  clustering.epoch = 0;
  clustering.order = [2, 0];
  for (const learner of clustering.order) {
    const got = await assertNoLeak(() => {
      const l = loss.compute(e, yt);
      const v = l.dataSync()[0];
      l.dispose();
      return v;
    }, "loss");
    const noise = gumbelNoise(forks[learner], b, b);
    const g = noise.dataSync() as Float32Array;
    noise.dispose();
    const slice = x.map((r) => r.slice(learner * width, (learner + 1) * width));
    assertClose(got, marginDwsReference(slice, y, width, g), { atol: 1e-5, msg: `learner ${learner}` });
    // The sphere's dimension matters: the same slice weighted as if it were D-dim selects other negatives.
    assert.notEqual(marginDwsReference(slice, y, dim, g).toFixed(5), got.toFixed(5));
    (clustering as unknown as { advance(): void }).advance();
  }
  e.dispose();
  yt.dispose();
});

// ---------------------------------------------------------------- in the trainer: stages, checkpoints, resume

const TOY = new URL("./fixtures/toy.yaml", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const DNC_SETS = [
  "sampler={use: divide-conquer, clusters: 2, classes: 2, perClass: 4, reclusterEvery: 2, fullEmbeddingFrom: 3, " +
  "finetuneFrom: 4, kmeansIters: 10}",
  "loss={use: divide-conquer}",
  "train.epochs=5",
];

async function toyDncRun(out: string, sets: string[], resumeDir?: string) {
  const registry = createRegistry();
  registry.register(dncPlugin);
  registry.register(lossesPlugin);
  const raw = await loadRecipe(resumeDir ? `${resumeDir}/recipe.yaml` : TOY, [`output=${out}`, ...sets]);
  const recipe = await resolveRecipe(raw, registry, FIXTURES);
  return await train(recipe, registry, { quiet: true, resumeDir });
}

Deno.test("trainer: a run resumed after epoch 1 equals the straight run (clusters and DWS streams restored)", async () => {
  const out = await Deno.makeTempDir();
  try {
    const straight = await toyDncRun(out, DNC_SETS);
    const first = await toyDncRun(out, [...DNC_SETS, "train.epochs=1"]);
    const resumed = await toyDncRun(out, ["train.epochs=5"], first.runDir);
    assert.deepEqual([...first.losses, ...resumed.losses], straight.losses);
    assert.deepEqual(resumed.metrics, straight.metrics);
    const records = (await Deno.readTextFile(`${straight.runDir}/metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    // Clustered at epochs 0 and 2 (T = 2); epoch 4 fine-tunes on all data.
    assert.deepEqual(records.filter((r) => r.type === "clusters").map((r) => r.epoch), [0, 2]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
