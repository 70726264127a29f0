/**
 * The standard losses against float64 references written here with plain loops over pairs and
 * triplets, on fresh seeded inputs (B ∈ {4, 9, 16}, D ∈ {3, 8}, a class with one member, with and
 * without a memory whose selfIndex mixes -1 and real slots), the design docs' fixtures (XBM §4.1,
 * BIER V3, D&C D3), numerical gradients, cpu vs webgpu, leaks and option errors.
 */
import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { Registry } from "../core/registry.ts";
import { DmlError } from "../core/errors.ts";
import type { CreateContext, Loss, Reference, State } from "../core/types.ts";
import losses from "../plugins/losses/mod.ts";
import type { MarginLoss } from "../plugins/losses/margin.ts";
import type { ProxyAnchorLoss } from "../plugins/losses/proxy_anchor.ts";
import type { MarginSoftmaxLoss } from "../plugins/losses/margin_softmax.ts";
import type { SumLoss } from "../plugins/losses/sum.ts";
import { distanceWeights, gumbelNoise, sampleWithoutReplacement } from "../plugins/losses/distance_weighted.ts";
import { assertClose, assertNoLeak, numericGrad, onBackend, randLabels, randn, testBackends } from "./util.ts";

type M = number[][];
interface Case {
  e: M;
  y: number[];
  ref?: { e: M; y: number[]; self: number[] };
}
type Opts = Record<string, unknown>;

const registry = new Registry();
registry.register(losses);

const SHAPES: [number, number][] = [[4, 3], [9, 8], [16, 3], [16, 8]];

function create(name: string, options: Opts = {}, ctx: Partial<CreateContext> = {}): Promise<Loss> {
  return registry.create<Loss>("loss", name, options, { rng: new Rng(7), ...ctx });
}

/** A batch with a class of one member; with `withRef`, a memory holding copies of some anchors. */
function makeCase(rng: Rng, b: number, d: number, withRef: boolean): Case {
  const classes = Math.max(2, Math.ceil(b / 3));
  const y = randLabels(rng, b, classes);
  y[b - 1] = classes; // never in the memory either: no positive at all
  const e = randn(rng, b, d);
  if (!withRef) return { e, y };
  const n = b + 7;
  const re = randn(rng, n, d), ry = randLabels(rng, n, classes);
  const slots = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const self = y.map((_, i) => (i % 3 === 1 ? -1 : slots[i]));
  self.forEach((s, i) => {
    if (s >= 0) [re[s], ry[s]] = [e[i].slice(), y[i]];
  });
  return { e, y, ref: { e: re, y: ry, self } };
}

function* cases(seed: number): Generator<Case> {
  const rng = new Rng(seed);
  for (const [b, d] of SHAPES) for (const withRef of [false, true]) yield makeCase(rng, b, d, withRef);
}

// ---------- float64 helpers ----------

const dot = (a: number[], b: number[]) => a.reduce((s, v, k) => s + v * b[k], 0);
const unit = (a: number[]) => {
  const n = Math.max(Math.sqrt(dot(a, a)), 1e-12);
  return a.map((v) => v / n);
};
const sqDist = (a: number[], b: number[]) => a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);
const relu = (x: number) => Math.max(0, x);
const sum = (xs: number[]) => xs.reduce((s, v) => s + v, 0);
const avgNonZero = (xs: number[]) => {
  const n = xs.filter((x) => x > 0).length;
  return n ? sum(xs) / n : 0;
};
const log1pSumExp = (xs: number[]) => (xs.length ? Math.log(1 + sum(xs.map(Math.exp))) : 0);

function measure(a: number[], b: number[], metric: string): number {
  if (metric === "cosine") return dot(unit(a), unit(b));
  if (metric === "dot") return dot(a, b);
  if (metric === "euclidean") return Math.sqrt(sqDist(a, b));
  return sqDist(a, b);
}

/** Every anchor-reference value and the positive / negative flags, self pairs removed by index. */
function pairs(c: Case, metric: string, byIndex = true) {
  const R = c.ref ? c.ref.e : c.e, Ry = c.ref ? c.ref.y : c.y;
  const isSelf = (i: number, j: number) => byIndex && j === (c.ref ? c.ref.self[i] : i);
  return {
    s: c.e.map((a) => R.map((r) => measure(a, r, metric))),
    pos: c.y.map((yi, i) => Ry.map((l, j) => l === yi && !isSelf(i, j))),
    neg: c.y.map((yi, i) => Ry.map((l, j) => l !== yi && !isSelf(i, j))),
  };
}

const normalized = (c: Case): Case => ({
  e: c.e.map(unit),
  y: c.y,
  ref: c.ref ? { ...c.ref, e: c.ref.e.map(unit) } : undefined,
});

// ---------- float64 references, one per loss ----------

function refContrastive(c: Case, o: Opts): number {
  const { s, pos, neg } = pairs(c, o.metric as string, o.selfBy === "index");
  const similarity = o.metric === "cosine" || o.metric === "dot";
  const pm = o.posMargin as number, nm = o.negMargin as number;
  const posT: number[] = [], negT: number[] = [];
  s.forEach((row, i) =>
    row.forEach((v, j) => {
      if (pos[i][j] && !(o.selfBy === "threshold" && v >= 1 - 1e-5)) {
        posT.push(similarity ? relu(1 - pm - v) : relu(v - pm));
      }
      if (neg[i][j]) negT.push(o.variant === "xbm" ? (v > nm ? v : 0) : similarity ? relu(v - nm) : relu(nm - v));
    })
  );
  return o.variant === "xbm" ? (sum(posT) + sum(negT)) / c.e.length : avgNonZero(posT) + avgNonZero(negT);
}

function refTriplet(c: Case, o: Opts): number {
  const { s, pos, neg } = pairs(normalized(c), o.metric as string);
  const d = o.metric === "cosine" ? s.map((r) => r.map((v) => -v)) : s;
  const m = o.margin as number;
  const terms: number[] = [];
  d.forEach((row, a) => {
    const P = row.map((_, j) => j).filter((j) => pos[a][j]), N = row.map((_, j) => j).filter((j) => neg[a][j]);
    if (o.mining === "batch-hard") {
      if (!P.length || !N.length) return;
      const p = P.reduce((best, j) => (row[j] > row[best] ? j : best));
      const n = N.reduce((best, j) => (row[j] < row[best] ? j : best));
      terms.push(relu(row[p] - row[n] + m));
      return;
    }
    for (const p of P) {
      for (const n of N) {
        const gap = row[n] - row[p];
        if (o.mining === "semi-hard" && !(gap > 0 && gap <= m)) continue;
        terms.push(relu(row[p] - row[n] + m));
      }
    }
  });
  return avgNonZero(terms);
}

function refMultiSimilarity(c: Case, o: Opts): number {
  const { s, pos, neg } = pairs(c, "cosine");
  const [alpha, beta, base, eps] = [o.alpha, o.beta, o.base, o.epsilon] as number[];
  const per = s.map((row, a) => {
    let P = row.filter((_, j) => pos[a][j]), N = row.filter((_, j) => neg[a][j]);
    if (o.miner) {
      const maxNeg = Math.max(-Infinity, ...N), minPos = Math.min(Infinity, ...P);
      [P, N] = [P.filter((v) => v - eps < maxNeg), N.filter((v) => v + eps > minPos)];
    }
    return log1pSumExp(P.map((v) => -alpha * (v - base))) / alpha + log1pSumExp(N.map((v) => beta * (v - base))) / beta;
  });
  return sum(per) / per.length;
}

/** Margin loss over an explicit list of weighted (anchor, pair, kind) terms. */
function marginFromTerms(
  c: Case,
  o: Opts,
  beta: number[],
  pick: (
    a: number,
    P: number[],
    N: number[],
    row: number[],
  ) => { p: [number, number][]; n: number[]; triplets: number },
): number {
  const { s: d, pos, neg } = pairs(normalized(c), "euclidean");
  const m = o.margin as number, perClass = o.betaPerClass as boolean, nu = o.nu as number;
  let total = 0, count = 0, reg = 0;
  d.forEach((row, a) => {
    const b = perClass ? beta[c.y[a]] : beta[0];
    const P = row.map((_, j) => j).filter((j) => pos[a][j]), N = row.map((_, j) => j).filter((j) => neg[a][j]);
    const { p, n, triplets } = pick(a, P, N, row);
    for (const [j, w] of p) {
      const t = relu(row[j] - b + m);
      total += w * t, count += t > 0 ? w : 0;
    }
    for (const j of n) {
      const t = relu(b - row[j] + m);
      total += t, count += t > 0 ? 1 : 0;
    }
    if (perClass) reg += triplets * Math.abs(b);
  });
  reg = perClass ? nu * reg : nu * Math.abs(beta[0]);
  return count > 0 ? (total + reg) / count : 0;
}

/** All triplets enumerated one by one: each (a, p, n) adds its positive and its negative term. */
function refMarginAll(c: Case, o: Opts, beta: number[]): number {
  const { s: d, pos, neg } = pairs(normalized(c), "euclidean");
  const m = o.margin as number, perClass = o.betaPerClass as boolean, nu = o.nu as number;
  let total = 0, count = 0, reg = 0;
  d.forEach((row, a) => {
    const b = perClass ? beta[c.y[a]] : beta[0];
    row.forEach((dp, p) => {
      if (!pos[a][p]) return;
      row.forEach((dn, n) => {
        if (!neg[a][n]) return;
        const tp = relu(dp - b + m), tn = relu(b - dn + m);
        total += tp + tn;
        count += (tp > 0 ? 1 : 0) + (tn > 0 ? 1 : 0);
        if (perClass) reg += Math.abs(b);
      });
    });
  });
  reg = perClass ? nu * reg : nu * Math.abs(beta[0]);
  return count > 0 ? (total + reg) / count : 0;
}

/** D&C's weights of one anchor's row (bier_dnc.md §2.5), float64. */
function dncWeights(row: number[], isNeg: boolean[], dim: number, cutoff: number, nzc: number, eps = 1e-6): number[] {
  const D = row.map((v) => Math.max(v, cutoff));
  const logW = D.map((x, j) =>
    !isNeg[j] || x >= nzc ? 0 : (2 - dim) * Math.log(x) - ((dim - 3) / 2) * Math.log(1 - x * x / 4)
  );
  const top = Math.max(...logW);
  return logW.map((l, j) => (!isNeg[j] ? 0 : D[j] > nzc ? eps : Math.exp(l - top) + 1e-9));
}

/** The distance-weighted margin loss with the Gumbel noise the loss draws from `rng`. */
function refMarginDistanceWeighted(c: Case, o: Opts, beta: number[], rng: Rng): number {
  const { pos, neg } = pairs(c, "euclidean");
  const n = pos[0].length, dim = c.e[0].length;
  const g = Array.from({ length: c.e.length * n }, () => -Math.log(-Math.log((rng.nextUint32() + 0.5) / 4294967296)));
  const meanPos = sum(pos.map((r) => r.filter(Boolean).length)) / c.e.length;
  const K = Math.min(Math.max(1, Math.floor(meanPos + 0.5)), Math.min(...neg.map((r) => r.filter(Boolean).length)));
  return marginFromTerms(c, o, beta, (a, P, N, row) => {
    if (!P.length) return { p: [], n: [], triplets: 0 };
    const w = dncWeights(row, neg[a], dim, o.cutoff as number, o.nonzeroLossCutoff as number);
    const keyed = N.map((j) => ({ j, key: Math.log(w[j]) + g[a * n + j] })).sort((x, y) => y.key - x.key);
    return { p: P.map((j) => [j, K / P.length]), n: keyed.slice(0, K).map((k) => k.j), triplets: K };
  });
}

function refBinomialDeviance(c: Case, o: Opts): number {
  const { s, pos, neg } = pairs(c, "cosine");
  const [alpha, beta, cost] = [o.alpha, o.beta, o.negCost] as number[];
  const softplus = (x: number) => Math.log1p(Math.exp(x));
  let ps = 0, pn = 0, ns = 0, nn = 0;
  s.forEach((row, i) =>
    row.forEach((v, j) => {
      if (pos[i][j]) ps += softplus(-alpha * (v - beta)), pn++;
      if (neg[i][j]) ns += softplus(cost * alpha * (v - beta)), nn++;
    })
  );
  if (o.countSelf) pn += c.ref ? c.ref.self.filter((x) => x >= 0).length : c.e.length;
  return ps / Math.max(pn, 1) + ns / Math.max(nn, 1);
}

function refProxyAnchor(e: M, y: number[], proxies: M, o: Opts): number {
  const [alpha, delta] = [o.alpha, o.delta] as number[];
  let posSum = 0, negSum = 0, withPos = 0;
  proxies.forEach((p, c) => {
    const s = e.map((x) => dot(unit(x), unit(p)));
    const P = s.filter((_, i) => y[i] === c), N = s.filter((_, i) => y[i] !== c);
    if (P.length) withPos++;
    posSum += log1pSumExp(P.map((v) => -alpha * (v - delta)));
    negSum += log1pSumExp(N.map((v) => alpha * (v + delta)));
  });
  return posSum / Math.max(withPos, 1) + negSum / proxies.length;
}

function refNormalizedSoftmax(e: M, y: number[], w: M, t: number): number {
  const per = e.map((x, i) => {
    const logits = w.map((wc) => dot(unit(x), unit(wc)) / t);
    const top = Math.max(...logits);
    return top + Math.log(sum(logits.map((l) => Math.exp(l - top)))) - logits[y[i]];
  });
  return sum(per) / per.length;
}

function refSupCon(c: Case, o: Opts): number {
  const { s, pos, neg } = pairs(c, "cosine");
  const d = pairs(normalized(c), "euclidean").s;
  const t = o.temperature as number;
  const P = pos.map((r, i) => r.map((p, j) => p && (!o.miner || d[i][j] > (o.posMargin as number))));
  const N = neg.map((r, i) => r.map((n, j) => n && (!o.miner || d[i][j] < (o.negMargin as number))));
  if (!P.flat().some(Boolean) || !N.flat().some(Boolean)) return 0;
  const per = s.map((row, i) => {
    const kept = row.map((v, j) => (P[i][j] || N[i][j] ? v / t : null)).filter((v): v is number => v !== null);
    const positives = row.filter((_, j) => P[i][j]).map((v) => v / t);
    if (!positives.length) return 0;
    const den = Math.log(sum(kept.map(Math.exp)));
    return -sum(positives.map((v) => v - den)) / positives.length;
  });
  return avgNonZero(per);
}

/** log Σ exp over a non-empty list. */
const logSumExp = (xs: number[]) => {
  const top = Math.max(...xs);
  return top + Math.log(sum(xs.map((v) => Math.exp(v - top))));
};

/** Circle loss; the weights α come from `at`'s similarities (default: c's), as they carry no gradient. */
function refCircle(c: Case, o: Opts, at: Case = c): number {
  const { s, pos, neg } = pairs(c, "cosine");
  const s0 = pairs(at, "cosine").s;
  const [m, gamma] = [o.m, o.gamma] as number[];
  const per = s.map((row, i) => {
    const P = row.flatMap((v, j) => (pos[i][j] ? [-gamma * relu(1 + m - s0[i][j]) * (v - (1 - m))] : []));
    const N = row.flatMap((v, j) => (neg[i][j] ? [gamma * relu(s0[i][j] + m) * (v - m)] : []));
    if (!P.length || !N.length) return 0;
    const z = logSumExp(P) + logSumExp(N);
    return z > 30 ? z : Math.log1p(Math.exp(z)); // softplus
  });
  return avgNonZero(per);
}

/** Softmax cross-entropy on scale × cosine to the class weights, the target's cosine through `target`. */
function refMarginSoftmax(e: M, y: number[], w: M, target: (cos: number) => number, scale: number): number {
  const per = e.map((x, i) => {
    const logits = w.map((wc, k) => {
      const cos = dot(unit(x), unit(wc));
      return scale * (k === y[i] ? target(cos) : cos);
    });
    return logSumExp(logits) - logits[y[i]];
  });
  return sum(per) / per.length;
}

/** ProxyNCA from its definition: NCA on −s‖x̂ − p̂‖², the positive proxy in the denominator or not. */
function refProxyNca(e: M, y: number[], proxies: M, scale: number, all: boolean): number {
  const per = e.map((x, i) => {
    const logits = proxies.map((p) => -scale * sqDist(unit(x), unit(p)));
    return -logits[y[i]] + logSumExp(logits.filter((_, c) => all || c !== y[i]));
  });
  return sum(per) / per.length;
}

/** ArcFace's target logit for a margin of `degrees`, with the official code's continuation past π. */
const arcTarget = (degrees: number) => {
  const m = degrees * Math.PI / 180;
  return (cos: number) => (cos > Math.cos(Math.PI - m) ? Math.cos(Math.acos(cos) + m) : cos - m * Math.sin(m));
};

// ---------- running the tfjs losses ----------

function tensors(c: Case): { e: Tensor2D; y: tf.Tensor1D; ref?: Reference } {
  const ref = c.ref
    ? { e: tf.tensor2d(c.ref.e), y: tf.tensor1d(c.ref.y, "int32"), selfIndex: Int32Array.from(c.ref.self) }
    : undefined;
  return { e: tf.tensor2d(c.e), y: tf.tensor1d(c.y, "int32"), ref };
}

function disposeAll(t: ReturnType<typeof tensors>): void {
  tf.dispose([t.e, t.y, ...(t.ref ? [t.ref.e, t.ref.y] : [])]);
}

/** The loss value; asserts compute leaves no tensor behind. */
async function lossValue(loss: Loss, c: Case): Promise<number> {
  return await assertNoLeak(async () => {
    const t = tensors(c);
    const l = loss.compute(t.e, t.y, t.ref);
    assert.deepEqual(l.shape, []);
    const v = (await l.data())[0];
    l.dispose();
    disposeAll(t);
    return v;
  }, "compute");
}

async function lossGrad(loss: Loss, c: Case): Promise<number[]> {
  const t = tensors(c);
  const g = tf.grad((e) => loss.compute(e as Tensor2D, t.y, t.ref))(t.e);
  const v = Array.from(await g.data());
  g.dispose();
  disposeAll(t);
  return v;
}

const unflatten = (x: number[], d: number): M =>
  Array.from({ length: x.length / d }, (_, i) => x.slice(i * d, i * d + d));

async function checkAgainstReference(
  name: string,
  options: Opts,
  reference: (c: Case, o: Opts) => number,
  seed: number,
): Promise<void> {
  const loss = await create(name, options);
  const o = registry.resolve("loss", { use: name, ...options });
  for (const c of cases(seed)) {
    const got = await lossValue(loss, c);
    const want = reference(c, o);
    assert.ok(Number.isFinite(got), `${name} ${JSON.stringify(options)} gave ${got}`);
    assertClose(got, want, { atol: 2e-5, rtol: 2e-4, msg: `${name} ${JSON.stringify(options)} B=${c.e.length}` });
  }
}

async function checkGradient(name: string, options: Opts, reference: (c: Case, o: Opts) => number, seed: number) {
  const loss = await create(name, options);
  const o = registry.resolve("loss", { use: name, ...options });
  let nonZero = 0;
  for (const c of cases(seed)) {
    if (c.e.length > 9) continue;
    const got = await assertNoLeak(() => lossGrad(loss, c), "gradient");
    const d = c.e[0].length;
    const want = numericGrad((x) => reference({ ...c, e: unflatten(x, d) }, o), c.e.flat(), 1e-6);
    assertClose(got, want, { atol: 1e-4, rtol: 2e-3, msg: `${name} ${JSON.stringify(options)} gradient` });
    if (want.some((v) => Math.abs(v) > 1e-6)) nonZero++;
  }
  assert.ok(nonZero > 0, `${name}: every gradient was zero, the check proves nothing`);
}

// ---------- contrastive ----------

Deno.test("contrastive textbook and xbm match float64 pair loops, by index and by threshold", async () => {
  for (const variant of ["textbook", "xbm"]) {
    await checkAgainstReference("contrastive", { variant }, refContrastive, 1);
    await checkAgainstReference(
      "contrastive",
      { variant, metric: "dot", posMargin: 0.1, negMargin: 0.2 },
      refContrastive,
      2,
    );
    await checkAgainstReference("contrastive", { variant, selfBy: "threshold" }, refContrastive, 3);
  }
  for (const metric of ["euclidean", "squared-euclidean"]) {
    await checkAgainstReference("contrastive", { metric, posMargin: 0.3, negMargin: 1.5 }, refContrastive, 4);
  }
});

Deno.test("contrastive reproduces the XBM fixture: L = 1.2 (xbm), 0.7 (textbook), gradient [0.1, -0.1]", async () => {
  const c: Case = {
    e: [[1, 0], [0, 1]],
    y: [0, 1],
    ref: { e: [[1, 0], [0, 1], [0.6, 0.8], [0.8, 0.6]], y: [0, 1, 0, 1], self: [0, 1] },
  };
  const noSelfIndex = { ...c, ref: { ...c.ref!, self: [-1, -1] } };
  for (const [variant, want] of [["xbm", 1.2], ["textbook", 0.7]] as const) {
    for (const metric of ["cosine", "dot"]) {
      const loss = await create("contrastive", { variant, metric });
      assertClose(await lossValue(loss, c), want, { msg: `${variant} ${metric}` });
      // The gradient w.r.t. the already normalised anchor (dot): [0.1, -0.1].
      if (metric === "dot") assertClose((await lossGrad(loss, c)).slice(0, 2), [0.1, -0.1], { msg: variant });
      const byValue = await create("contrastive", { variant, metric, selfBy: "threshold" });
      assertClose(await lossValue(byValue, noSelfIndex), want, { msg: `${variant} threshold` });
    }
  }
  // The self pairs (s = 1) contribute nothing either way: 1 − s = 0 is not an active term.
  const loss = await create("contrastive", { variant: "xbm" });
  assertClose(await lossValue(loss, noSelfIndex), 1.2);
});

Deno.test("contrastive gradient matches central differences of the float64 reference", async () => {
  for (const variant of ["textbook", "xbm"]) {
    await checkGradient("contrastive", { variant, negMargin: 0.1 }, refContrastive, 11);
  }
  await checkGradient("contrastive", { metric: "euclidean", negMargin: 1.5 }, refContrastive, 12);
});

// ---------- triplet ----------

Deno.test("triplet all, batch-hard and semi-hard match float64 triplet loops", async () => {
  for (const mining of ["all", "batch-hard", "semi-hard"]) {
    for (const metric of ["euclidean", "cosine"]) {
      await checkAgainstReference("triplet", { mining, metric }, refTriplet, 20);
    }
    await checkAgainstReference("triplet", { mining, margin: 0.5 }, refTriplet, 21);
  }
});

Deno.test("triplet gradient (all, batch-hard, semi-hard) matches central differences", async () => {
  await checkGradient("triplet", { mining: "all", margin: 0.5 }, refTriplet, 22);
  await checkGradient("triplet", { mining: "batch-hard", metric: "cosine" }, refTriplet, 23);
  await checkGradient("triplet", { mining: "semi-hard", margin: 0.5 }, refTriplet, 25);
});

Deno.test("triplet all and semi-hard stay exact against a memory of hundreds without B×N×N tensors", async () => {
  const rng = new Rng(24);
  const c = makeCase(rng, 16, 8, false);
  const n = 400;
  c.ref = { e: randn(rng, n, 8), y: randLabels(rng, n, 6), self: c.y.map(() => -1) };
  for (const mining of ["all", "semi-hard"]) {
    const loss = await create("triplet", { mining });
    const o = registry.resolve("loss", { use: "triplet", mining });
    const t = tensors(c);
    const anchors = tf.variable(t.e);
    const before = tf.memory().numBytes;
    let peak = 0;
    const { value, grads } = tf.variableGrads(() => {
      const l = loss.compute(anchors, t.y, t.ref);
      peak = tf.memory().numBytes - before;
      return l;
    }, [anchors]);
    assertClose((await value.data())[0], refTriplet(c, o), { atol: 2e-5, rtol: 2e-4, msg: mining });
    assert.ok((await grads[anchors.name].data()).some((g) => g !== 0));
    tf.dispose([value, anchors, ...Object.values(grads)]);
    disposeAll(t);
    // 16 × 400 × 400 float32 triplet terms alone would take 10 MB.
    assert.ok(peak < 2e6, `${mining} held ${peak} bytes`);
  }
});

// ---------- multi-similarity ----------

Deno.test("multi-similarity matches float64 loops, with and without the MS miner", async () => {
  await checkAgainstReference("multi-similarity", {}, refMultiSimilarity, 30);
  await checkAgainstReference("multi-similarity", { miner: false }, refMultiSimilarity, 31);
  await checkAgainstReference(
    "multi-similarity",
    { alpha: 3, beta: 20, base: 0.2, epsilon: 0.3 },
    refMultiSimilarity,
    32,
  );
});

Deno.test("multi-similarity gradient matches central differences", async () => {
  await checkGradient("multi-similarity", {}, refMultiSimilarity, 33);
  await checkGradient("multi-similarity", { miner: false, beta: 10 }, refMultiSimilarity, 34);
});

// ---------- margin ----------

Deno.test("margin loss over all triplets matches an explicit triplet loop (scalar and per-class beta, nu)", async () => {
  await checkAgainstReference("margin", {}, (c, o) => refMarginAll(c, o, [1.2]), 40);
  await checkAgainstReference("margin", { beta: 0.9, margin: 0.3 }, (c, o) => refMarginAll(c, o, [0.9]), 41);
  const perClass = await create("margin", { betaPerClass: true, nu: 0.05 }, { classes: 8 });
  const betas = [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4];
  (perClass as MarginLoss).beta.assign(tf.tensor1d(betas));
  const o = registry.resolve("loss", { use: "margin", betaPerClass: true, nu: 0.05 });
  for (const c of cases(42)) {
    assertClose(await lossValue(perClass, c), refMarginAll(c, o, betas), { atol: 2e-5, rtol: 2e-4 });
  }
  const scalarNu = await create("margin", { nu: 0.1 });
  const o2 = registry.resolve("loss", { use: "margin", nu: 0.1 });
  for (const c of cases(43)) {
    assertClose(await lossValue(scalarNu, c), refMarginAll(c, o2, [1.2]), { atol: 2e-5, rtol: 2e-4 });
  }
});

Deno.test("margin gradient matches central differences, for the embeddings and for beta", async () => {
  await checkGradient("margin", { beta: 1.0 }, (c, o) => refMarginAll(c, o, [1.0]), 44);
  const loss = await create("margin", { betaPerClass: true, nu: 0.1 }, { classes: 4 }) as MarginLoss;
  const o = registry.resolve("loss", { use: "margin", betaPerClass: true, nu: 0.1 });
  const betas = [1.0, 1.1, 0.9, 1.3];
  loss.beta.assign(tf.tensor1d(betas));
  const c = makeCase(new Rng(45), 9, 3, false);
  c.y = c.y.map((l) => l % 4);
  const t = tensors(c);
  const { grads } = tf.variableGrads(() => loss.compute(t.e, t.y), loss.trainableWeights);
  const got = Array.from(await grads[loss.beta.name].data());
  tf.dispose(Object.values(grads));
  disposeAll(t);
  assertClose(got, numericGrad((b) => refMarginAll(c, o, b), betas, 1e-6), { atol: 1e-4, rtol: 2e-3 });
  assert.ok(got.some((v) => Math.abs(v) > 1e-3));
});

Deno.test("margin beta is trainable only with learnBeta", async () => {
  assert.equal((await create("margin", {})).trainableWeights?.length, 1);
  assert.equal((await create("margin", { learnBeta: false })).trainableWeights?.length, 0);
  const perClass = await create("margin", { betaPerClass: true }, { classes: 5 }) as MarginLoss;
  assert.deepEqual(perClass.beta.shape, [5]);
});

Deno.test("distance-weighted weights follow q(d)^-1 with the cut-offs (D&C fixture D3)", async () => {
  const d = tf.tensor2d([[0.3, 0.8, 1.0, 1.3, 1.45]]);
  const neg = tf.ones([1, 5]) as Tensor2D;
  const w = await assertNoLeak(async () => {
    const t = distanceWeights(d, neg, 16, 0.5, 1.4);
    const v = Array.from(await t.data());
    t.dispose();
    return v;
  });
  assertClose(w, [1, 0.002833, 0.000260, 0.000036, 1e-6], { atol: 2e-6, rtol: 2e-3 });
  const p = w.map((v) => v / sum(w));
  assertClose(p, [0.996879, 0.002825, 0.000260, 0.000036, 0.000001], { atol: 2e-6, rtol: 2e-3 });
  // The same from the density formula, on a row with a positive (weight 0) and moderate dims.
  for (const dim of [3, 4, 8]) {
    const row = [0.2, 0.6, 0.9, 1.2, 1.38, 1.5, 0.7];
    const isNeg = [true, true, true, true, true, true, false];
    const got = distanceWeights(tf.tensor2d([row]), tf.tensor2d([isNeg.map(Number)]), dim, 0.5, 1.4);
    const invQ = (x: number) =>
      1 / (Math.max(x, 0.5) ** (dim - 2) * (1 - Math.max(x, 0.5) ** 2 / 4) ** ((dim - 3) / 2));
    const want = row.map((x, j) => (!isNeg[j] ? 0 : x > 1.4 ? null : invQ(x)));
    const scale = Math.max(...want.filter((v): v is number => v !== null));
    const gotV = Array.from(await got.data());
    want.forEach((v, j) =>
      assertClose(gotV[j], v === null ? 1e-6 : v / scale, { atol: 1e-6, rtol: 1e-4, msg: `dim ${dim} j ${j}` })
    );
    assertClose(gotV, dncWeights(row, isNeg, dim, 0.5, 1.4), { atol: 1e-7, rtol: 1e-4 });
  }
  tf.dispose([d, neg]);
});

Deno.test("distance-weighted sampling draws with probability ∝ weight, without replacement", async () => {
  const weights = [0.5, 0.25, 0.15, 0.1, 0, 1e-6];
  const p = weights.map((v) => v / sum(weights));
  const rows = 6000;
  const rng = new Rng(99);
  const w = tf.tile(tf.tensor2d([weights]), [rows, 1]) as Tensor2D;
  const freq = async (k: number) => {
    const g = gumbelNoise(rng, rows, weights.length);
    const chosen = sampleWithoutReplacement(w, k, g);
    const m = await chosen.array();
    tf.dispose([g, chosen]);
    for (const r of m) assert.equal(sum(r), k);
    return weights.map((_, j) => sum(m.map((r) => r[j])) / rows);
  };
  // K = 1: a categorical draw; 6000 draws give a standard error of at most 0.0065.
  assertClose(await freq(1), p, { atol: 0.025, rtol: 0 });
  // K = 2 without replacement: P(j chosen) = p_j + Σ_{i≠j} p_i p_j / (1 − p_i) (Plackett–Luce).
  const incl = p.map((pj, j) => pj + sum(p.map((pi, i) => (i === j || pi === 1 ? 0 : pi * pj / (1 - pi)))));
  const got2 = await freq(2);
  assertClose(got2, incl, { atol: 0.025, rtol: 0 });
  assert.equal(got2[4], 0, "a zero weight is never drawn");
  // More draws than positive weights: every live entry, nothing else.
  const few = tf.tensor2d([[0.3, 0, 0.7]]);
  const g = gumbelNoise(rng, 1, 3);
  const all = sampleWithoutReplacement(few, 3, g);
  assert.deepEqual(Array.from(await all.data()), [1, 0, 1]);
  tf.dispose([w, few, g, all]);
});

Deno.test("margin with distance-weighted sampling matches a float64 sampler fed the same noise", async () => {
  const o = registry.resolve("loss", { use: "margin", sampling: "distance-weighted" });
  const loss = await create("margin", { sampling: "distance-weighted" }, { rng: new Rng(5) });
  const mirror = new Rng(5).fork();
  let nonZero = 0;
  for (const c of cases(50)) {
    const got = await lossValue(loss, c);
    const want = refMarginDistanceWeighted(c, o, [1.2], mirror);
    assertClose(got, want, { atol: 2e-5, rtol: 2e-4, msg: `B=${c.e.length} ref=${!!c.ref}` });
    if (want > 0) nonZero++;
  }
  assert.ok(nonZero > 4);
  // Gradient with the draw held fixed: both sides restart from the same sampler state.
  const c = makeCase(new Rng(51), 9, 3, true);
  const saved = (loss as MarginLoss).saveState() as { rng: number[] };
  const got = await assertNoLeak(() => lossGrad(loss, c), "gradient");
  const want = numericGrad(
    (x) => refMarginDistanceWeighted({ ...c, e: unflatten(x, 3) }, o, [1.2], Rng.fromState(saved.rng)),
    c.e.flat(),
    1e-6,
  );
  assertClose(got, want, { atol: 1e-4, rtol: 2e-3 });
  assert.ok(want.some((v) => Math.abs(v) > 1e-3));
});

Deno.test("margin sampling resumes exactly from saveState", async () => {
  const loss = await create("margin", { sampling: "distance-weighted" }) as MarginLoss;
  const c = makeCase(new Rng(60), 16, 8, true);
  await lossValue(loss, c);
  const saved = JSON.parse(
    JSON.stringify(loss.saveState(), (_, v) => (Number.isNaN(v) ? "NaN" : v)),
    (_, v) => v === "NaN" ? NaN : v,
  ) as State;
  const next = [await lossValue(loss, c), await lossValue(loss, c)];
  loss.loadState(saved);
  assert.deepEqual([await lossValue(loss, c), await lossValue(loss, c)], next);
  assert.notEqual(next[0], next[1], "two draws in a row should differ");
  assert.throws(() => loss.loadState({}), DmlError);
});

// ---------- binomial deviance ----------

Deno.test("binomial deviance matches float64 loops and the BIER fixture", async () => {
  await checkAgainstReference("binomial-deviance", {}, refBinomialDeviance, 70);
  await checkAgainstReference("binomial-deviance", { countSelf: true, negCost: 5 }, refBinomialDeviance, 71);
  // BIER V3: learner 1 on f1, divided by M = 2 learners, is 4.236050825 (BIER counts self pairs).
  const loss = await create("binomial-deviance", { countSelf: true });
  const f1: Case = { e: [[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]], y: [0, 0, 1, 1] };
  assertClose((await lossValue(loss, f1)) / 2, 4.236050825, { rtol: 1e-5 });
  await checkGradient("binomial-deviance", { negCost: 3 }, refBinomialDeviance, 72);
});

// ---------- proxy anchor, normalized softmax ----------

Deno.test("proxy-anchor matches the float64 formula and its gradients (embeddings, proxies), and refuses a memory", async () => {
  const opts = [{}, { alpha: 16, delta: 0.3 }];
  for (const [k, options] of opts.entries()) {
    for (const c of cases(80 + k)) {
      const classes = Math.max(...c.y) + 2; // one proxy without positives
      const loss = await create("proxy-anchor", options, { classes, dim: c.e[0].length }) as ProxyAnchorLoss;
      const o = registry.resolve("loss", { use: "proxy-anchor", ...options });
      const proxies = await loss.proxies.array() as M;
      const want = refProxyAnchor(c.e, c.y, proxies, o);
      assertClose(await lossValue(loss, { e: c.e, y: c.y }), want, { atol: 2e-5, rtol: 2e-4 });
      if (c.ref) refusesMemory(loss, c);
      loss.proxies.dispose();
    }
  }
  const loss = await create("proxy-anchor", {}, { classes: 50, dim: 20 }) as ProxyAnchorLoss;
  assert.equal(loss.usesReference, false);
  assert.deepEqual(loss.trainableWeights, [loss.proxies]);
  // Kaiming normal, fan-out = classes: std √(2/50) = 0.2.
  const v = await loss.proxies.data();
  const std = Math.sqrt(sum(Array.from(v, (x) => x * x)) / v.length);
  assertClose(std, 0.2, { rtol: 0.08 });
  const c = makeCase(new Rng(83), 9, 3, false);
  const small = await create("proxy-anchor", {}, { classes: 5, dim: 3 }) as ProxyAnchorLoss;
  const want = numericGrad(
    (x) =>
      refProxyAnchor(unflatten(x, 3), c.y, rows(small.proxies), {
        alpha: 32,
        delta: 0.1,
      }),
    c.e.flat(),
    1e-6,
  );
  assertClose(await lossGrad(small, c), want, { atol: 1e-4, rtol: 2e-3 });
  const proxies = rows(small.proxies);
  const wantP = numericGrad(
    (x) => refProxyAnchor(c.e, c.y, unflatten(x, 3), { alpha: 32, delta: 0.1 }),
    proxies.flat(),
    1e-6,
  );
  assertClose(await weightGrad(small, small.proxies, c), wantP, { atol: 1e-4, rtol: 2e-3 });
});

/** d loss / d a weight the loss owns. */
async function weightGrad(loss: Loss, v: tf.Variable, c: Case): Promise<number[]> {
  const t = tensors(c);
  const { value, grads } = tf.variableGrads(() => loss.compute(t.e, t.y, t.ref), [v]);
  const g = Array.from(await grads[v.name].data());
  tf.dispose([value, ...Object.values(grads)]);
  disposeAll(t);
  return g;
}

/** A variable's rows as plain numbers (cpu). */
function rows(v: tf.Variable): M {
  return v.arraySync() as M;
}

function refusesMemory(loss: Loss, c: Case): void {
  const t = tensors(c);
  assert.throws(
    () => loss.compute(t.e, t.y, t.ref),
    (e: Error) => e instanceof DmlError && /takes no memory/.test(e.message),
  );
  disposeAll(t);
}

Deno.test("normalized softmax matches the float64 cross-entropy and its gradients, and refuses a memory", async () => {
  for (const [k, temperature] of [0.05, 0.5].entries()) {
    for (const c of cases(90 + k)) {
      const classes = Math.max(...c.y) + 1;
      const loss = await create("normalized-softmax", { temperature }, { classes, dim: c.e[0].length });
      const w = (loss as MarginSoftmaxLoss).weights;
      const want = refNormalizedSoftmax(c.e, c.y, await w.array() as M, temperature);
      assertClose(await lossValue(loss, { e: c.e, y: c.y }), want, { atol: 2e-5, rtol: 2e-4 });
      if (c.ref) refusesMemory(loss, c);
      w.dispose();
    }
  }
  const c = makeCase(new Rng(93), 9, 3, false);
  const loss = await create("normalized-softmax", { temperature: 0.5 }, {
    classes: 5,
    dim: 3,
  }) as MarginSoftmaxLoss;
  const want = numericGrad(
    (x) => refNormalizedSoftmax(unflatten(x, 3), c.y, rows(loss.weights), 0.5),
    c.e.flat(),
    1e-6,
  );
  assertClose(await lossGrad(loss, c), want, { atol: 1e-4, rtol: 2e-3 });
  const wantW = numericGrad(
    (x) => refNormalizedSoftmax(c.e, c.y, unflatten(x, 3), 0.5),
    rows(loss.weights).flat(),
    1e-6,
  );
  assertClose(await weightGrad(loss, loss.weights, c), wantW, { atol: 1e-4, rtol: 2e-3 });
});

// ---------- circle ----------

Deno.test("circle matches float64 loops (with and without a memory) and its gradient with α held fixed", async () => {
  await checkAgainstReference("circle", {}, refCircle, 130);
  await checkAgainstReference("circle", { m: 0.25, gamma: 256 }, refCircle, 131);
  for (const [k, options] of [{ gamma: 16 }, { m: 0.1, gamma: 4 }].entries()) {
    const loss = await create("circle", options);
    const o = registry.resolve("loss", { use: "circle", ...options });
    for (const c of cases(132 + k)) {
      if (c.e.length > 9) continue;
      const d = c.e[0].length;
      const want = numericGrad((x) => refCircle({ ...c, e: unflatten(x, d) }, o, c), c.e.flat(), 1e-6);
      assertClose(await assertNoLeak(() => lossGrad(loss, c), "gradient"), want, {
        atol: 1e-4,
        rtol: 2e-3,
        msg: `circle ${JSON.stringify(options)} B=${c.e.length}`,
      });
    }
  }
});

// ---------- arcface, cosface ----------

Deno.test("arcface and cosface match the float64 cross-entropy and its gradients, and refuse a memory", async () => {
  const targets = {
    arcface: (o: Opts) => arcTarget(o.margin as number),
    cosface: (o: Opts) => (cos: number) => cos - (o.margin as number),
  };
  for (const [name, target] of Object.entries(targets)) {
    for (const [k, options] of [{}, { margin: name === "arcface" ? 10 : 0.1, scale: 8 }].entries()) {
      const o = registry.resolve("loss", { use: name, ...options });
      for (const c of cases(140 + k)) {
        const classes = Math.max(...c.y) + 1;
        const loss = await create(name, options, { classes, dim: c.e[0].length }) as MarginSoftmaxLoss;
        const want = refMarginSoftmax(c.e, c.y, rows(loss.weights), target(o), o.scale as number);
        assertClose(await lossValue(loss, { e: c.e, y: c.y }), want, { atol: 2e-5, rtol: 2e-4, msg: name });
        if (c.ref) refusesMemory(loss, c);
        loss.weights.dispose();
      }
    }
    // Gradients for the embeddings and the weights, one anchor pointing away from its class (θ ≈ π).
    const options = { scale: 8 };
    const o = registry.resolve("loss", { use: name, ...options });
    const c = makeCase(new Rng(145), 9, 3, false);
    const loss = await create(name, options, { classes: Math.max(...c.y) + 1, dim: 3 }) as MarginSoftmaxLoss;
    const w = rows(loss.weights);
    c.e[0] = w[c.y[0]].map((v, t) => -v + 0.01 * t);
    const ref = (e: M, weights: M) => refMarginSoftmax(e, c.y, weights, target(o), o.scale as number);
    assertClose(await lossValue(loss, c), ref(c.e, w), { atol: 2e-5, rtol: 2e-4, msg: `${name} θ ≈ π` });
    const wantE = numericGrad((x) => ref(unflatten(x, 3), w), c.e.flat(), 1e-6);
    assertClose(await lossGrad(loss, c), wantE, { atol: 1e-4, rtol: 2e-3, msg: `${name} gradient` });
    const wantW = numericGrad((x) => ref(c.e, unflatten(x, 3)), w.flat(), 1e-6);
    assertClose(await weightGrad(loss, loss.weights, c), wantW, { atol: 1e-4, rtol: 2e-3, msg: `${name} weights` });
    loss.weights.dispose();
  }
  // Past θ = π − m the ArcFace logit keeps falling (cos(θ + m) would rise again).
  const arc = arcTarget(28.6);
  assert.ok(arc(-0.95) > arc(-0.99) && arc(-0.99) > arc(-1), "the continuation is decreasing in θ");
});

Deno.test("proxy-nca matches its squared-distance definition and gradients (both denominators), refuses a memory", async () => {
  for (const [k, options] of [{}, { scale: 1, denominator: "all" }, { scale: 3, denominator: "all" }].entries()) {
    const o = registry.resolve("loss", { use: "proxy-nca", ...options });
    const all = o.denominator === "all";
    for (const c of cases(150 + k)) {
      const classes = Math.max(...c.y) + 1;
      const loss = await create("proxy-nca", options, { classes, dim: c.e[0].length }) as MarginSoftmaxLoss;
      const want = refProxyNca(c.e, c.y, rows(loss.weights), o.scale as number, all);
      assertClose(await lossValue(loss, { e: c.e, y: c.y }), want, { atol: 2e-5, rtol: 2e-4, msg: `proxy-nca ${k}` });
      if (c.ref) refusesMemory(loss, c);
      loss.weights.dispose();
    }
    const c = makeCase(new Rng(155 + k), 9, 3, false);
    const loss = await create("proxy-nca", options, { classes: Math.max(...c.y) + 1, dim: 3 }) as MarginSoftmaxLoss;
    const w = rows(loss.weights);
    const ref = (e: M, p: M) => refProxyNca(e, c.y, p, o.scale as number, all);
    const wantE = numericGrad((x) => ref(unflatten(x, 3), w), c.e.flat(), 1e-6);
    assertClose(await lossGrad(loss, c), wantE, { atol: 1e-4, rtol: 2e-3, msg: `proxy-nca ${k} gradient` });
    const wantP = numericGrad((x) => ref(c.e, unflatten(x, 3)), w.flat(), 1e-6);
    assertClose(await weightGrad(loss, loss.weights, c), wantP, {
      atol: 1e-4,
      rtol: 2e-3,
      msg: `proxy-nca ${k} proxies`,
    });
    loss.weights.dispose();
  }
});

// ---------- sum ----------

/** The loss value, for a loss that keeps its last terms for the log (so lossValue's leak check does not apply). */
async function keptTermsValue(loss: Loss, c: Case): Promise<number> {
  const t = tensors(c);
  const l = loss.compute(t.e, t.y, t.ref);
  const v = (await l.data())[0];
  tf.dispose([l]);
  disposeAll(t);
  return v;
}

Deno.test("sum: weighted terms match their float64 references; a memory reaches only the pair terms", async () => {
  const terms = {
    pairs: { use: "multi-similarity" },
    proxies: { use: "proxy-anchor", weight: 0.5 },
    triplets: { use: "triplet", weight: 2 },
  };
  const ms = registry.resolve("loss", { use: "multi-similarity" });
  const tri = registry.resolve("loss", { use: "triplet" });
  const pa = registry.resolve("loss", { use: "proxy-anchor" });
  for (const c of cases(160)) {
    const classes = Math.max(...c.y, ...(c.ref?.y ?? [])) + 1;
    const loss = await create("sum", { terms }, { classes, dim: c.e[0].length }) as SumLoss;
    const proxies = rows(loss.trainableWeights[0]);
    const batch = { e: c.e, y: c.y };
    const want = refMultiSimilarity(batch, ms) + 0.5 * refProxyAnchor(c.e, c.y, proxies, pa) +
      2 * refTriplet(batch, tri);
    assertClose(await keptTermsValue(loss, batch), want, { atol: 2e-5, rtol: 2e-4, msg: "sum" });
    const parts = await Promise.all(Object.values(loss.terms()).map(async (t) => (await t.data())[0]));
    assert.deepEqual(Object.keys(loss.terms()), ["pairs", "proxies", "triplets"]);
    assertClose(sum(parts), want, { atol: 2e-5, rtol: 2e-4, msg: "the logged terms add up" });
    if (c.ref) {
      // Against a memory: the proxy term sits out, the pair terms see the reference set.
      const withRef = refMultiSimilarity(c, ms) + 2 * refTriplet(c, tri);
      assertClose(await keptTermsValue(loss, c), withRef, { atol: 2e-5, rtol: 2e-4, msg: "sum with a memory" });
      assert.deepEqual(Object.keys(loss.terms()), ["pairs", "triplets"]);
    }
    // The last terms are kept for the log, the ones before them are freed.
    await keptTermsValue(loss, batch);
    const kept = tf.memory().numTensors;
    await keptTermsValue(loss, batch);
    await keptTermsValue(loss, batch);
    assert.equal(tf.memory().numTensors, kept, "terms of earlier steps leaked");
    tf.dispose([...loss.trainableWeights, ...Object.values(loss.terms())]);
  }
  // Gradient: the sum of the terms' gradients.
  const c = makeCase(new Rng(161), 9, 3, false);
  const pairsOnly = await create("sum", {
    terms: { a: { use: "multi-similarity" }, b: { use: "triplet", weight: 3 } },
  });
  const want = numericGrad(
    (x) => refMultiSimilarity({ e: unflatten(x, 3), y: c.y }, ms) + 3 * refTriplet({ e: unflatten(x, 3), y: c.y }, tri),
    c.e.flat(),
    1e-6,
  );
  assertClose(await lossGrad(pairsOnly, c), want, { atol: 1e-4, rtol: 2e-3, msg: "sum gradient" });
  assert.equal((pairsOnly as SumLoss).usesReference, true);
  const proxiesOnly = await create("sum", { terms: { p: { use: "proxy-anchor" } } }, { classes: 4, dim: 3 });
  assert.equal((proxiesOnly as SumLoss).usesReference, false);
});

Deno.test("sum: the parts' hooks and checkpoint state are passed on (margin sampling resumes exactly)", async () => {
  const terms = { margin: { use: "margin", sampling: "distance-weighted" }, ms: { use: "multi-similarity" } };
  const c = makeCase(new Rng(162), 16, 8, false);
  const a = await create("sum", { terms }) as SumLoss;
  await keptTermsValue(a, c); // moves the margin term's sampling stream on
  const state = a.saveState();
  assert.ok(Array.isArray(state) && state.length === 2 && state[0] !== null && state[1] === null);
  const next = await keptTermsValue(a, c);
  const b = await create("sum", { terms }) as SumLoss;
  b.loadState(JSON.parse(JSON.stringify(state)));
  assert.equal(await keptTermsValue(b, c), next, "the restored sum samples what the original did");
  assert.throws(
    () => b.loadState([null]),
    (e: Error) => e instanceof DmlError && /2 part states|1 part states/.test(e.message),
  );
});

// ---------- supcon ----------

Deno.test("supcon matches float64 loops, with and without the pair-margin miner", async () => {
  await checkAgainstReference("supcon", {}, refSupCon, 100);
  await checkAgainstReference("supcon", { miner: true }, refSupCon, 101);
  await checkAgainstReference(
    "supcon",
    { temperature: 0.5, miner: true, posMargin: 0.6, negMargin: 1.3 },
    refSupCon,
    102,
  );
  await checkGradient("supcon", { temperature: 0.5 }, refSupCon, 103);
  await checkGradient("supcon", { miner: true, negMargin: 1.4 }, refSupCon, 104);
});

// ---------- all losses ----------

const PAIR_LOSSES: [string, Opts, (c: Case, o: Opts) => number][] = [
  ["contrastive", {}, refContrastive],
  ["triplet", {}, refTriplet],
  ["multi-similarity", {}, refMultiSimilarity],
  ["margin", {}, (c, o) => refMarginAll(c, o, [1.2])],
  ["binomial-deviance", {}, refBinomialDeviance],
  ["supcon", { miner: true }, refSupCon],
  ["circle", {}, refCircle],
];

Deno.test("pair losses are finite and match the references when rows have no positives or no negatives", async () => {
  const rng = new Rng(110);
  const e = randn(rng, 6, 4);
  const degenerate: Case[] = [
    { e, y: [0, 0, 0, 0, 0, 0] }, // no negatives
    { e, y: [0, 1, 2, 3, 4, 5] }, // no positives
    { e, y: [0, 1, 2, 3, 4, 5], ref: { e: randn(rng, 3, 4), y: [7, 8, 9], self: [-1, -1, -1, -1, -1, -1] } },
  ];
  for (const [name, options, reference] of PAIR_LOSSES) {
    const loss = await create(name, options);
    const o = registry.resolve("loss", { use: name, ...options });
    for (const c of degenerate) {
      const v = await lossValue(loss, c);
      assert.ok(Number.isFinite(v), `${name} gave ${v}`);
      assertClose(v, reference(c, o), { atol: 1e-5, msg: name });
      for (const g of await lossGrad(loss, c)) assert.ok(Number.isFinite(g), `${name} gradient ${g}`);
    }
  }
  const dws = await create("margin", { sampling: "distance-weighted" });
  for (const c of degenerate) assert.ok(Number.isFinite(await lossValue(dws, c)));
});

Deno.test("every loss agrees on cpu and webgpu, value and gradient", async () => {
  const backends = await testBackends();
  if (!backends.includes("webgpu")) return;
  const c = makeCase(new Rng(120), 8, 4, true);
  const plain = { e: c.e, y: c.y };
  const all: [string, Opts, Partial<CreateContext>, Case][] = [
    ["contrastive", {}, {}, c],
    ["contrastive", { variant: "xbm", selfBy: "threshold" }, {}, c],
    ["triplet", {}, {}, c],
    ["triplet", { mining: "batch-hard" }, {}, c],
    ["triplet", { mining: "semi-hard", margin: 0.5 }, {}, c],
    ["multi-similarity", {}, {}, c],
    ["margin", {}, {}, c],
    ["margin", { sampling: "distance-weighted", betaPerClass: true }, { classes: 8 }, c],
    ["binomial-deviance", {}, {}, c],
    ["proxy-anchor", {}, { classes: 8, dim: 4 }, plain],
    ["normalized-softmax", {}, { classes: 8, dim: 4 }, plain],
    ["supcon", { miner: true }, {}, c],
    ["circle", {}, {}, c],
    ["arcface", {}, { classes: 8, dim: 4 }, plain],
    ["cosface", {}, { classes: 8, dim: 4 }, plain],
    ["proxy-nca", {}, { classes: 8, dim: 4 }, plain],
  ];
  for (const [name, options, ctx, data] of all) {
    const loss = await create(name, options, ctx);
    // Everything on cpu first: data that moved to the GPU cannot come back synchronously.
    const state = (loss as { saveState?: () => State }).saveState?.();
    const rewind = () => state !== undefined && (loss as unknown as { loadState(s: State): void }).loadState(state);
    const onCpu = await lossValue(loss, data);
    rewind();
    const gradCpu = await lossGrad(loss, data);
    rewind();
    const onGpu = await onBackend("webgpu", () => lossValue(loss, data));
    assertClose(onGpu, onCpu, { atol: 1e-4, rtol: 1e-3, msg: `${name} ${JSON.stringify(options)}` });
    rewind();
    const gradGpu = await onBackend("webgpu", () => lossGrad(loss, data));
    assertClose(gradGpu, gradCpu, { atol: 1e-4, rtol: 1e-3, msg: `${name} ${JSON.stringify(options)} gradient` });
  }
});

Deno.test("bad options are rejected with a DmlError naming the recipe path", async () => {
  const bad: [string, Opts, Partial<CreateContext>, RegExp][] = [
    ["contrastive", { negMargin: "x" }, {}, /^loss\.negMargin: /],
    ["contrastive", { variant: "hinge" }, {}, /^loss\.variant: expected one of textbook, xbm/],
    ["contrastive", { variant: "xbm", metric: "euclidean" }, {}, /^loss\.metric: /],
    ["contrastive", { selfBy: "threshold", metric: "euclidean" }, {}, /^loss\.selfBy: /],
    ["contrastive", { margin: 0.5 }, {}, /^loss\.margin: unknown option/],
    ["triplet", { mining: "hardest" }, {}, /^loss\.mining: /],
    ["triplet", { margin: -0.1 }, {}, /^loss\.margin: /],
    ["multi-similarity", { alpha: 0 }, {}, /^loss\.alpha: /],
    ["margin", { betaPerClass: true }, {}, /^loss\.betaPerClass: needs the number of training classes/],
    ["margin", { sampling: "random" }, {}, /^loss\.sampling: /],
    ["margin", { cutoff: 0 }, {}, /^loss\.cutoff: /],
    ["binomial-deviance", { negCost: -1 }, {}, /^loss\.negCost: /],
    ["proxy-anchor", {}, { dim: 8 }, /^loss: proxy-anchor needs the number of training classes/],
    ["proxy-anchor", {}, { classes: 8 }, /^loss: proxy-anchor needs the embedding dim/],
    ["normalized-softmax", { temperature: 0 }, { classes: 3, dim: 2 }, /^loss\.temperature: /],
    ["supcon", { miner: "yes" }, {}, /^loss\.miner: expected true or false/],
    ["circle", { gamma: 0 }, {}, /^loss\.gamma: /],
    ["circle", { m: 1.5 }, {}, /^loss\.m: /],
    ["arcface", { margin: 100 }, { classes: 3, dim: 2 }, /^loss\.margin: /],
    ["arcface", {}, { dim: 2 }, /^loss: arcface needs the number of training classes/],
    ["cosface", { scale: -1 }, { classes: 3, dim: 2 }, /^loss\.scale: /],
    ["proxy-nca", { denominator: "positives" }, { classes: 3, dim: 2 }, /^loss\.denominator: /],
    ["sum", {}, {}, /^loss\.terms: /],
    ["sum", { terms: {} }, {}, /^loss\.terms: list at least one loss/],
    ["sum", { terms: { a: 3 } }, {}, /^loss\.terms\.a: expected a loss section/],
    ["sum", { terms: { a: { use: "triplet", weight: -1 } } }, {}, /^loss\.terms\.a\.weight: expected a number >= 0/],
    ["sum", { terms: { a: { use: "tripletz" } } }, {}, /^loss\.terms\.a\.use: .*triplet/],
    ["sum", { terms: { a: { use: "triplet", margin: -1 } } }, {}, /^loss\.terms\.a\.margin: /],
    ["sum", { terms: { a: { use: "sum", terms: {} } } }, {}, /^loss\.terms\.a\.use: a sum cannot hold another sum/],
  ];
  for (const [name, options, ctx, pattern] of bad) {
    await assert.rejects(create(name, options, ctx), (e: Error) => {
      assert.ok(e instanceof DmlError, `${name}: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  await assert.rejects(
    create("triplet", { margin: "big" }, { path: "loss.base" }),
    (e: Error) => e instanceof DmlError && e.message.startsWith("loss.base.margin: "),
  );
});
