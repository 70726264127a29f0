/**
 * Retrieval evaluation: the exact kNN (core/knn.ts), the metrics (core/retrieval.ts,
 * core/clustering_metrics.ts), the `retrieval` evaluator and `deno task eval`.
 *
 * References are float64 and written here from shared/design/metrics.md. Random embeddings are
 * drawn so that float32 arithmetic is exact (±2^s entries for cosine, small integers for
 * Euclidean): then ties are real ties on every engine, and the rankings must match exactly.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { knn, type KnnEngine, normalizeRows } from "../core/knn.ts";
import { kmeans } from "../core/kmeans.ts";
import { evaluateRetrieval, type RetrievalOptions } from "../core/retrieval.ts";
import { ami, nmi, pairwiseF1 } from "../core/clustering_metrics.ts";

const SEED_AMI = Number(Deno.env.get("DML_TEST_SEED") ?? Date.now() % 1_000_000);
import { evalCommand } from "../core/commands/eval.ts";
import { writeNpy } from "../core/npy.ts";
import { blas } from "../core/blas.ts";
import { DmlError } from "../core/errors.ts";
import { Rng } from "../core/rng.ts";
import type { Evaluator, Split } from "../core/types.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { assertClose, assertNoLeak, onBackend, testBackends } from "./util.ts";

// ---------- float64 references ----------

type Metric = "cosine" | "euclidean";

function refDistance(a: Float32Array, i: number, b: Float32Array, j: number, dim: number, metric: Metric): number {
  let dot = 0, aa = 0, bb = 0, d2 = 0;
  for (let t = 0; t < dim; t++) {
    const x = a[i * dim + t], y = b[j * dim + t];
    dot += x * y, aa += x * x, bb += y * y, d2 += (x - y) ** 2;
  }
  if (metric === "euclidean") return Math.sqrt(d2);
  return aa > 0 && bb > 0 ? 1 - dot / Math.sqrt(aa * bb) : 1;
}

/** Every query's full ranking of the gallery: ascending distance, ties by lower index, self removed by index. */
function refRanking(q: Split, g: Split, metric: Metric, oneSet: boolean): number[][] {
  return Array.from({ length: q.n }, (_, i) => {
    const d = Array.from({ length: g.n }, (_, j) => refDistance(q.data, i, g.data, j, q.dim, metric));
    const order = Array.from({ length: g.n }, (_, j) => j).filter((j) => !(oneSet && j === i));
    return order.sort((a, b) => d[a] - d[b] || a - b);
  });
}

/**
 * The PML formulas of metrics.md §5.2, straight from the full ranking; with `byClass`, averaged
 * within each query class and then over the classes (PML's avg_of_avgs).
 */
function refMetrics(
  rank: number[][],
  q: Split,
  g: Split,
  oneSet: boolean,
  recallAt: number[],
  byClass = false,
): { metrics: Record<string, number>; lone: number } {
  if (byClass) {
    const classes = [...new Set(q.labels)];
    const per = classes.map((c) => {
      const rows = Array.from(q.labels.keys()).filter((i) => q.labels[i] === c);
      const sub: Split = { ...q, n: rows.length, labels: Int32Array.from(rows, (i) => q.labels[i]) };
      return refMetrics(rows.map((i) => rank[i]), sub, g, oneSet, recallAt).metrics;
    }).filter((m) => Object.keys(m).length > 0); // classes whose queries are all lone
    const out: Record<string, number> = {};
    for (const key of Object.keys(per[0])) out[key] = per.reduce((s, m) => s + m[key], 0) / per.length;
    return { metrics: out, lone: refMetrics(rank, q, g, oneSet, recallAt).lone };
  }
  const sums: Record<string, number> = {};
  let counted = 0, lone = 0;
  for (let i = 0; i < q.n; i++) {
    const y = q.labels[i];
    const R = g.labels.filter((l) => l === y).length - (oneSet ? 1 : 0);
    if (R <= 0) {
      lone++;
      continue;
    }
    counted++;
    const rel: number[] = rank[i].map((j) => (g.labels[j] === y ? 1 : 0));
    const add = (key: string, v: number) => (sums[key] = (sums[key] ?? 0) + v);
    for (const K of recallAt) add(`recall@${K}`, rel.slice(0, K).some((r) => r === 1) ? 1 : 0);
    add("precision@1", rel[0]);
    add("r_precision", rel.slice(0, R).reduce((s, r) => s + r, 0) / R);
    let map = 0;
    for (let j = 0; j < R; j++) {
      const pAtJ = rel.slice(0, j + 1).reduce((s, r) => s + r, 0) / (j + 1);
      map += pAtJ * rel[j];
    }
    add("map@r", map / R);
  }
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(sums)) out[key] = v / counted;
  return { metrics: out, lone };
}

/** NMI straight from the definition (arithmetic mean of the entropies), O(classes × clusters). */
function refNmi(y: ArrayLike<number>, c: ArrayLike<number>): number {
  const n = y.length, ys = [...new Set(Array.from(y))], cs = [...new Set(Array.from(c))];
  const h = (vals: number[], arr: ArrayLike<number>) =>
    -vals.reduce((s, v) => {
      const p = Array.from(arr).filter((x) => x === v).length / n;
      return s + p * Math.log(p);
    }, 0);
  let mi = 0;
  for (const a of ys) {
    for (const b of cs) {
      let nab = 0, na = 0, nb = 0;
      for (let i = 0; i < n; i++) nab += +(y[i] === a && c[i] === b), na += +(y[i] === a), nb += +(c[i] === b);
      if (nab > 0) mi += (nab / n) * Math.log((n * nab) / (na * nb));
    }
  }
  return mi / ((h(ys, y) + h(cs, c)) / 2);
}

/** Pairwise F1 by enumerating every pair. */
function refF1(y: ArrayLike<number>, c: ArrayLike<number>): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < y.length; i++) {
    for (let j = i + 1; j < y.length; j++) {
      const sameY = y[i] === y[j], sameC = c[i] === c[j];
      if (sameY && sameC) tp++;
      else if (sameC) fp++;
      else if (sameY) fn++;
    }
  }
  const p = tp / (tp + fp), r = tp / (tp + fn);
  return (2 * p * r) / (p + r);
}

// ---------- data ----------

/** Entries ±2^s (s in -2..2): with dim 4 or 16, normalising and dot products are exact in float32. */
function signSplit(rng: Rng, n: number, dim: number, classes: number): Split {
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const scale = 2 ** (rng.int(5) - 2);
    for (let j = 0; j < dim; j++) data[i * dim + j] = (rng.uniform() < 0.5 ? -1 : 1) * scale;
  }
  return { data, n, dim, labels: Int32Array.from({ length: n }, () => rng.int(classes)) };
}

/** Small integer entries: squared distances are exact in float32, with many ties. */
function intSplit(rng: Rng, n: number, dim: number, classes: number): Split {
  const data = Float32Array.from({ length: n * dim }, () => rng.int(5) - 2);
  return { data, n, dim, labels: Int32Array.from({ length: n }, () => rng.int(classes)) };
}

/** Copies row `from` over row `to` (exact duplicates, with their own labels). */
function duplicate(s: Split, from: number, to: number): void {
  s.data.copyWithin(to * s.dim, from * s.dim, (from + 1) * s.dim);
}

type Path = { engine: KnnEngine; deviceTopK?: boolean; symmetric?: boolean };

/**
 * The paths to check: tfjs products with host or device top-k, and BLAS where present — with
 * the one-set symmetric tiles (the default) and with full rows.
 */
function engines(): Path[] {
  const tfjs = [{ engine: "backend" as const, deviceTopK: false }, { engine: "backend" as const, deviceTopK: true }];
  return blas() ? [...tfjs, { engine: "native" }, { engine: "native", symmetric: false }] : tfjs;
}

const nameOf = (e: Path) =>
  e.engine === "native"
    ? `native${e.symmetric === false ? " (full rows)" : ""}`
    : `backend (top-k on ${e.deviceTopK ? "device" : "host"})`;

// ---------- hand-worked cases ----------

Deno.test("metrics: hand-worked one-set case (ties to the lower index, a lone query)", async () => {
  // x = 0, 1, 3, 6, 10, 20 with labels 0, 0, 1, 1, 0, 2 (item 5 is lone).
  // Rankings (self removed): 0: [1,2,3,4]  1: [0,2,3,4]  2: [1,0,3,4] (0 and 3 tie at 3: 0 first)
  // 3: [2,4,1,0]  4: [3,2,1,0].  R = 2, 2, 1, 1, 2.
  // recall@1 = (1+1+0+1+0)/5, recall@2 the same (the tie keeps item 3 at rank 3 for query 2),
  // recall@4 = 1, RP = MAP@R = (1/2 + 1/2 + 0 + 1 + 0)/5.
  const split: Split = {
    data: Float32Array.of(0, 1, 3, 6, 10, 20),
    n: 6,
    dim: 1,
    labels: Int32Array.of(0, 0, 1, 1, 0, 2),
  };
  const m = await evaluateRetrieval(split, undefined, { recallAt: [1, 2, 4], metric: "euclidean", nmi: false });
  assertEquals(Object.keys(m), [
    "recall@1",
    "recall@2",
    "recall@4",
    "precision@1",
    "r_precision",
    "map@r",
    "lone_queries",
  ]);
  assertClose(
    [m["recall@1"], m["recall@2"], m["recall@4"], m["precision@1"], m.r_precision, m["map@r"], m.lone_queries],
    [0.6, 0.6, 1, 0.6, 0.4, 0.4, 1],
    { atol: 1e-12 },
  );
});

Deno.test("metrics: hand-worked query/gallery case (MAP@R rewards early hits)", async () => {
  // Gallery x = 1..5, labels 0,1,0,0,1. Query 0 (label 0): rel 1,0,1,1,0, R = 3:
  // RP = 2/3, MAP@R = (1 + 0 + 2/3)/3 = 5/9. Query 10 (label 1): ranking 4,3,2,1,0, rel 1,0,0,1,0,
  // R = 2: RP = 1/2, MAP@R = 1/2. Query -3 (label 7) is lone.
  const gallery: Split = { data: Float32Array.of(1, 2, 3, 4, 5), n: 5, dim: 1, labels: Int32Array.of(0, 1, 0, 0, 1) };
  const query: Split = { data: Float32Array.of(0, 10, -3), n: 3, dim: 1, labels: Int32Array.of(0, 1, 7) };
  const m = await evaluateRetrieval(query, gallery, { recallAt: [1, 5], metric: "euclidean", nmi: false });
  assertClose(m["precision@1"], 1, { atol: 1e-12 });
  assertClose(m.r_precision, (2 / 3 + 1 / 2) / 2, { atol: 1e-12 });
  assertClose(m["map@r"], (5 / 9 + 1 / 2) / 2, { atol: 1e-12 });
  assertEquals(m.lone_queries, 1);
});

Deno.test("metrics: the pitfalls of metrics.md §5.5 — PML's P@1 and MAP@R, a tie, a lone query", async () => {
  // x = 0, 1, 2, 10, 11, 30 with labels 0, 0, 1, 0, 1, 2; item 5 is lone. Euclidean, one set.
  // q0: [1,2,3,4] rel 1,0,1,0, R 2: P@1 1, RP 1/2, MAP@R (1/2)(1) = 1/2 (Roth's mAP_c would be 5/9).
  // q1: 0 and 2 tie at distance 1: 0 first -> rel 1,0,1,0: P@1 1, RP 1/2, MAP@R 1/2 (2 first would give 0, 1/2, 1/4).
  // q2: [1,0,3,4] rel 0,0,0,1, R 1: 0, 0, 0.   q3: [4,2,1,0] rel 0,0,1,1, R 2: 0, 0, 0.   q4: [3,2,...] rel 0,1, R 1: 0, 0, 0.
  // PML averages over the 5 non-lone queries: P@1 2/5 (OML's cmc@1 over all 6 would be 1/3), RP = MAP@R = 1/5.
  // Recall@2: q0, q1, q4 -> 3/5; Recall@3 adds q3 -> 4/5; Recall@4 = 1.
  const split: Split = {
    data: Float32Array.of(0, 1, 2, 10, 11, 30),
    n: 6,
    dim: 1,
    labels: Int32Array.of(0, 0, 1, 0, 1, 2),
  };
  for (const path of engines()) {
    const m = await evaluateRetrieval(split, undefined, {
      recallAt: [1, 2, 3, 4],
      metric: "euclidean",
      nmi: false,
      ...path,
    });
    assertClose(
      [m["recall@1"], m["recall@2"], m["recall@3"], m["recall@4"], m["precision@1"], m.r_precision, m["map@r"]],
      [2 / 5, 3 / 5, 4 / 5, 1, 2 / 5, 1 / 5, 1 / 5],
      { atol: 1e-12, msg: nameOf(path) },
    );
    assertEquals(m.lone_queries, 1);
  }
});

Deno.test("clustering metrics: hand-worked NMI and pairwise F1", () => {
  // Y = {0,0,1,1}, C = {0,0,1,2}: I = ln 2, H(Y) = ln 2, H(C) = 1.5 ln 2, so NMI = 1 / 1.25.
  assertClose(nmi([0, 0, 1, 1], [0, 0, 1, 2]), 0.8, { atol: 1e-12 });
  assertClose(nmi([0, 0, 1, 1], [5, 5, 9, 9]), 1, { atol: 1e-12 });
  assertEquals(nmi([0, 0, 1, 1], [0, 1, 0, 1]), 0);
  assertEquals(nmi([3, 3, 3], [1, 1, 1]), 1); // sklearn's convention for one group on both sides
  // Same-cluster pairs 3, of which 1 shares a class; same-class pairs 2: P = 1/3, R = 1/2, F1 = 0.4.
  assertClose(pairwiseF1([0, 0, 1, 1], [0, 0, 0, 1]), 0.4, { atol: 1e-12 });
});

Deno.test("clustering metrics: NMI and F1 match pair-counting references on random labelings", () => {
  const rng = new Rng(5);
  for (let t = 0; t < 5; t++) {
    const n = 50 + rng.int(50);
    const y = Array.from({ length: n }, () => rng.int(6) * 7 - 3);
    const c = Array.from({ length: n }, () => rng.int(4 + t));
    assertClose(nmi(y, c), refNmi(y, c), { atol: 1e-12 });
    assertClose(pairwiseF1(y, c), refF1(y, c), { atol: 1e-12 });
  }
});

/** MI straight from the definition (natural logs). */
function refMi(y: ArrayLike<number>, c: ArrayLike<number>): number {
  const n = y.length;
  let mi = 0;
  for (const a of new Set(Array.from(y))) {
    for (const b of new Set(Array.from(c))) {
      let nab = 0, na = 0, nb = 0;
      for (let i = 0; i < n; i++) nab += +(y[i] === a && c[i] === b), na += +(y[i] === a), nb += +(c[i] === b);
      if (nab > 0) mi += (nab / n) * Math.log((n * nab) / (na * nb));
    }
  }
  return mi;
}

/** Every ordering of 0 … n−1. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])
  );
}

Deno.test("clustering metrics: AMI's expected MI is the mean MI over every permutation (n = 7), and sklearn's cases", () => {
  const rng = new Rng(SEED_AMI);
  const perms = permutations(7);
  for (let t = 0; t < 6; t++) {
    const y = Array.from({ length: 7 }, () => rng.int(2 + (t % 3)));
    const c = Array.from({ length: 7 }, () => rng.int(2 + t));
    // The hypergeometric model is the permutation model with both labelings' group sizes fixed.
    const emi = perms.reduce((s, p) => s + refMi(y, p.map((i) => c[i])), 0) / perms.length;
    const h = (v: number[]) => refMi(v, v); // H(V) = I(V; V)
    const want = (refMi(y, c) - emi) / ((h(y) + h(c)) / 2 - emi);
    assertClose(ami(y, c), want, { atol: 1e-12, msg: `seed ${SEED_AMI}, y ${y}, c ${c}` });
  }
  // sklearn's documented values.
  assertClose(ami([0, 0, 1, 1], [0, 0, 1, 1]), 1, { atol: 1e-12 });
  assertClose(ami([0, 0, 1, 1], [1, 1, 0, 0]), 1, { atol: 1e-12 });
  assertClose(ami([0, 0, 0, 0], [0, 1, 2, 3]), 0, { atol: 1e-15 });
  assertEquals(ami([3, 3, 3], [7, 7, 7]), 1);
});

// ---------- random cases against the float64 reference ----------

async function checkAgainstReference(
  q: Split,
  g: Split | undefined,
  metric: Metric,
  extra: RetrievalOptions = {},
): Promise<void> {
  const oneSet = g === undefined;
  const ref = g ?? q;
  const rank = refRanking(q, ref, metric, oneSet);
  const recallAt = [1, 2, 4, 8, 40]; // 40 goes past the neighbour list: read from the first-hit rank
  const expected = refMetrics(rank, q, ref, oneSet, recallAt);
  for (const path of engines()) {
    // One query per chunk, a ragged last chunk, and one chunk (fewer dispatches on software WebGPU).
    for (const chunk of tf.getBackend() === "webgpu" ? [0, 13] : [0, 1, 7]) {
      const what = `${metric}, ${tf.getBackend()}, engine ${nameOf(path)}, chunk ${chunk}`;
      const m = await evaluateRetrieval(q, g, { recallAt, metric, nmi: false, ...path, chunk, ...extra });
      for (const [key, v] of Object.entries(expected.metrics)) {
        assertClose(m[key], v, { atol: 1e-12, msg: `${what} ${key}` });
      }
      assertEquals(m.lone_queries, expected.lone, what);
      // The neighbour lists themselves, with their distances.
      const k = 8;
      const labels = { query: q.labels, gallery: ref.labels };
      const r = await knn(q.data, q.n, ref.data, ref.n, q.dim, k, {
        metric,
        excludeSelf: oneSet,
        ...path,
        chunk,
        labels,
      });
      for (let i = 0; i < q.n; i++) {
        assertEquals(Array.from(r.indices.subarray(i * k, (i + 1) * k)), rank[i].slice(0, k), `${what} query ${i}`);
        const first = rank[i].findIndex((j) => ref.labels[j] === q.labels[i]) + 1;
        assertEquals(r.firstRelevantRank![i], first, `${what} query ${i}: rank of the first relevant item`);
        const d = rank[i].slice(0, k).map((j) => refDistance(q.data, i, ref.data, j, q.dim, metric));
        assertClose(r.distances.subarray(i * k, (i + 1) * k), d, { atol: 1e-5, msg: `${what} query ${i}` });
      }
    }
  }
}

Deno.test("one set, cosine: random embeddings with duplicates, ties and lone queries match the reference", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const rng = new Rng(21);
      const s = signSplit(rng, backend === "webgpu" ? 48 : 110, 16, 10);
      duplicate(s, 0, 1); // same vector, possibly another label
      duplicate(s, 2, 3);
      duplicate(s, 2, 4);
      s.labels[5] = 99; // a lone query
      await checkAgainstReference(s, undefined, "cosine");
    });
  }
});

Deno.test("one set, euclidean: integer embeddings (many exact ties) match the reference", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const s = intSplit(new Rng(22), backend === "webgpu" ? 48 : 100, 3, 7);
      duplicate(s, 10, 11);
      s.labels[0] = -5; // a lone query
      await checkAgainstReference(s, undefined, "euclidean");
    });
  }
});

Deno.test("mrr: 1 / rank of the first relevant item over the whole ranking, every engine and backend, both averages", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const s = intSplit(new Rng(23), backend === "webgpu" ? 48 : 100, 3, 9);
      duplicate(s, 10, 11);
      s.labels[0] = -5; // a lone query: left out
      const g = intSplit(new Rng(24), 30, 3, 12); // some query classes absent: lone
      for (const [q, ref] of [[s, undefined], [g, s]] as const) {
        const gallery = ref ?? q, oneSet = ref === undefined;
        const rank = refRanking(q, gallery, "euclidean", oneSet);
        const perQuery = rank.map((r, i) => {
          const first = r.findIndex((j) => gallery.labels[j] === q.labels[i]);
          return first < 0 ? null : { y: q.labels[i], rr: 1 / (first + 1) };
        }).filter((v) => v !== null);
        const byQueries = perQuery.reduce((t, v) => t + v.rr, 0) / perQuery.length;
        const classes = [...new Set(perQuery.map((v) => v.y))];
        const byClasses = classes.reduce((t, c) => {
          const rows = perQuery.filter((v) => v.y === c);
          return t + rows.reduce((u, v) => u + v.rr, 0) / rows.length;
        }, 0) / classes.length;
        for (const path of engines()) {
          for (const [average, want] of [["queries", byQueries], ["classes", byClasses]] as const) {
            const m = await evaluateRetrieval(q, ref, { metric: "euclidean", nmi: false, mrr: true, average, ...path });
            assertClose(m.mrr, want, { atol: 1e-12, msg: `${backend} ${nameOf(path)} ${average} ${oneSet}` });
          }
        }
      }
    });
  }
});

Deno.test("query/gallery: both metrics match the reference, queries of absent classes are lone", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const rng = new Rng(23);
      const small = backend === "webgpu";
      for (const metric of ["cosine", "euclidean"] as const) {
        const make = metric === "cosine" ? signSplit : intSplit;
        const g = make(rng, small ? 50 : 120, 4, 8);
        const q = make(rng, small ? 30 : 70, 4, 10); // labels 8 and 9 are not in the gallery
        duplicate(g, 3, 4);
        await checkAgainstReference(q, g, metric);
      }
    });
  }
});

/** `s` with its second half replaced by the negated first: every column sums to exactly zero. */
function zeroMean(s: Split): Split {
  const half = Math.floor(s.n / 2) * s.dim;
  for (let i = 0; i < half; i++) s.data[half + i] = -s.data[i];
  return s;
}

/** `s` plus `offset` in every entry (a power of two, so the sums stay exact). */
function shifted(s: Split, offset: number): Split {
  return { ...s, data: s.data.map((v) => v + offset) };
}

Deno.test("center: the reference set's mean is removed before the metric (one set and query/gallery)", async () => {
  const rng = new Rng(24);
  const recallAt = [1, 2, 4, 8];
  const metricsOf = (q: Split, g: Split, oneSet: boolean) =>
    refMetrics(refRanking(q, g, "cosine", oneSet), q, g, oneSet, recallAt).metrics;
  const check = async (q: Split, g: Split | undefined, expected: Record<string, number>, what: string) => {
    const before = [q.data.slice(), g?.data.slice()];
    const m = await evaluateRetrieval(q, g, { recallAt, nmi: false, center: true });
    for (const [key, v] of Object.entries(expected)) assertClose(m[key], v, { atol: 1e-12, msg: `${what} ${key}` });
    assertEquals([q.data, g?.data], before, `${what}: the caller's embeddings are left as they were`);
    // The offset is what centring removes: without it the ranking is another one.
    const plain = await evaluateRetrieval(q, g, { recallAt, nmi: false });
    assert(Object.keys(expected).some((k) => plain[k] !== expected[k]), `${what}: the offset changes nothing`);
  };
  // One set: rows of mean zero, all moved by +8, as ReLU features share a positive offset.
  const base = zeroMean(signSplit(rng, 120, 16, 6));
  await check(shifted(base, 8), undefined, metricsOf(base, base, true), "one set");
  // Query/gallery: the gallery's mean (8) is removed from the queries too, not the queries' own.
  const gallery = zeroMean(signSplit(rng, 90, 16, 6));
  const query = signSplit(rng, 40, 16, 6);
  await check(shifted(query, 8), shifted(gallery, 8), metricsOf(query, gallery, false), "query/gallery");
});

Deno.test("average: classes weighs each query class the same (PML avg_of_avgs), one set and query/gallery", async () => {
  const rng = new Rng(25);
  const recallAt = [1, 2, 4, 8];
  // Imbalanced classes (class 0 has most of the items), a lone query, ties from ±2^s entries.
  const skew = (s: Split) => {
    s.labels = s.labels.map((l) => (rng.uniform() < 0.5 ? 0 : l));
    return s;
  };
  const one = skew(signSplit(rng, 90, 16, 6));
  one.labels[7] = 77;
  const gallery = skew(signSplit(rng, 80, 16, 6)), query = skew(signSplit(rng, 30, 16, 7));
  for (const [q, g] of [[one, undefined], [query, gallery]] as const) {
    const ref = g ?? q, oneSet = g === undefined;
    const rank = refRanking(q, ref, "cosine", oneSet);
    const expected = refMetrics(rank, q, ref, oneSet, recallAt, true);
    for (const path of engines()) {
      const m = await evaluateRetrieval(q, g, { recallAt, nmi: false, average: "classes", ...path });
      for (const [key, v] of Object.entries(expected.metrics)) {
        assertClose(m[key], v, { atol: 1e-12, msg: `${oneSet ? "one set" : "query/gallery"} ${nameOf(path)} ${key}` });
      }
      assertEquals(m.lone_queries, expected.lone);
    }
    // The two averages differ on these skewed classes: the option is not ignored.
    const plain = refMetrics(rank, q, ref, oneSet, recallAt).metrics;
    assert(Object.keys(plain).some((k) => Math.abs(plain[k] - expected.metrics[k]) > 1e-6), "same averages");
  }
});

Deno.test("one set: an exact duplicate is a neighbour, the item itself never is (removal by index)", async () => {
  for (const path of engines()) {
    const split: Split = {
      data: Float32Array.of(1, 0, 1, 0, 0, 1, 1, 1),
      n: 4,
      dim: 2,
      labels: Int32Array.of(0, 0, 1, 1),
    };
    const r = await knn(split.data, 4, split.data, 4, 2, 3, { metric: "cosine", excludeSelf: true, ...path });
    assertEquals(Array.from(r.indices), [1, 3, 2, 0, 3, 2, 3, 0, 1, 0, 1, 2], nameOf(path));
  }
});

Deno.test("knn: large k (selection path) matches the reference ranking, with ties", async () => {
  for (const path of engines()) {
    const s = intSplit(new Rng(24), 120, 2, 5);
    const rank = refRanking(s, s, "euclidean", true);
    const k = 90;
    for (const chunk of [0, 13]) {
      const r = await knn(s.data, s.n, s.data, s.n, s.dim, k, {
        metric: "euclidean",
        excludeSelf: true,
        ...path,
        chunk,
      });
      for (let i = 0; i < s.n; i++) {
        assertEquals(
          Array.from(r.indices.subarray(i * k, (i + 1) * k)),
          rank[i].slice(0, k),
          `${nameOf(path)} query ${i}`,
        );
      }
    }
  }
});

Deno.test("knn: continuous random embeddings give a true top-k with float64-accurate distances", async () => {
  const rng = new Rng(25);
  const n = 200, dim = 24, k = 10;
  const data = Float32Array.from({ length: n * dim }, () => rng.normal());
  for (const metric of ["cosine", "euclidean"] as const) {
    for (const path of engines()) {
      const r = await knn(data, n, data, n, dim, k, { metric, excludeSelf: true, ...path, chunk: 33 });
      for (let i = 0; i < n; i++) {
        const d = Array.from({ length: n }, (_, j) => refDistance(data, i, data, j, dim, metric));
        const got = Array.from(r.indices.subarray(i * k, (i + 1) * k));
        assert(!got.includes(i), "self is never a neighbour");
        assertClose(r.distances.subarray(i * k, (i + 1) * k), got.map((j) => d[j]), { atol: 1e-5 });
        const kth = d[got[k - 1]];
        for (let j = 0; j < n; j++) {
          if (j !== i && !got.includes(j)) {
            assert(d[j] >= kth - 1e-5, `${metric} ${nameOf(path)}: ${j} beats the k-th of ${i}`);
          }
        }
      }
    }
  }
});

Deno.test("chunked and unchunked paths give identical neighbours, ranks and metrics on every engine", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const n = backend === "webgpu" ? 40 : 90;
      for (const metric of ["cosine", "euclidean"] as const) {
        const s = (metric === "cosine" ? signSplit : intSplit)(new Rng(32), n, metric === "cosine" ? 16 : 3, 9);
        duplicate(s, 4, 5);
        const labels = { query: s.labels, gallery: s.labels };
        for (const path of engines()) {
          // chunk = n: one chunk (or one tile), the unchunked computation.
          const run = (chunk: number) =>
            knn(s.data, n, s.data, n, s.dim, 6, { metric, excludeSelf: true, ...path, chunk, labels });
          const whole = await run(n);
          for (const chunk of backend === "webgpu" ? [7] : [1, 7, 32]) {
            const what = `${backend} ${metric} ${nameOf(path)} chunk ${chunk}`;
            const part = await run(chunk);
            assertEquals(part.indices, whole.indices, what);
            assertEquals(part.distances, whole.distances, what);
            assertEquals(part.firstRelevantRank, whole.firstRelevantRank, what);
            const o = { recallAt: [1, 5, 30], metric, nmi: false, ...path };
            assertEquals(
              await evaluateRetrieval(s, undefined, { ...o, chunk }),
              await evaluateRetrieval(s, undefined, { ...o, chunk: n }),
              what,
            );
          }
        }
      }
    });
  }
});

Deno.test("query blocks: knn of rows a..b (firstQueryRow) equals those rows of the whole; blocked metrics equal whole", async () => {
  for (const backend of await testBackends()) {
    await onBackend(backend, async () => {
      const n = backend === "webgpu" ? 40 : 90;
      for (const metric of ["cosine", "euclidean"] as const) {
        const s = (metric === "cosine" ? signSplit : intSplit)(new Rng(33), n, metric === "cosine" ? 16 : 3, 4);
        duplicate(s, 10, 11);
        const labels = { query: s.labels, gallery: s.labels };
        for (const path of engines()) {
          // k 6: the insertion lists; k 30: the radix selection (lists longer than any class).
          for (const k of [6, 30]) {
            const what = `${backend} ${metric} ${nameOf(path)} k ${k}`;
            const whole = await knn(s.data, n, s.data, n, s.dim, k, { metric, excludeSelf: true, ...path, labels });
            const [a, b] = [11, 37];
            const part = await knn(s.data.subarray(a * s.dim, b * s.dim), b - a, s.data, n, s.dim, k, {
              metric,
              excludeSelf: true,
              firstQueryRow: a,
              ...path,
              labels: { query: s.labels.subarray(a, b), gallery: s.labels },
            });
            assertEquals(part.indices, whole.indices.subarray(a * k, b * k), what);
            assertEquals(part.distances, whole.distances.subarray(a * k, b * k), what);
            assertEquals(part.firstRelevantRank, whole.firstRelevantRank!.subarray(a, b), what);
          }
          const q = (metric === "cosine" ? signSplit : intSplit)(new Rng(34), 23, s.dim, 5);
          for (const average of ["queries", "classes"] as const) {
            // Chunks of 4 query rows; blocks are whole chunks, so the products and results are the same.
            const o = { recallAt: [1, 4, 30], metric, nmi: false, average, chunk: 4, ...path };
            for (const [query, gallery] of [[s, undefined], [q, s]] as const) {
              const what = `${backend} ${metric} ${nameOf(path)} ${average} ${gallery ? "query/gallery" : "one set"}`;
              const once = await evaluateRetrieval(query, gallery, o);
              // 200 list entries: blocks of 8 queries (one set, lists of R ≈ 25) or more, the last one short.
              const blocked = await evaluateRetrieval(query, gallery, { ...o, listEntries: 200 });
              assertEquals(blocked, once, what);
            }
          }
        }
      }
    });
  }
});

Deno.test("query blocks: a firstQueryRow that puts queries past the gallery is refused", async () => {
  const s = signSplit(new Rng(35), 20, 4, 3);
  await rejects(
    () => knn(s.data.subarray(0, 8 * 4), 8, s.data, 20, 4, 3, { excludeSelf: true, firstQueryRow: 13 }),
    (e: unknown) => e instanceof DmlError && /gallery rows 13\.\.20/.test(e.message),
  );
});

Deno.test("one set on BLAS: the symmetric tiles do half the flops and match full rows", async () => {
  if (!blas()) return;
  const rng = new Rng(33);
  const n = 300, dim = 20, k = 5;
  const data = Float32Array.from({ length: n * dim }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, () => rng.int(60));
  const o = { excludeSelf: true, engine: "native" as const, labels: { query: labels, gallery: labels } };
  for (const metric of ["cosine", "euclidean"] as const) {
    const tiles = await knn(data, n, data, n, dim, k, { ...o, metric, chunk: 64 });
    const rows = await knn(data, n, data, n, dim, k, { ...o, metric, symmetric: false });
    assertEquals(tiles.indices, rows.indices, metric);
    assertClose(tiles.distances, rows.distances, { atol: 1e-5, msg: metric });
    assertEquals(tiles.firstRelevantRank, rows.firstRelevantRank, metric);
    assert(tiles.firstRelevantRank!.some((r) => r > k), "some first hits lie past the list (recomputed rows)");
    // Tiles of 64 on and above the diagonal: 5 blocks, 15 tiles, plus the recomputed rows.
    const missed = tiles.firstRelevantRank!.filter((r) => r > k).length;
    const blocks = [64, 64, 64, 64, 44];
    let tileFlops = 0;
    blocks.forEach((a, i) => blocks.slice(i).forEach((b) => (tileFlops += 2 * a * b * dim)));
    assertEquals(tiles.similarityFlops, tileFlops + 2 * missed * n * dim);
    assertEquals(rows.similarityFlops, 2 * n * n * dim);
  }
});

Deno.test("backends agree: cpu, webgpu, wasm and BLAS give identical neighbours and metrics (with NMI)", async () => {
  const s = signSplit(new Rng(26), 64, 16, 6);
  duplicate(s, 1, 2);
  const results: Array<[string, Record<string, number>, Int32Array]> = [];
  for (const backend of [...await testBackends(), "wasm"]) {
    await onBackend(backend, async () => {
      const m = await assertNoLeak(() => evaluateRetrieval(s, undefined, { engine: "backend", f1: true }), backend);
      const r = await knn(s.data, s.n, s.data, s.n, s.dim, 5, { excludeSelf: true, engine: "backend" });
      results.push([backend, m, r.indices]);
    });
  }
  if (blas()) {
    const m = await evaluateRetrieval(s, undefined, { engine: "native", f1: true });
    results.push([
      "blas",
      m,
      (await knn(s.data, s.n, s.data, s.n, s.dim, 5, { excludeSelf: true, engine: "native" })).indices,
    ]);
  }
  for (const [name, m, idx] of results.slice(1)) {
    assertEquals(idx, results[0][2], name);
    assertEquals(Object.keys(m), Object.keys(results[0][1]));
    for (const key of Object.keys(m)) assertClose(m[key], results[0][1][key], { atol: 1e-9, msg: `${name} ${key}` });
  }
});

Deno.test("NMI: k-means with as many clusters as classes finds separable classes (NMI 1, F1 1)", async () => {
  const rng = new Rng(27);
  const classes = 5, per = 12, dim = 8;
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => rng.normal() * 10));
  const n = classes * per;
  const data = new Float32Array(n * dim), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = (i * 7) % classes;
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[labels[i]][j] + rng.normal() * 0.05;
  }
  const m = await evaluateRetrieval({ data, n, dim, labels }, undefined, { metric: "euclidean", f1: true });
  assertClose([m.nmi, m.f1, m["recall@1"], m["map@r"]], [1, 1, 1, 1], { atol: 1e-9 });
});

Deno.test("NMI: k-means++ with the fixed seed on the (normalised) query embeddings, one cluster per class", async () => {
  const rng = new Rng(34);
  const n = 120, dim = 6, classes = 7;
  const data = Float32Array.from({ length: n * dim }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => (i < classes ? i : rng.int(classes)));
  const s: Split = { data, n, dim, labels };
  for (const metric of ["cosine", "euclidean"] as const) {
    const x = metric === "cosine" ? normalizeRows(data, n, dim) : data;
    for (const seed of [0, 5]) {
      const m = await evaluateRetrieval(s, undefined, { metric, seed, f1: true, ami: true });
      const { assignments } = await kmeans(x, n, dim, classes, { seed, iters: 20 });
      assertEquals(new Set(assignments).size, classes);
      assertClose([m.nmi, m.f1], [refNmi(labels, assignments), refF1(labels, assignments)], { atol: 1e-12 });
      assertEquals(m.ami, ami(labels, assignments)); // ami itself: the permutation test above
      assertEquals((await evaluateRetrieval(s, undefined, { metric, seed, f1: true })).nmi, m.nmi, "deterministic");
    }
  }
  // Lone queries take part in NMI: here 8 of the 10 items are lone, and all 10 are clustered.
  const lone: Split = {
    data: data.slice(0, 10 * dim),
    n: 10,
    dim,
    labels: Int32Array.of(0, 0, 1, 2, 3, 4, 5, 6, 7, 8),
  };
  const m = await evaluateRetrieval(lone, undefined, { metric: "euclidean" });
  assertEquals(m.lone_queries, 8);
  const { assignments } = await kmeans(lone.data, 10, dim, 9, { seed: 0, iters: 20 });
  assertClose(m.nmi, refNmi(lone.labels, assignments), { atol: 1e-12 });
});

// ---------- the evaluator plugin and bad input ----------

Deno.test("registry: the retrieval evaluator uses the same code and validates its options", async () => {
  const registry = createRegistry();
  const ev = await registry.create<Evaluator>("evaluator", "retrieval", { recallAt: [1, 2], nmi: false });
  const s = signSplit(new Rng(28), 40, 4, 4);
  assertEquals(await ev.evaluate(s), await evaluateRetrieval(s, undefined, { recallAt: [1, 2], nmi: false }));
  await rejects(() => registry.create("evaluator", "retrieval", { metric: "manhattan" }), DmlError);
  await rejects(() => registry.create("evaluator", "retrieval", { recallAt: [0] }), DmlError);
  await rejects(
    () => registry.create("evaluator", "retrieval", { fnmrAtFmr: [0.01, 1.5] }, { path: "eval" }),
    (e: Error) => e instanceof DmlError && /eval\.fnmrAtFmr: expected a list of numbers >= 0 and <= 1/.test(e.message),
  );
  const verify = await registry.create<Evaluator>("evaluator", "retrieval", { nmi: false, fnmrAtFmr: [0.2] });
  const m = await verify.evaluate(s);
  assert("fnmr@fmr=0.2" in m && "threshold@fmr=0.2" in m);
});

Deno.test("bad input: one clear DmlError each", async () => {
  const s = signSplit(new Rng(29), 20, 3, 3);
  const bad = async (q: Split, g: Split | undefined, pattern: RegExp, o: RetrievalOptions = {}) => {
    await rejects(() => evaluateRetrieval(q, g, o), (e: Error) => e instanceof DmlError && pattern.test(e.message));
  };
  await bad({ ...s, labels: s.labels.slice(1) }, undefined, /19 labels/);
  const nan = s.data.slice();
  nan[7] = NaN;
  await bad({ ...s, data: nan }, undefined, /embedding 2 has a non-finite value/);
  const inf = s.data.slice();
  inf[0] = Infinity;
  await bad(s, { ...s, data: inf }, /gallery: embedding 0/);
  await bad({ ...s, labels: new Int32Array(20) }, undefined, /single class/);
  await bad({ data: new Float32Array(0), n: 0, dim: 3, labels: new Int32Array(0) }, undefined, /empty/);
  await bad(s, undefined, /recall@20: K is larger than the gallery/, { recallAt: [1, 20] });
  await bad(s, { ...s, n: 4, data: s.data.slice(0, 12), labels: Int32Array.of(0, 1, 2, 0) }, /recall@8/);
  await bad(s, { data: new Float32Array(8), n: 2, dim: 4, labels: Int32Array.of(0, 1) }, /dimension 4/);
  const wide = { data: new Float32Array(8), n: 2, dim: 4, labels: Int32Array.of(0, 1) };
  await bad(s, wide, /gallery: dimension 4 differs from the queries' 3/, { center: true });
  await bad({ ...s, data: nan }, undefined, /embedding 2 has a non-finite value/, { center: true });
  await bad({ ...s, labels: Int32Array.from({ length: 20 }, (_, i) => i) }, undefined, /every query is lone/);
});

// ---------- deno task eval ----------

/** Runs evalCommand, returning what it printed on stdout. */
async function runEval(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = () => {};
  try {
    await evalCommand(args, createRegistry());
  } finally {
    console.log = log, console.error = err;
  }
  return lines;
}

Deno.test("eval command: .npy in, one JSON line out; one set and query/gallery; int32 and int64 labels", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = signSplit(new Rng(30), 50, 4, 5);
    await writeNpy(`${dir}/e.npy`, s.data, [s.n, s.dim]);
    await writeNpy(`${dir}/l.npy`, BigInt64Array.from(s.labels, (v) => BigInt(v)), [s.n]);
    await writeNpy(`${dir}/l32.npy`, s.labels, [s.n]);
    const out = await runEval(["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--recall-at", "1,3"]);
    const m = JSON.parse(out.at(-1)!);
    assertEquals(Object.keys(m), [
      "recall@1",
      "recall@3",
      "precision@1",
      "r_precision",
      "map@r",
      "nmi",
      "lone_queries",
    ]);
    const expected = await evaluateRetrieval(s, undefined, { recallAt: [1, 3] });
    assertEquals(m, expected);

    const qg = await runEval([
      ...["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l32.npy`, "--gallery-embeddings", `${dir}/e.npy`],
      ...["--gallery-labels", `${dir}/l.npy`, "--metric", "euclidean", "--no-nmi", "--backend", "cpu"],
    ]);
    const mq = JSON.parse(qg.at(-1)!);
    assertEquals(mq, await evaluateRetrieval(s, s, { recallAt: [1, 2, 4, 8], metric: "euclidean", nmi: false }));
    assert(!("nmi" in mq));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval command: every flag reaches the evaluation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = signSplit(new Rng(35), 60, 4, 6);
    const g = signSplit(new Rng(36), 40, 4, 6);
    await writeNpy(`${dir}/e.npy`, s.data, [s.n, s.dim]);
    await writeNpy(`${dir}/l.npy`, s.labels, [s.n]);
    await writeNpy(`${dir}/g.npy`, g.data, [g.n, g.dim]);
    await writeNpy(`${dir}/gl.npy`, g.labels, [g.n]);
    const one = ["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`];
    const last = async (args: string[]) => JSON.parse((await runEval(args)).at(-1)!);
    const expected = await evaluateRetrieval(s, undefined, { recallAt: [2, 5], f1: true });
    assertEquals(await last([...one, "--recall-at", "2,5", "--f1"]), expected);
    // The engine, backend and chunk size change how, not what (the data is exact in float32).
    for (
      const flags of [
        ["--chunk", "7"],
        ["--engine", "backend"],
        ["--engine", "backend", "--backend", "wasm", "--chunk", "9"],
        ["--backend", "cpu"],
        ...(blas() ? [["--engine", "native", "--chunk", "13"]] : []),
      ]
    ) {
      assertEquals(await last([...one, "--recall-at", "2,5", "--f1", ...flags]), expected, flags.join(" "));
    }
    const qg = await last([
      ...one,
      ...["--gallery-embeddings", `${dir}/g.npy`, "--gallery-labels", `${dir}/gl.npy`, "--metric", "euclidean"],
      ...["--recall-at", "1,40", "--no-nmi"],
    ]);
    assertEquals(qg, await evaluateRetrieval(s, g, { recallAt: [1, 40], metric: "euclidean", nmi: false }));
    assertEquals(Object.keys(qg), ["recall@1", "recall@40", "precision@1", "r_precision", "map@r", "lone_queries"]);
    const byClass = await last([...one, "--recall-at", "2,5", "--average", "classes"]);
    assertEquals(byClass, await evaluateRetrieval(s, undefined, { recallAt: [2, 5], average: "classes" }));
    assert(
      JSON.stringify(byClass) !== JSON.stringify(await last([...one, "--recall-at", "2,5"])),
      "--average changes nothing",
    );
    const centred = await last([...one, "--recall-at", "2,5", "--center"]);
    assertEquals(centred, await evaluateRetrieval(s, undefined, { recallAt: [2, 5], center: true }));
    assert(
      JSON.stringify(centred) !== JSON.stringify(await last([...one, "--recall-at", "2,5"])),
      "--center changes nothing",
    );
    const adjusted = await last([...one, "--recall-at", "2", "--ami", "--mrr"]);
    assertEquals(adjusted, await evaluateRetrieval(s, undefined, { recallAt: [2], ami: true, mrr: true }));
    assert("ami" in adjusted && "nmi" in adjusted && "mrr" in adjusted);
    const verified = await last([...one, "--recall-at", "2", "--no-nmi", "--fnmr-at-fmr", "0.01, 0.5"]);
    assertEquals(
      verified,
      await evaluateRetrieval(s, undefined, { recallAt: [2], nmi: false, fnmrAtFmr: [0.01, 0.5] }),
    );
    assert("fnmr@fmr=0.5" in verified && "threshold@fmr=0.01" in verified);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval command: bad files and flags are one-line DmlErrors with nothing on stdout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = signSplit(new Rng(31), 20, 3, 3);
    await writeNpy(`${dir}/e.npy`, s.data, [s.n, s.dim]);
    await writeNpy(`${dir}/e64.npy`, Float64Array.from(s.data), [s.n, s.dim]);
    await writeNpy(`${dir}/e1d.npy`, s.data, [s.n * s.dim]);
    await writeNpy(`${dir}/l.npy`, s.labels, [s.n]);
    await writeNpy(`${dir}/lf.npy`, Float32Array.from(s.labels), [s.n]);
    await writeNpy(`${dir}/l19.npy`, s.labels.slice(1), [s.n - 1]);
    const nan = s.data.slice();
    nan[4] = NaN;
    await writeNpy(`${dir}/nan.npy`, nan, [s.n, s.dim]);
    await writeNpy(`${dir}/one.npy`, new Int32Array(s.n), [s.n]);
    await Deno.writeTextFile(`${dir}/junk.npy`, "not numpy");
    const inf = s.data.slice();
    inf[59] = -Infinity;
    await writeNpy(`${dir}/inf.npy`, inf, [s.n, s.dim]);
    await writeNpy(`${dir}/e0.npy`, new Float32Array(0), [0, s.dim]);
    await writeNpy(`${dir}/l0.npy`, new Int32Array(0), [0]);
    await writeNpy(`${dir}/l2d.npy`, s.labels, [s.n / 2, 2]);
    const big = BigInt64Array.from(s.labels, (v) => BigInt(v));
    big[3] = 1n << 40n;
    await writeNpy(`${dir}/lbig.npy`, big, [s.n]);
    await writeNpy(`${dir}/g4.npy`, new Float32Array(4 * 4), [4, 4]);
    await writeNpy(`${dir}/g3.npy`, s.data.slice(0, 4 * s.dim), [4, s.dim]);
    await writeNpy(`${dir}/gl.npy`, Int32Array.of(0, 1, 2, 0), [4]);
    await writeNpy(`${dir}/gl1.npy`, new Int32Array(4), [4]);
    const one = ["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`];
    const qg = (
      e: string,
      l = "gl.npy",
    ) => [...one, "--gallery-embeddings", `${dir}/${e}`, "--gallery-labels", `${dir}/${l}`];
    const cases: Array<[string[], RegExp]> = [
      [["--embeddings", `${dir}/e64.npy`, "--labels", `${dir}/l.npy`], /must be float32, got float64/],
      [["--embeddings", `${dir}/e1d.npy`, "--labels", `${dir}/l.npy`], /must be 2-D/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/lf.npy`], /labels must be int32 or int64/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l19.npy`], /19 labels for 20 embeddings/],
      [["--embeddings", `${dir}/nan.npy`, "--labels", `${dir}/l.npy`], /embedding 1 has a non-finite value/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/one.npy`], /single class/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--recall-at", "1,64"], /recall@64: K is larger/],
      [["--embeddings", `${dir}/junk.npy`, "--labels", `${dir}/l.npy`], /not a readable \.npy file/],
      [["--embeddings", `${dir}/missing.npy`, "--labels", `${dir}/l.npy`], /no such file/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--metric", "l1"], /--metric/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--average", "labels"], /--average must be/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--fnmr-at-fmr", "0.1,2"], /--fnmr-at-fmr must be/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--fnmr-at-fmr", "0.1,"], /--fnmr-at-fmr must be/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--recall-at", "0"], /--recall-at/],
      [
        ["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--gallery-embeddings", `${dir}/e.npy`],
        /go together/,
      ],
      [["--labels", `${dir}/l.npy`], /required/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l.npy`, "--bogus"], /bogus/],
      [[...one, "extra.npy"], /extra\.npy/],
      [
        ["--embeddings", `${dir}/inf.npy`, "--labels", `${dir}/l.npy`],
        /embedding 19 has a non-finite value \(-Infinity\)/,
      ],
      [["--embeddings", `${dir}/e0.npy`, "--labels", `${dir}/l0.npy`], /the set is empty/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/l2d.npy`], /labels must be 1-D/],
      [["--embeddings", `${dir}/e.npy`, "--labels", `${dir}/lbig.npy`], /label 3 \(1099511627776\) does not fit/],
      [[...one, "--gallery-labels", `${dir}/l.npy`], /go together/],
      [qg("nan.npy", "l.npy"), /nan\.npy: embedding 1 has a non-finite value/],
      [qg("g4.npy"), /gallery: dimension 4 differs from the queries' 3/],
      [qg("g3.npy", "l19.npy"), /19 labels for 4 embeddings/],
      [qg("g3.npy", "gl1.npy"), /gallery labels: a single class/],
      [[...qg("g3.npy"), "--recall-at", "1,5"], /recall@5: K is larger than the gallery \(4 items\)/],
      [[...one, "--recall-at", "1,,2"], /--recall-at/],
      // `k` means a neighbour count (eval.k, search --k); Recall@K's list is --recall-at, as eval.recallAt.
      [[...one, "--k", "1,2"], /Unknown option '--k'.*--recall-at/],
      [[...one, "--chunk", "-3"], /--chunk/],
      [[...one, "--chunk", "ten"], /--chunk must be an integer/],
      [[...one, "--engine", "gpu"], /--engine must be auto, backend or native/],
      [[...one, "--backend", "tpu"], /--backend must be one of/],
    ];
    for (const [args, pattern] of cases) {
      let printed: string[] = [];
      await rejects(async () => {
        printed = await runEval(args);
      }, (e: Error) => e instanceof DmlError && pattern.test(e.message) && !e.message.includes("\n"));
      assertEquals(printed, [], args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval command: the CLI exits 2 with one line on stderr for bad input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeNpy(`${dir}/e.npy`, new Float32Array(6), [2, 3]);
    await writeNpy(`${dir}/l.npy`, Int32Array.of(0, 0, 0), [3]);
    await writeNpy(`${dir}/l2.npy`, Int32Array.of(4, 4), [2]);
    // Found while reading the files, and found by the evaluation itself (a single class).
    for (const [labels, pattern] of [["l.npy", /3 labels for 2 embeddings/], ["l2.npy", /a single class/]] as const) {
      const p = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-webgpu", "cli.ts", "eval", "--embeddings", `${dir}/e.npy`, "--labels"]
          .concat(`${dir}/${labels}`),
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(p.code, 2);
      assertEquals(new TextDecoder().decode(p.stdout), "");
      // Only the error line (and Deno's own XDG_RUNTIME_DIR notice on machines without one).
      const lines = new TextDecoder().decode(p.stderr).split("\n").filter((l) =>
        l !== "" && !/XDG_RUNTIME_DIR/.test(l)
      );
      assertEquals(lines.length, 1, lines.join("\n"));
      assert(lines[0].startsWith("error: ") && pattern.test(lines[0]), lines[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
