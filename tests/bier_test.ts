/**
 * BIER (plugins/bier): the spec's fixtures (shared/design/methods/bier_dnc.md §1.10), a float64
 * reference on random batches, the stop-gradient on the boosting weights, gradient reversal,
 * the weight-initialisation stage, the eval transform, bad input and tensor leaks.
 */
import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor, Tensor1D, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { Registry } from "../core/registry.ts";
import { DmlError } from "../core/errors.ts";
import type { Backbone, Dataset, Loss, TrainContext } from "../core/types.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { pairMatrix } from "../core/pairs.ts";
import { assertClose, assertNoLeak, onBackend, randLabels, randn, testBackends } from "./util.ts";
import { plugin } from "../plugins/bier/mod.ts";
import { BIER_LOSS_DEFAULTS, BierLoss, type BierOptions } from "../plugins/bier/loss.ts";
import { BIER_DEFAULTS, boostedDeviance, type BoostingStyle } from "../plugins/bier/boosting.ts";
import { devianceMargin, pairNormalizer } from "../plugins/bier/binomial_deviance.ts";
import { activationLoss, unitNormPenalty } from "../plugins/bier/activation_loss.ts";
import { AdversarialRegressors, agreementLoss } from "../plugins/bier/adversarial_loss.ts";
import { reverseGradient, stopGradient } from "../plugins/bier/gradient.ts";
import { ensembleEmbedding } from "../plugins/bier/learners.ts";
import { learnerCorrelation } from "../plugins/bier/correlation.ts";
import { embeddingHead, embeddingView, learnerKernels, regularizerView, verifyHead } from "../plugins/bier/head.ts";
import { Diversity } from "../plugins/bier/diversity.ts";

// ---------- float64 reference (plain TypeScript, written from the spec's pseudo-code) ----------

interface RefOptions {
  style: BoostingStyle;
  countDiagonal: boolean;
  /** Boosting weights to use instead of computing them (for the stop-gradient check). */
  frozen?: number[][][];
}
const P = BIER_DEFAULTS;
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function cosine(f: number[][]): number[][] {
  const u = f.map((r) => {
    const n = Math.max(Math.hypot(...r), 1e-5);
    return r.map((v) => v / n);
  });
  return u.map((a) => u.map((b) => a.reduce((s, v, k) => s + v * b[k], 0)));
}

/** L_boost and the weights each learner used, for learner blocks `fs[m]` [B][d_m]. */
function refBoost(
  fs: number[][][],
  y: number[],
  o: RefOptions,
): { total: number; learners: number[]; w: number[][][] } {
  const B = y.length, M = fs.length;
  const Y = y.map((a) => y.map((b) => (a === b ? 1 : 0)));
  let sumY = 0, sumN = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (i === j) sumY += o.countDiagonal ? 1 : 0;
      else if (Y[i][j]) sumY++;
      else sumN++;
    }
  }
  const Wp = Y.map((r, i) => r.map((v, j) => (i === j ? 0 : v ? 1 / sumY : 1 / sumN)));
  const mult = Y.map((r) => r.map((v) => (v ? 1 : -P.negCost)));
  let a = Y.map((r) => r.map(() => P.initialActivation));
  let w = Y.map((r) => r.map(() => 1));
  const learners: number[] = [], used: number[][][] = [];
  fs.forEach((f, m) => {
    const S = cosine(f);
    const wm = o.frozen ? o.frozen[m] : w;
    used.push(wm);
    let L = 0;
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < B; j++) {
        L += softplus(-P.alpha * (S[i][j] - P.beta) * mult[i][j]) * wm[i][j] * Wp[i][j];
      }
    }
    learners.push(L / M);
    if (o.style === "additive") {
      a = a.map((r, i) => r.map((v, j) => v + P.shrinkage * P.alpha * (S[i][j] - P.beta) * mult[i][j]));
      w = a.map((r, i) => r.map((v, j) => sigmoid(-v) * (Y[i][j] ? 1 : P.negativeBoost)));
    } else {
      const eta = 2 / (m + 2);
      a = a.map((r, i) => r.map((v, j) => (1 - eta) * v + eta * P.etaScale * S[i][j]));
      w = a.map((r, i) => r.map((v, j) => sigmoid(-P.alpha * (v - P.beta) * mult[i][j])));
    }
  });
  return { total: learners.reduce((s, v) => s + v, 0), learners, w: used };
}

function blocksOf(e: number[][], groups: number[]): number[][][] {
  let s = 0;
  return groups.map((d) => {
    const b = e.map((r) => r.slice(s, s + d));
    s += d;
    return b;
  });
}

const opts = (o: Partial<BierOptions>): BierOptions => ({ ...BIER_LOSS_DEFAULTS, ...o });
const t2 = (a: number[][]) => tf.tensor2d(a);
const labels = (y: number[]) => tf.tensor1d(y, "int32") as Tensor1D;
const read = (t: Tensor) => Array.from(t.dataSync());

// ---------- spec fixtures ----------

Deno.test("V1: binomial deviance per pair (positive 0.8, negatives 0.3 / 0.7)", () => {
  const sim = tf.tensor2d([[0.8, 0.3, 0.7]]);
  const pos = tf.tensor2d([[1, 0, 0]]), neg = tf.tensor2d([[0, 1, 1]]);
  const z = devianceMargin(sim, neg, P);
  assertClose(read(z), [0.6, 10, -10], { atol: 1e-5 });
  assertClose(read(tf.softplus(tf.neg(z))), [0.437487950, 0.000045399, 10.000045399], { atol: 1e-6 });
  tf.dispose([sim, pos, neg, z]);
});

Deno.test("V2: next learner's weights after one learner, additive and eta", () => {
  // Two learners on three 'pairs' laid out as a 1x3 batch: the weights learner 2 gets.
  const sim = tf.tensor2d([[0.8, 0.3, 0.7]]);
  const pos = tf.tensor2d([[1, 0, 0]]), neg = tf.tensor2d([[0, 1, 1]]), wp = tf.ones([1, 3]) as Tensor2D;
  const add = boostedDeviance([sim, sim], neg, wp, { ...P, style: "additive" });
  assertClose(read(add.weights[1]), [0.369118574, 0.499479789, 1.049958375], { atol: 1e-6 });
  const eta = boostedDeviance([sim, sim], neg, wp, { ...P, style: "eta" });
  assertClose(read(eta.weights[1]), [0.354343694, 0.000045398, 0.999954602], { atol: 1e-6 });
  assertClose(read(add.weights[0]), [1, 1, 1]);
  tf.dispose([sim, pos, neg, wp, add, eta] as never);
});

const V3 = {
  y: [0, 0, 1, 1],
  f1: [[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]],
  f2: [[3, 4], [4, 3], [0, -2], [1, -1]],
};
const v3e = () => V3.f1.map((r, i) => [...r, ...V3.f2[i]]);

Deno.test("V3: toy batch, two learners of size 2 — normaliser, weights, contributions, totals", () => {
  const y = labels(V3.y);
  const { sim, pos, neg } = pairMatrix(t2(V3.f1), y, undefined, "cosine");
  const wpair = pairNormalizer(pos, neg, 4, true);
  assertClose(read(wpair), [0, .125, .125, .125, .125, 0, .125, .125, .125, .125, 0, .125, .125, .125, .125, 0]);
  assertClose(read(sim), [1, .8, .6, 0, .8, 1, .96, .6, .6, .96, 1, .8, 0, .6, .8, 1], { atol: 1e-6 });
  const sim2 = pairMatrix(t2(V3.f2), y, undefined, "cosine").sim;
  const add = boostedDeviance([sim, sim2], neg, wpair, { ...P, style: "additive" });
  assertClose(read(add.learners[0]), 4.236050825, { atol: 1e-5 });
  assertClose(
    read(add.weights[1]),
    [
      [.363547, .369119, .900332, .238406],
      [.369119, .363547, 1.413644, .900332],
      [.900332, 1.413644, .363547, .369119],
      [.238406, .900332, .369119, .363547],
    ].flat(),
    { atol: 1e-6 },
  );
  assertClose(read(add.learners[1]), 0.038884303, { atol: 1e-6 });
  assertClose(read(add.total), 4.274935128, { atol: 1e-5 });
  const eta = boostedDeviance([sim, sim2], neg, wpair, { ...P, style: "eta" });
  assertClose(read(eta.total), 4.273378688, { atol: 1e-5 });
  // The same through the loss component.
  const loss = new BierLoss(opts({ groups: [2, 2] }));
  const l = loss.compute(t2(v3e()), y);
  assertClose(read(l), 4.274935128, { atol: 1e-5 });
  assertClose(read(loss.terms()["learner-2"]), 0.038884303, { atol: 1e-6 });
  loss.dispose();
});

Deno.test("V3: test embedding — each learner normalised and scaled by d_m/Σd, R@1 = 1", () => {
  const out = ensembleEmbedding(t2(v3e()), [2, 2]);
  assertClose(read(out), [.5, 0, .3, .4, .4, .3, .4, .3, .3, .4, 0, -.5, 0, .5, .353553, -.353553].flat(), {
    atol: 1e-6,
  });
  const s = tf.matMul(out, out, false, true).arraySync() as number[][];
  const nn = s.map((r, i) => r.map((v, j) => (i === j ? -Infinity : v)).reduce((b, v, j, a) => (v > a[b] ? j : b), 0));
  assert.deepEqual(nn, [1, 0, 3, 2]);
  // Default scales of 96/160/256 and custom ones through the loss.
  const loss = new BierLoss(opts({ groups: [1, 3], testScales: [2, 0.5] }));
  assertClose(read(loss.evalTransform(t2([[-3, 0, 3, 4]]))), [-2, 0, 0.3, 0.4], { atol: 1e-6 });
  const e = tf.randomNormal([3, 512], 0, 1, "float32", 1) as Tensor2D;
  const t = new BierLoss(opts({})).evalTransform(e);
  const norms = read(tf.norm(tf.slice(t, [0, 0], [3, 96]), "euclidean", 1));
  assertClose(norms, [0.1875, 0.1875, 0.1875], { atol: 1e-6 });
  assertClose(read(tf.norm(tf.slice(t, [0, 256], [3, 256]), "euclidean", 1)), [0.5, 0.5, 0.5], { atol: 1e-6 });
});

Deno.test("V4/V5/V6: activation term closed form, unit-norm penalty axes, adversarial agreement", () => {
  assertClose(read(activationLoss([t2(V3.f1), t2(V3.f2)])), 3.5, { atol: 1e-5 });
  // Closed form == the code's literal mean over (n, k, l) on random activations.
  const rng = new Rng(3);
  const r = [randn(rng, 5, 3), randn(rng, 5, 4), randn(rng, 5, 2)];
  let literal = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = i + 1; j < 3; j++) {
      let s = 0;
      for (let n = 0; n < 5; n++) for (const a of r[i][n]) for (const b of r[j][n]) s += (a * b) ** 2;
      literal += s / (5 * r[i][0].length * r[j][0].length);
    }
  }
  assertClose(read(activationLoss(r.map(t2))), literal, { rtol: 1e-5 });
  const W = t2([[1, 1], [0, 2]]);
  assertClose(read(unitNormPenalty(W, "outputs")), 8.0);
  assertClose(read(unitNormPenalty(W, "inputs")), 5.0);
  assertClose(read(agreementLoss(t2([[1, 2]]), t2([[0.5, -1]]))), -2.125);
});

// ---------- float64 reference on random batches ----------

Deno.test("boosted deviance matches the float64 reference on random batches (additive / eta, both normalisers)", () => {
  const rng = new Rng(11);
  for (const style of ["additive", "eta"] as const) {
    for (const countDiagonal of [true, false]) {
      const groups = [3, 5, 8];
      const y = randLabels(rng, 12, 4);
      const e = randn(rng, 12, 16);
      const ref = refBoost(blocksOf(e, groups), y, { style, countDiagonal });
      const loss = new BierLoss(opts({ groups, style, countDiagonal }));
      const got = loss.compute(t2(e), labels(y));
      assertClose(read(got), ref.total, { rtol: 1e-4, msg: `${style} ${countDiagonal}` });
      ref.learners.forEach((l, m) => assertClose(read(loss.terms()[`learner-${m + 1}`]), l, { rtol: 1e-4 }));
      loss.dispose();
    }
  }
});

Deno.test("boosting weights are constants: the gradient equals the reference's with the weights frozen", () => {
  const rng = new Rng(5);
  const groups = [3, 4];
  const y = [0, 0, 1, 1, 2, 2, 0, 1];
  const e = randn(rng, 8, 7);
  for (const style of ["additive", "eta"] as const) {
    const frozen = refBoost(blocksOf(e, groups), y, { style, countDiagonal: true }).w;
    const f = (flat: number[]) => {
      const rows = Array.from({ length: 8 }, (_, i) => flat.slice(i * 7, i * 7 + 7));
      return refBoost(blocksOf(rows, groups), y, { style, countDiagonal: true, frozen }).total;
    };
    const loss = new BierLoss(opts({ groups, style }));
    const g = tf.grad((x: Tensor) => loss.compute(x as Tensor2D, labels(y)))(t2(e));
    const flat = e.flat();
    const h = 1e-5;
    const num = flat.map((_, i) => {
      const p = flat.slice(), m = flat.slice();
      p[i] += h;
      m[i] -= h;
      return (f(p) - f(m)) / (2 * h);
    });
    assertClose(read(g), num, { atol: 2e-4, rtol: 2e-3, msg: style });
    loss.dispose();
  }
});

Deno.test("a memory reference: the self slot is excluded and the diagonal counted as in the batch case", () => {
  const rng = new Rng(8);
  const groups = [4, 4];
  const y = [0, 1, 0, 1, 2, 2];
  const e = randn(rng, 6, 8);
  const loss = new BierLoss(opts({ groups }));
  const batch = read(loss.compute(t2(e), labels(y)));
  const selfIndex = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const viaRef = read(loss.compute(t2(e), labels(y), { e: t2(e), y: labels(y), selfIndex }));
  assertClose(viaRef, batch, { rtol: 1e-6 });
  loss.dispose();
});

// ---------- gradient reversal, adversarial loss ----------

Deno.test("gradient reversal flips the sign; stop-gradient zeroes it; forward is identity", () => {
  const x = tf.tensor1d([1, -2, 3]);
  const c = tf.tensor1d([0.5, 2, -1]);
  assertClose(read(reverseGradient(x)), [1, -2, 3]);
  assertClose(read(tf.grad((v: Tensor) => tf.sum(tf.mul(reverseGradient(v), c)))(x)), [-0.5, -2, 1]);
  assertClose(read(tf.grad((v: Tensor) => tf.sum(tf.mul(stopGradient(v), c)))(x)), [0, 0, 0]);
});

Deno.test("adversarial loss: the regressors descend the agreement loss, the embedding ascends it", () => {
  const rng = new Rng(2);
  const groups = [3, 5];
  const adv = new AdversarialRegressors(groups, 6, 2, new Rng(1));
  assert.deepEqual(adv.pairs, [[0, 1]]);
  assert.deepEqual(adv.weights.map((w) => w.shape), [[5, 6], [6], [6, 3], [3]]);
  const r1 = t2(randn(rng, 4, 3)), r2 = t2(randn(rng, 4, 5));
  const plain = (a: Tensor2D, b: Tensor2D) => agreementLoss(a, adv.regressors[0].apply(b));
  const [g1, g2] = tf.grads((a: Tensor, b: Tensor) => adv.loss([a as Tensor2D, b as Tensor2D], 7))([r1, r2]);
  const [p1, p2] = tf.grads((a: Tensor, b: Tensor) => plain(a as Tensor2D, b as Tensor2D))([r1, r2]);
  assertClose(read(g1), read(tf.neg(p1)), { atol: 1e-6 });
  assertClose(read(g2), read(tf.neg(p2)), { atol: 1e-6 });
  const withGrl = tf.variableGrads(() => adv.loss([r1, r2], 7), adv.weights);
  const noGrl = tf.variableGrads(
    () => tf.add(plain(r1, r2), tf.mul(7, adv.regressors[0].penalty())) as never,
    adv.weights,
  );
  for (const w of adv.weights) assertClose(read(withGrl.grads[w.name]), read(noGrl.grads[w.name]), { atol: 1e-6 });
  // The penalty: unit-norm rows (axis 1) plus the bias hinge, per layer.
  const layer = adv.regressors[0].layers[0];
  const rows = layer.kernel.arraySync() as number[][];
  const expect = rows.reduce((s, r) => s + (r.reduce((a, v) => a + v * v, 0) - 1) ** 2, 0) / rows.length;
  assertClose(read(layer.penalty()), expect, { rtol: 1e-5 });
  adv.dispose();
});

// ---------- the head, the regulariser view, the initialisation stage ----------

/** x -> relu(x A) = h -> h W + b: a backbone whose head (headWeights) is [W, b]. */
class ToyBackbone implements Backbone {
  readonly trainableWeights: Variable[];
  constructor(readonly dim: number, inDim: number, hidden: number, seed: number) {
    const r = new Rng(seed);
    const init = (a: number, b: number, s: number) => tf.variable(tf.mul(t2(randn(r, a, b)), s), true);
    this.trainableWeights = [init(inDim, hidden, 0.5), init(hidden, dim, 0.3), tf.variable(tf.fill([dim], 0.2))];
  }
  get headWeights(): Variable[] {
    return this.trainableWeights.slice(1);
  }
  features(x: Tensor): Tensor2D {
    return tf.tidy(() => tf.relu(tf.matMul(x as Tensor2D, this.trainableWeights[0])) as Tensor2D);
  }
  embed(x: Tensor): Tensor2D {
    return tf.tidy(() => this.embedWithFeatures(x).e);
  }
  embedWithFeatures(x: Tensor): { e: Tensor2D; features: Tensor2D } {
    const [, W, b] = this.trainableWeights;
    return tf.tidy(() => {
      const features = this.features(x);
      return { e: tf.add(tf.matMul(features, W), b) as Tensor2D, features };
    });
  }
}

function toyData(n: number, inDim: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = t2(randn(rng, n, inDim));
  const lab = Int32Array.from({ length: n }, (_, i) => i % 4);
  return {
    size: n,
    labels: lab,
    classes: 4,
    shape: [inDim],
    batch: (idx) => tf.tidy(() => tf.gather(x, tf.tensor1d(idx, "int32"))),
  };
}

function toyContext(backbone: Backbone, data: Dataset, log: Record<string, unknown>[]): TrainContext {
  return {
    step: 0,
    epoch: 0,
    epochs: 1,
    rng: new Rng(4),
    data: { train: data, test: data },
    backbone,
    embedAll: () => Promise.reject(new Error("not used")),
    shared: new Map(),
    log: (r) => log.push(r),
    say: () => {},
  };
}

/** ∂L_act/∂r_m in float64, from L_act = Σ_{i<j} 1/(B d_i d_j) Σ_n ‖r_i[n]‖² ‖r_j[n]‖². */
function refActivationGrad(r: number[][][]): number[][][] {
  const B = r[0].length;
  const sq = r.map((x) => x.map((row) => row.reduce((a, v) => a + v * v, 0)));
  return r.map((x, i) =>
    x.map((row, n) =>
      row.map((v) => {
        let g = 0;
        r.forEach((_, j) => {
          if (j !== i) g += (2 * v * sq[j][n]) / (B * r[i][0].length * r[j][0].length);
        });
        return g;
      })
    )
  );
}

Deno.test("regulariser view = sg(h) W_m: its gradient reaches W_m only; the embedding view also reaches the backbone", () => {
  const net = new ToyBackbone(6, 5, 4, 1);
  const [A] = net.trainableWeights;
  const head = embeddingHead(net);
  assert.equal(head.kernel, net.trainableWeights[1]);
  assert.equal(head.bias, net.trainableWeights[2]);
  const x = t2(randn(new Rng(2), 3, 5));
  const groups = [2, 4];
  const h = net.features(x);
  const hw = read(tf.matMul(h, head.kernel));
  assertClose(read(tf.concat(regularizerView(h, head, groups), 1)), hw, { atol: 1e-6 });
  assertClose(read(tf.concat(embeddingView(net.embed(x), head, groups), 1)), hw, { atol: 1e-5 });
  const vars = [A, head.kernel, head.bias!];
  const official = tf.variableGrads(() => {
    const { features } = net.embedWithFeatures(x);
    return activationLoss(regularizerView(features, head, groups));
  }, vars).grads;
  const old = tf.variableGrads(() => activationLoss(embeddingView(net.embed(x), head, groups)), vars).grads;
  // W_m gets hᵀ ∂L/∂r_m in both forms (float64 reference); the bias nothing in either.
  const hv = h.arraySync() as number[][];
  const G = refActivationGrad(blocksOf(
    hv.map((row) => {
      const W = head.kernel.arraySync() as number[][];
      return W[0].map((_, k) => row.reduce((a, v, f) => a + v * W[f][k], 0));
    }),
    groups,
  ));
  const Gcat = G[0].map((row, n) => [...row, ...G[1][n]]);
  const dW = hv[0].map((_, f) => Gcat[0].map((_, k) => hv.reduce((a, row, n) => a + row[f] * Gcat[n][k], 0)));
  for (const g of [official, old]) {
    assertClose(read(g[head.kernel.name]), dW.flat(), { rtol: 1e-4, atol: 1e-7 });
    const gb = g[head.bias!.name]; // none at all, or zeros
    if (gb) assertClose(read(gb), new Array(6).fill(0), { atol: 1e-6 });
  }
  // The difference: the official view leaves the layers below the head alone.
  assert.ok(read(official[A.name]).every((v) => v === 0), "official: no gradient below the head");
  assert.ok(Math.max(...read(old[A.name]).map(Math.abs)) > 1e-3, "embedding view: the backbone gets a gradient");
  const ks = learnerKernels(head, groups);
  assert.deepEqual(ks.map((k) => k.shape), [[4, 2], [4, 4]]);
  // A backbone that names no dense head is refused with one clear line.
  const odd = { dim: 6, trainableWeights: [tf.variable(tf.zeros([3, 3]))], embed: net.embed } as Backbone;
  assert.throws(() => embeddingHead(odd), DmlError);
  const wide = { ...odd, headWeights: [tf.variable(tf.zeros([3, 5]))] } as Backbone;
  assert.throws(() => embeddingHead(wide), /headWeights: kernel \[F, 6\].*\[3, 5\]/);
});

Deno.test("BIER in training: with diversityInput features (default) the diversity loss moves no weight below the head", () => {
  const net = new ToyBackbone(8, 6, 10, 3);
  const [A, W, b] = net.trainableWeights;
  const x = t2(randn(new Rng(6), 8, 6));
  const y = labels([0, 0, 1, 1, 2, 2, 3, 3]);
  const gradsOf = (o: Partial<BierOptions>) => {
    const loss = new BierLoss(opts({ groups: [3, 5], ...o }), new Rng(1));
    loss.bindBackbone(net);
    const { grads } = tf.variableGrads(() => {
      const { e, features } = net.embedWithFeatures(x);
      return loss.compute(e, y, undefined, loss.usesFeatures ? features : undefined);
    }, [A, W, b, ...loss.trainableWeights]);
    loss.dispose();
    return grads;
  };
  const boostOnly = gradsOf({});
  for (const diversity of ["activation", "adversarial"] as const) {
    const div = { diversity, lambdaDiv: 0.5, lambdaWeight: 0.01, adversarialHidden: 8 };
    const official = gradsOf({ ...div });
    const old = gradsOf({ ...div, diversityInput: "embedding" });
    assertClose(read(official[A.name]), read(boostOnly[A.name]), { atol: 1e-7 });
    assert.ok(
      read(old[A.name]).some((v, i) => Math.abs(v - read(boostOnly[A.name])[i]) > 1e-5),
      `${diversity}: the embedding view reaches the backbone`,
    );
    // Both forms give the head's kernel the same diversity gradient, and the bias none.
    assertClose(read(official[W.name]), read(old[W.name]), { rtol: 1e-4, atol: 1e-6 });
    assertClose(read(official[b.name]), read(boostOnly[b.name]), { atol: 1e-6 });
    assert.ok(read(official[W.name]).some((v, i) => Math.abs(v - read(boostOnly[W.name])[i]) > 1e-5));
  }
  // Features it needs but is not given: one clear line.
  const loss = new BierLoss(opts({ groups: [3, 5], diversity: "activation", lambdaDiv: 0.5 }), new Rng(1));
  loss.bindBackbone(net);
  assert.ok(loss.usesFeatures);
  assert.throws(() => loss.compute(net.embed(x), y), /diversityInput: features needs/);
  const noFeatures = { dim: 8, trainableWeights: net.trainableWeights, headWeights: net.headWeights, embed: net.embed };
  assert.throws(() => loss.bindBackbone(noFeatures as Backbone), /set loss\.diversityInput: embedding/);
  loss.dispose();
});

Deno.test("initialisation stage: only the head kernel moves, and L_div goes down", async () => {
  for (const kind of ["activation", "adversarial"] as const) {
    const net = new ToyBackbone(8, 6, 10, 3);
    const data = toyData(64, 6, 9);
    const log: Record<string, unknown>[] = [];
    const loss = new BierLoss(
      opts({
        groups: [3, 5],
        diversity: kind,
        lambdaDiv: 0,
        lambdaWeight: 1,
        adversarialHidden: 8,
        initSteps: 60,
        initLr: 0.02,
        initBatchSize: 16,
        correlationSamples: 64,
      }),
      new Rng(1),
    );
    const before = net.trainableWeights.map((w) => read(w));
    await loss.onTrainStart(toyContext(net, data, log));
    const after = net.trainableWeights.map((w) => read(w));
    assert.deepEqual(after[0], before[0], `${kind}: the layers below the head are frozen`);
    assert.deepEqual(after[2], before[2], `${kind}: the head's bias is not touched`);
    assert.notDeepEqual(after[1], before[1]);
    const init = log.find((r) => r.type === "bier-init")!;
    assert.ok((init["div-end"] as number) < (init["div-start"] as number), `${kind}: ${JSON.stringify(init)}`);
    const corr = log.find((r) => r.type === "bier")!;
    assert.ok(typeof corr["learner-corr"] === "number" && (corr["learner-corr-pairs"] as number[]).length === 1);
    loss.dispose();
  }
});

Deno.test("diversity during training: loss = boost + λ_div L_div, and terms sum to it", () => {
  const net = new ToyBackbone(8, 6, 10, 3);
  const x = t2(randn(new Rng(6), 8, 6));
  const y = labels([0, 0, 1, 1, 2, 2, 3, 3]);
  for (const kind of ["activation", "adversarial"] as const) {
    const loss = new BierLoss(opts({ groups: [3, 5], diversity: kind, lambdaDiv: 0.1, lambdaWeight: 2 }), new Rng(1));
    loss.bindBackbone(net);
    const { e, features } = net.embedWithFeatures(x);
    const total = read(loss.compute(e, y, undefined, features))[0];
    const parts = Object.values(loss.terms()).reduce((s, t) => s + read(t)[0], 0);
    assertClose(total, parts, { rtol: 1e-5 });
    const boost = new BierLoss(opts({ groups: [3, 5] })).compute(e, y);
    const head = embeddingHead(net);
    const div = new Diversity(kind, { lambdaWeight: 2, normAxis: "code", hidden: 512, layers: 2 }, [3, 5], new Rng(1));
    const expect = read(boost)[0] +
      0.1 * read(div.loss(regularizerView(features, head, [3, 5]), learnerKernels(head, [3, 5])).total)[0];
    assertClose(total, expect, { rtol: 1e-5 });
    assert.equal(loss.trainableWeights.length, kind === "adversarial" ? 4 : 0);
    loss.dispose();
  }
});

// ---------- correlation ----------

Deno.test("learner correlation: identical learners give 1, independent ones near 0", () => {
  const rng = new Rng(12);
  const a = randn(rng, 400, 2);
  const same = learnerCorrelation(t2(a.map((r) => [r[0], r[0], -2 * r[0]])), [1, 2]);
  assertClose(same.mean, 1, { atol: 1e-5 });
  const indep = learnerCorrelation(t2(a), [1, 1]);
  assert.ok(indep.mean < 0.15, `${indep.mean}`);
  const three = learnerCorrelation(t2(a.map((r) => [r[0], r[0], r[1]])), [1, 1, 1]);
  assert.equal(three.pairs.length, 3);
  assertClose(three.pairs[0], 1, { atol: 1e-5 });
});

// ---------- the component: options and bad input ----------

Deno.test("registry: defaults, and bad input gives one clear DmlError", async () => {
  const reg = new Registry();
  reg.register(plugin);
  const loss = await reg.create<BierLoss>("loss", "bier", {}, { dim: 512 });
  assert.deepEqual(loss.o.groups, [96, 160, 256]);
  assert.equal(loss.o.style, "additive");
  const bad = async (o: Record<string, unknown>, re: RegExp, dim = 512) =>
    await assert.rejects(
      () => reg.create("loss", "bier", o, { dim }),
      (e: Error) => e instanceof DmlError && re.test(e.message),
    );
  await bad({ groups: [96, 160, 200] }, /loss\.groups: .*456 must sum to the backbone's dim 512/);
  await bad({ groups: [96, 0, 416] }, /loss\.groups: learner 2 has size 0/);
  await bad({ groups: [96, -1, 417] }, /loss\.groups: expected a list of integers >= 0/);
  await bad({ testScales: [0.5, -1, 1] }, /loss\.testScales: expected a list of numbers >= 0/);
  await bad({ testScales: [1, 1] }, /loss\.testScales: 2 weights for 3 learners/);
  await bad({ lambdaDiv: -1 }, /loss\.lambdaDiv: expected a number >= 0/);
  await bad({ lambdaWeight: -5 }, /loss\.lambdaWeight: expected a number >= 0/);
  await bad({ style: "convex" }, /loss\.style: expected one of additive, eta/);
  await bad({ groups: [512], diversity: "activation" }, /needs at least two learners/);
  await bad({ initSteps: 10 }, /loss\.initSteps: .*set loss\.diversity/);
  await bad({ correlationGroups: [100] }, /loss\.correlationGroups: sums to 100/);
  // An embedding of the wrong width at compute time.
  assert.throws(() => loss.compute(tf.zeros([4, 100]) as Tensor2D, labels([0, 0, 1, 1])), DmlError);
});

Deno.test("a backbone that L2-normalises its output is refused when a diversity loss is on", async () => {
  class Normalised extends ToyBackbone {
    override embed(x: Tensor): Tensor2D {
      return tf.tidy(() => {
        const e = super.embed(x);
        return tf.div(e, tf.norm(e, "euclidean", 1, true)) as Tensor2D;
      });
    }
  }
  const net = new Normalised(8, 6, 10, 3);
  const loss = new BierLoss(opts({ groups: [3, 5], diversity: "activation" }), new Rng(1));
  await assert.rejects(
    () => loss.onTrainStart(toyContext(net, toyData(16, 6, 1), [])),
    (e: Error) => e instanceof DmlError && /normalize: false/.test(e.message),
  );
});

// ---------- leaks and backends ----------

Deno.test("no tensor leak: a training step with the adversarial loss, the eval transform, correlation", async () => {
  const net = new ToyBackbone(8, 6, 10, 3);
  const x = t2(randn(new Rng(6), 8, 6));
  const y = labels([0, 0, 1, 1, 2, 2, 3, 3]);
  const loss = new BierLoss(opts({ groups: [3, 5], diversity: "adversarial", lambdaDiv: 0.1 }), new Rng(1));
  loss.bindBackbone(net);
  const vars = [...net.trainableWeights, ...loss.trainableWeights];
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const { e, features } = net.embedWithFeatures(x);
      return loss.compute(e, y, undefined, features);
    }, vars);
    value.dispose();
    tf.dispose(grads);
  };
  step(); // the first step allocates the kept terms
  await assertNoLeak(step, "training step");
  const e = net.embed(x);
  await assertNoLeak(() => tf.dispose(loss.evalTransform(e)), "evalTransform");
  await assertNoLeak(() => learnerCorrelation(e, [3, 5]), "learnerCorrelation");
  const data = toyData(16, 6, 1);
  await assertNoLeak(() => loss.onTrainStart(toyContext(net, data, [])), "onTrainStart");
  loss.dispose();
  const init = new BierLoss(opts({ groups: [3, 5], diversity: "adversarial", initSteps: 3, initBatchSize: 4 }));
  await assertNoLeak(() => init.onTrainStart(toyContext(net, data, [])), "onTrainStart with the init stage");
  init.dispose();
});

Deno.test("the loss agrees across backends", async () => {
  const rng = new Rng(21);
  const e = randn(rng, 16, 12);
  const y = randLabels(rng, 16, 4);
  const values: number[] = [];
  for (const backend of await testBackends()) {
    values.push(
      await onBackend(backend, async () => {
        const loss = new BierLoss(opts({ groups: [2, 4, 6] }));
        const v = (await loss.compute(t2(e), labels(y)).data())[0];
        loss.dispose();
        return v;
      }),
    );
  }
  const ref = refBoost(blocksOf(e, [2, 4, 6]), y, { style: "additive", countDiagonal: true }).total;
  for (const v of values) assertClose(v, ref, { rtol: 1e-4 });
});

// ---------- with the built-in components ----------

Deno.test("one learner is the built-in binomial deviance with countSelf (the experiment's baseline)", async () => {
  const reg = createRegistry();
  const rng = new Rng(31);
  const e = t2(randn(rng, 12, 10)), y = labels(randLabels(rng, 12, 3));
  const bier = await reg.create<BierLoss>("loss", "bier", { groups: [10] }, { dim: 10 });
  const bd = await reg.create<Loss>("loss", "binomial-deviance", { countSelf: true, alpha: 2, beta: 0.5, negCost: 25 });
  assertClose(read(bier.compute(e, y)), read(bd.compute(e, y)), { rtol: 1e-5 });
  bier.dispose();
});

Deno.test("the built-in backbones end with the dense head BIER's diversity losses assume", async () => {
  const reg = createRegistry();
  const x = tf.randomUniform([2, 96, 96, 3]) as Tensor;
  const builds: Array<[string, Record<string, unknown>, number[]]> = [
    ["mlp", { hidden: [16], dim: 8, normalize: false }, [28, 28, 1]],
    ["convnet", { channels: [4], dim: 8, normalize: false }, [28, 28, 1]],
    ["bn-inception", { slim: 16, dim: 8, normalize: false }, [96, 96, 3]],
  ];
  for (const [name, o, inputShape] of builds) {
    const net = await reg.create<Backbone>("backbone", name, o, { inputShape, rng: new Rng(0) });
    const input = inputShape[0] === 96 ? x : tf.randomUniform([2, ...inputShape]);
    const head = embeddingHead(net);
    assert.deepEqual(head.bias?.shape, [8], name);
    verifyHead(net, head, input);
    const both = net.embedWithFeatures!(input, false);
    assert.deepEqual(read(both.e), read(net.embed(input, false)), name);
    assert.deepEqual(read(both.features), read(net.features!(input, false)), name);
    const normalised = await reg.create<Backbone>("backbone", name, { ...o, normalize: true }, {
      inputShape,
      rng: new Rng(0),
    });
    assert.throws(() => verifyHead(normalised, embeddingHead(normalised), input), /normalize: false/, name);
  }
});

Deno.test("the BIER recipes resolve, and their learners sum to the backbone's dim", async () => {
  for (const path of ["bier.yaml", "papers/bier-cub.yaml", "papers/bier-cars.yaml", "papers/bier-sop.yaml"]) {
    const recipe = await resolveRecipe(await loadRecipe(`recipes/${path}`), createRegistry());
    const loss = recipe.loss as unknown as { use: string; groups: number[] };
    const backbone = recipe.backbone as unknown as { dim: number; normalize: boolean };
    assert.equal(loss.use, "bier", path);
    assert.equal(loss.groups.reduce((a, b) => a + b, 0), backbone.dim, path);
    assert.equal(backbone.normalize, false, path);
  }
});
