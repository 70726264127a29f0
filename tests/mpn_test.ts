/**
 * Tests of the `mpn` plugin against the spec's fixtures (shared/design/methods/mpn.md §4, §12)
 * and an independent float64 re-implementation of the whole MPN objective.
 */
import assert from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { Evaluator, Loss, Split, TrainContext } from "../core/types.ts";
import type { Tensor, Tensor3D, Variable } from "@tensorflow/tfjs-core";
import { assertClose, assertNoLeak, numericGrad, onBackend, randLabels, randn, testBackends } from "./util.ts";
import { type AttentionWeights, attentionWeights, multiHeadAttention } from "../plugins/mpn/attention.ts";
import { layerNorm } from "../plugins/mpn/block.ts";
import { labelSmoothedCrossEntropy } from "../plugins/mpn/label_smoothing.ts";
import { MpnLoss, type MpnLossConfig } from "../plugins/mpn/loss.ts";
import { DEFAULT_NETWORK, MessagePassingNetwork } from "../plugins/mpn/network.ts";
import { reciprocalGalleryGraphs, reciprocalGraphs } from "../plugins/mpn/reciprocal.ts";
import { refineSplit } from "../plugins/mpn/refine_evaluator.ts";
import mpnPlugin, { MPN_SHARED_KEY } from "../plugins/mpn/mod.ts";

// ---------------------------------------------------------------------------------------------
// float64 reference (plain TypeScript, written from the spec, independent of the plugin)

type M = number[][];
const matmul = (a: M, b: M): M => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const addRow = (a: M, b: number[]): M => a.map((r) => r.map((v, j) => v + b[j]));
const add = (a: M, b: M): M => a.map((r, i) => r.map((v, j) => v + b[i][j]));
const transpose = (a: M): M => a[0].map((_, j) => a.map((r) => r[j]));
const cols = (a: M, from: number, to: number): M => a.map((r) => r.slice(from, to));

function softmaxRowRef(s: number[], sink: boolean): number[] {
  const ex = s.map(Math.exp);
  const z = ex.reduce((a, b) => a + b, 0) + (sink ? 1 : 0);
  return ex.map((v) => v / z);
}

function layerNormRef(x: M, g: number[], b: number[]): M {
  return x.map((r) => {
    const mean = r.reduce((a, v) => a + v, 0) / r.length;
    const v = r.reduce((a, t) => a + (t - mean) ** 2, 0) / r.length;
    return r.map((t, j) => ((t - mean) / Math.sqrt(v + 1e-5)) * g[j] + b[j]);
  });
}

interface RefAttention {
  wq: M;
  bq: number[];
  wk: M;
  bk: number[];
  wv: M;
  bv: number[];
  wo: M;
  bo: number[];
}

/** Dense attention, one loop per head over contiguous slices. */
function attentionRef(h: M, w: RefAttention, heads: number, sink: boolean): { messages: M; alpha: M[] } {
  const d = h[0].length, dh = d / heads;
  const q = addRow(matmul(h, w.wq), w.bq), k = addRow(matmul(h, w.wk), w.bk), v = addRow(matmul(h, w.wv), w.bv);
  const parts: M[] = [];
  const alphas: M[] = [];
  for (let m = 0; m < heads; m++) {
    const qh = cols(q, m * dh, (m + 1) * dh), kh = cols(k, m * dh, (m + 1) * dh), vh = cols(v, m * dh, (m + 1) * dh);
    const s = matmul(qh, transpose(kh)).map((r) => r.map((x) => x / Math.sqrt(dh)));
    const alpha = s.map((r) => softmaxRowRef(r, sink));
    alphas.push(alpha);
    parts.push(matmul(alpha, vh));
  }
  const cat = h.map((_, i) => parts.flatMap((p) => p[i]));
  return { messages: addRow(matmul(cat, w.wo), w.bo), alpha: alphas };
}

interface RefStep {
  att: RefAttention;
  ln1g: number[];
  ln1b: number[];
  w1: M;
  b1: number[];
  w2: M;
  b2: number[];
  ln2g: number[];
  ln2b: number[];
}

function stepRef(h: M, p: RefStep, heads: number, sink: boolean): M {
  const h1 = layerNormRef(add(h, attentionRef(h, p.att, heads, sink).messages), p.ln1g, p.ln1b);
  const hidden = addRow(matmul(h1, p.w1), p.b1).map((r) => r.map((v) => Math.max(v, 0)));
  const f = addRow(matmul(hidden, p.w2), p.b2);
  return layerNormRef(add(h1, f), p.ln2g, p.ln2b);
}

function lsceRef(logits: M, y: number[], eps: number, t: number): number {
  const c = logits[0].length;
  let total = 0;
  logits.forEach((r, i) => {
    const z = r.map((v) => v / t);
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
    z.forEach((v, j) => total -= ((j === y[i] ? 1 - eps : 0) + eps / c) * (v - lse));
  });
  return total / logits.length;
}

interface RefModel {
  bbW: M;
  bbB: number[];
  projW: M;
  projB: number[];
  steps: RefStep[];
  gamma: number[];
  headW: M;
}

interface RefConfig {
  heads: number;
  sink: boolean;
  concat: boolean;
  t: number;
  eps: number;
  wBb: number;
  wMpn: number;
}

function mpnFeaturesRef(x: M, p: RefModel, c: RefConfig): M {
  let h = addRow(matmul(x, p.projW), p.projB);
  const outs: M[] = [];
  for (const s of p.steps) outs.push(h = stepRef(h, s, c.heads, c.sink));
  return c.concat ? h.map((_, i) => outs.flatMap((o) => o[i])) : h;
}

function lossRef(e: M, y: number[], p: RefModel, c: RefConfig): number {
  const bb = lsceRef(addRow(matmul(e, p.bbW), p.bbB), y, c.eps, c.t);
  const x = e.map((r) => {
    const n = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
    return r.map((v) => v / n);
  });
  const f = mpnFeaturesRef(x, p, c);
  // BatchNorm with batch statistics (biased variance), bias frozen at 0.
  const d = f[0].length;
  const mean = Array.from({ length: d }, (_, j) => f.reduce((a, r) => a + r[j], 0) / f.length);
  const vars = Array.from({ length: d }, (_, j) => f.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / f.length);
  const bn = f.map((r) => r.map((v, j) => ((v - mean[j]) / Math.sqrt(vars[j] + 1e-5)) * p.gamma[j]));
  return c.wBb * bb + c.wMpn * lsceRef(matmul(bn, p.headW), y, c.eps, c.t);
}

/** Reads the loss's variables (in its documented order) into the reference's structure. */
function refModelOf(vars: number[][][], layers: number): RefModel {
  // vars[i] is a matrix (weights) or [vector] (biases); unwrap vectors.
  let i = 0;
  const m = () => vars[i++];
  const v = () => vars[i++][0];
  const model: RefModel = { bbW: m(), bbB: v(), projW: m(), projB: v(), steps: [], gamma: [], headW: [] };
  for (let l = 0; l < layers; l++) {
    const att = { wq: m(), bq: v(), wk: m(), bk: v(), wv: m(), bv: v(), wo: m(), bo: v() };
    model.steps.push({ att, ln1g: v(), ln1b: v(), w1: m(), b1: v(), w2: m(), b2: v(), ln2g: v(), ln2b: v() });
  }
  model.gamma = v();
  model.headW = m();
  return model;
}

function asMatrices(weights: Tensor[]): number[][][] {
  return weights.map((w) => {
    const data = Array.from(w.dataSync());
    if (w.rank === 1) return [data];
    const [r, c] = w.shape;
    return Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
  });
}

function config(over: Partial<MpnLossConfig> = {}): MpnLossConfig {
  return {
    ...DEFAULT_NETWORK,
    inDim: 8,
    dim: 8,
    classes: 4,
    temperature: 0.5,
    labelSmoothing: 0.1,
    backboneWeight: 1,
    mpnWeight: 1,
    ...over,
  };
}

/** Overwrites every variable with N(0, scale²) so each part of the model has sizeable gradients. */
function randomize(vars: Variable[], rng: Rng, scale = 0.5): void {
  for (const v of vars) {
    const data = Float32Array.from({ length: v.size }, () => rng.normal() * scale);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
}

// ---------------------------------------------------------------------------------------------
// spec fixtures

function identityAttention(d: number): AttentionWeights {
  const eye = tf.eye(d), zero = tf.zeros([d]);
  return { wq: eye, bq: zero, wk: eye, bk: zero, wv: eye, bv: zero, wo: eye, bo: zero };
}

function fixtureMessages(x: number[][], heads: number, sinkLogit: boolean): Float32Array {
  return tf.tidy(() => {
    const h = tf.tensor3d([x]);
    return multiHeadAttention(h, identityAttention(x[0].length), { heads, sinkLogit }).dataSync() as Float32Array;
  });
}

Deno.test("label-smoothed CE matches the spec's check values (0.880600 at T=1, 1.950041 at T=0.2)", () => {
  tf.tidy(() => {
    const logits = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 0]]);
    const y = tf.tensor1d([0, 2], "int32");
    assertClose(labelSmoothedCrossEntropy(logits, y, 0.1, 1).dataSync()[0], 0.8806, { atol: 1e-5 });
    assertClose(labelSmoothedCrossEntropy(logits, y, 0.1, 0.2).dataSync()[0], 1.950041, { atol: 1e-5 });
  });
});

Deno.test("attention example A (n=3, D=2, H=1): weights and messages, plain and sink", () => {
  const x = [[1, 0], [0, 1], [1, 1]];
  const alpha = (sinkLogit: boolean) =>
    tf.tidy(() => attentionWeights(tf.tensor3d([x]), identityAttention(2), { heads: 1, sinkLogit }).dataSync());
  assertClose(alpha(false), [.401112, .197776, .401112, .197776, .401112, .401112, .248255, .248255, .503490], {
    atol: 1e-5,
  });
  assertClose(alpha(true), [.334881, .165119, .334881, .165119, .334881, .334881, .221181, .221181, .448581], {
    atol: 1e-5,
  });
  assertClose(fixtureMessages(x, 1, false), [.802224, .598888, .598888, .802224, .751745, .751745], { atol: 1e-5 });
  assertClose(fixtureMessages(x, 1, true), [.669762, .5, .5, .669762, .669762, .669762], { atol: 1e-5 });
});

Deno.test("attention example C (n=3, D=3, H=1): messages and LayerNorm(X + M), plain and sink", () => {
  const x = [[1, 0, 0], [0, 2, 0], [1, 1, 1]];
  const cases = {
    plain: {
      m: [.780828, .828758, .390414, .293023, 1.636760, .222805, .700840, 1.131216, .532897],
      ln: [1.345295, -.295034, -1.050261, -.684952, 1.413982, -.729029, -.347142, 1.360746, -1.013603],
    },
    sink: {
      m: [.640457, .679771, .320229, .273797, 1.529371, .208187, .640457, 1.033753, .486984],
      ln: [1.364257, -.359555, -1.004702, -.685840, 1.414000, -.728159, -.347137, 1.360724, -1.013587],
    },
  };
  for (const [name, want] of Object.entries(cases)) {
    const sinkLogit = name === "sink";
    assertClose(fixtureMessages(x, 1, sinkLogit), want.m, { atol: 1e-5, msg: name });
    const ln = tf.tidy(() => {
      const h = tf.tensor3d([x]);
      const m = multiHeadAttention(h, identityAttention(3), { heads: 1, sinkLogit });
      return layerNorm(tf.add(h, m), tf.ones([3]), tf.zeros([3])).dataSync();
    });
    assertClose(ln, want.ln, { atol: 1e-5, msg: `${name} LN` });
  }
});

Deno.test("attention example E (n=3, D=4, H=2): heads are contiguous slices", () => {
  const x = [[1, 0, 0, 1], [0, 2, 1, 0], [1, 1, 1, 1]];
  const plain = [
    .802224,
    .796664,
    .598888,
    .802224,
    .232082,
    1.722530,
    .802224,
    .598888,
    .598888,
    1.203336,
    .751745,
    .751745,
  ];
  const sink = [.669762, .665119, .5, .669762, .222006, 1.647741, .669762, .5, .545675, 1.096417, .669762, .669762];
  assertClose(fixtureMessages(x, 2, false), plain, { atol: 1e-5 });
  assertClose(fixtureMessages(x, 2, true), sink, { atol: 1e-5 });
});

Deno.test("attention properties: identical nodes, zero nodes, singleton batch", () => {
  tf.tidy(() => {
    // Plain softmax over n identical nodes: α = 1/n, so M_i = x_i.
    const same = tf.tensor3d([[[0.3, -1, 2], [0.3, -1, 2], [0.3, -1, 2], [0.3, -1, 2]]]);
    const w = identityAttention(3);
    assertClose(multiHeadAttention(same, w, { heads: 1, sinkLogit: false }).dataSync(), same.dataSync());
    // Sink with all-zero nodes: α = 1/(n+1).
    const zero = tf.zeros([1, 4, 3]) as Tensor3D;
    assertClose(attentionWeights(zero, w, { heads: 1, sinkLogit: true }).dataSync(), new Array(16).fill(1 / 5));
    // n = 1: plain gives v_0, sink gives v_0·e^s/(e^s+1) with s = |x|²/√d.
    const one = tf.tensor3d([[[1, 2, 0]]]);
    const s = 5 / Math.sqrt(3);
    assertClose(multiHeadAttention(one, w, { heads: 1, sinkLogit: false }).dataSync(), [1, 2, 0]);
    const f = Math.exp(s) / (Math.exp(s) + 1);
    assertClose(multiHeadAttention(one, w, { heads: 1, sinkLogit: true }).dataSync(), [f, 2 * f, 0]);
  });
});

Deno.test("MPN is permutation equivariant over the batch (eval mode)", () => {
  const rng = new Rng(3);
  const net = new MessagePassingNetwork({ ...DEFAULT_NETWORK, inDim: 8, dim: 8, heads: 2, layers: 2 }, new Rng(1));
  const x = randn(rng, 6, 8);
  const perm = [4, 2, 0, 5, 1, 3];
  const [out, outPerm] = tf.tidy(() => [
    net.forward(tf.tensor3d([x]), false).arraySync()[0],
    net.forward(tf.tensor3d([perm.map((i) => x[i])]), false).arraySync()[0],
  ]);
  perm.forEach((p, i) => assertClose(outPerm[i], out[p], { atol: 1e-5 }));
  net.dispose();
});

// ---------------------------------------------------------------------------------------------
// whole objective against the float64 reference

for (const sinkLogit of [true, false]) {
  Deno.test(`whole MPN loss equals the float64 reference (2 layers, concat, sinkLogit=${sinkLogit})`, () => {
    const rng = new Rng(11);
    const cfg = config({ layers: 2, heads: 2, concatLayers: true, sinkLogit, dropout: 0, ffnMult: 2 });
    const loss = new MpnLoss(cfg, new Rng(5));
    randomize(loss.trainableWeights, rng);
    const e = randn(rng, 6, 8), y = randLabels(rng, 6, 4);
    const got = tf.tidy(() => loss.compute(tf.tensor2d(e), tf.tensor1d(y, "int32")).dataSync()[0]);
    const model = refModelOf(asMatrices(loss.trainableWeights), 2);
    const want = lossRef(e, y, model, { heads: 2, sink: sinkLogit, concat: true, t: 0.5, eps: 0.1, wBb: 1, wMpn: 1 });
    assertClose(got, want, { atol: 1e-4, rtol: 1e-4 });
    // The refined features too.
    const feats = tf.tidy(() => loss.network!.forward(tf.tensor3d([e]), false).dataSync());
    const refFeats = mpnFeaturesRef(e, model, { heads: 2, sink: sinkLogit, concat: true } as RefConfig).flat();
    assertClose(feats, refFeats, { atol: 1e-4, rtol: 1e-4 });
    loss.dispose();
  });
}

Deno.test("gradients of the MPN loss match central differences of the float64 reference", () => {
  const rng = new Rng(21);
  const [n, d] = [4, 4];
  const cfg = config({ inDim: d, dim: d, classes: 3, heads: 2, ffnMult: 1, dropout: 0, mpnWeight: 0.7 });
  const loss = new MpnLoss(cfg, new Rng(2));
  randomize(loss.trainableWeights, rng);
  const e = randn(rng, n, d), y = [0, 1, 2, 1];
  const eVar = tf.variable(tf.tensor2d(e), true);
  const vars = [eVar, ...loss.trainableWeights];
  const { value, grads } = tf.variableGrads(() => loss.compute(eVar, tf.tensor1d(y, "int32")), vars);
  const tfGrads = vars.map((v) => Array.from(grads[v.name].dataSync()));
  // Flatten every input into one vector for the numeric gradient.
  const shapes = vars.map((v) => v.shape);
  const flat = vars.flatMap((v) => Array.from(v.dataSync()));
  const rc: RefConfig = { heads: 2, sink: true, concat: false, t: 0.5, eps: 0.1, wBb: 1, wMpn: 0.7 };
  const f = (xs: number[]) => {
    let at = 0;
    const mats = shapes.map((s) => {
      const [r, c] = s.length === 1 ? [1, s[0]] : s;
      const m = Array.from({ length: r }, (_, i) => xs.slice(at + i * c, at + (i + 1) * c));
      at += r * c;
      return m;
    });
    return lossRef(mats[0], y, refModelOf(mats.slice(1), 1), rc);
  };
  assertClose(value.dataSync()[0], f(flat), { atol: 1e-5, rtol: 1e-4 });
  const numeric = numericGrad(f, flat, 1e-5);
  assertClose(tfGrads.flat(), numeric, { atol: 2e-4, rtol: 2e-3 });
  tf.dispose([value, eVar, ...Object.values(grads)]);
  loss.dispose();
});

// ---------------------------------------------------------------------------------------------
// training behaviour

Deno.test("a training step leaks no tensor, and terms() report the weighted parts", async () => {
  const rng = new Rng(4);
  const loss = new MpnLoss(config(), new Rng(9));
  const e = tf.variable(tf.tensor2d(randn(rng, 8, 8)));
  const y = tf.tensor1d(randLabels(rng, 8, 4), "int32");
  const step = () => {
    const { value, grads } = tf.variableGrads(() => loss.compute(e, y), [e, ...loss.trainableWeights]);
    tf.dispose([value, ...Object.values(grads)]);
  };
  step(); // the first step allocates the kept terms
  await assertNoLeak(step, "mpn training step");
  const terms = loss.terms();
  assert.deepEqual(Object.keys(terms).sort(), ["backbone", "mpn"]);
  const total = tf.tidy(() => loss.compute(e, y).dataSync()[0]);
  // Dropout changes the value between calls; the parts of the same call add up.
  const parts = loss.terms();
  assertClose(parts.backbone.dataSync()[0] + parts.mpn.dataSync()[0], total, { atol: 1e-5 });
  await assertNoLeak(() => tf.tidy(() => loss.evalTransform(e)).dispose(), "evalTransform");
  tf.dispose([e, y]);
  loss.dispose();
});

Deno.test("dropout is seeded from a saved stream: restoring the state repeats the loss exactly", () => {
  const rng = new Rng(8);
  const loss = new MpnLoss(config({ dropout: 0.3 }), new Rng(6));
  const e = tf.tensor2d(randn(rng, 8, 8)), y = tf.tensor1d(randLabels(rng, 8, 4), "int32");
  const value = () => tf.tidy(() => loss.compute(e, y).dataSync()[0]);
  const state = structuredClone(loss.saveState());
  const a = value(), b = value();
  assert.notEqual(a, b, "dropout masks should differ between steps");
  loss.loadState(JSON.parse(JSON.stringify(state))); // survives a JSON checkpoint
  assert.equal(value(), a);
  assert.equal(value(), b);
  tf.dispose([e, y]);
  loss.dispose();
});

Deno.test("the no-attention ablation has no query/key/value weights and no inter-sample messages", () => {
  const rng = new Rng(12);
  const full = new MpnLoss(config({ dropout: 0 }), new Rng(1));
  const none = new MpnLoss(config({ dropout: 0, attention: "none" }), new Rng(1));
  const uniform = new MpnLoss(config({ dropout: 0, attention: "uniform" }), new Rng(1));
  assert.equal(full.trainableWeights.length - none.trainableWeights.length, 8);
  assert.equal(full.trainableWeights.length - uniform.trainableWeights.length, 4);
  // Without messages a node's output does not depend on the other nodes.
  const x = randn(rng, 5, 8);
  const [whole, alone] = tf.tidy(() => [
    none.network!.forward(tf.tensor3d([x]), false).arraySync()[0][0],
    none.network!.forward(tf.tensor3d([[x[0]]]), false).arraySync()[0][0],
  ]);
  assertClose(whole, alone, { atol: 1e-5 });
  [full, none, uniform].forEach((l) => l.dispose());
});

Deno.test("uniform attention: every weight is 1/(n+1) with the sink (1/n without), and the network passes those messages", () => {
  const rng = new Rng(14);
  const n = 5, D = 8;
  const h = tf.tensor3d([randn(rng, n, D)]);
  const w = identityAttention(D);
  const alpha = (o: { sinkLogit: boolean; selfLoops?: boolean }) =>
    tf.tidy(() => attentionWeights(h, w, { heads: 2, scores: "uniform", ...o }).arraySync());
  for (const [o, want] of [[{ sinkLogit: true }, 1 / (n + 1)], [{ sinkLogit: false }, 1 / n]] as const) {
    const a = alpha(o);
    assert.equal(a.length, 2, "one matrix per head");
    a.flat(2).forEach((v) => assertClose(v, want, { atol: 1e-7, msg: JSON.stringify(o) }));
  }
  // Without self-loops: the n − 1 others and the sink share the mass, 1/n each.
  alpha({ sinkLogit: true, selfLoops: false }).forEach((m) =>
    m.forEach((row, i) => row.forEach((v, j) => assertClose(v, i === j ? 0 : 1 / n, { atol: 1e-7 })))
  );
  // The ablation's network: its output equals the float64 reference with all scores 0 (q = k = 0).
  const net = new MessagePassingNetwork(
    { ...DEFAULT_NETWORK, inDim: D, dim: D, heads: 2, layers: 1, attention: "uniform", dropout: 0, ffnMult: 2 },
    new Rng(1),
  );
  randomize(net.trainableWeights, rng);
  const [projW, projB, wv, bv, wo, bo, ln1g, ln1b, w1, b1, w2, b2, ln2g, ln2b] = asMatrices(net.trainableWeights);
  const zero = (r: number, c: number) => Array.from({ length: r }, () => new Array(c).fill(0));
  const att = { wq: zero(D, D), bq: zero(1, D)[0], wk: zero(D, D), bk: zero(1, D)[0], wv, bv: bv[0], wo, bo: bo[0] };
  const step = { att, ln1g: ln1g[0], ln1b: ln1b[0], w1, b1: b1[0], w2, b2: b2[0], ln2g: ln2g[0], ln2b: ln2b[0] };
  const model = { projW, projB: projB[0], steps: [step] } as unknown as RefModel;
  const x = randn(rng, n, D);
  const got = tf.tidy(() => net.forward(tf.tensor3d([x]), false).dataSync());
  const want = mpnFeaturesRef(x, model, { heads: 2, sink: true, concat: false } as RefConfig).flat();
  assertClose(got, want, { atol: 1e-4, rtol: 1e-4 });
  net.dispose();
  h.dispose();
});

Deno.test("mpnWeight 0 trains the backbone head alone (the released SOP config)", () => {
  const loss = new MpnLoss(config({ mpnWeight: 0 }), new Rng(1));
  assert.equal(loss.network, undefined);
  assert.equal(loss.trainableWeights.length, 2);
  const rng = new Rng(2);
  tf.tidy(() => {
    const l = loss.compute(tf.tensor2d(randn(rng, 4, 8)), tf.tensor1d([0, 1, 2, 3], "int32"));
    assert.ok(Number.isFinite(l.dataSync()[0]));
  });
  loss.dispose();
});

// ---------------------------------------------------------------------------------------------
// registry and bad input

async function createLoss(options: Record<string, unknown>, ctx: Record<string, unknown> = {}): Promise<MpnLoss> {
  const registry = new Registry();
  registry.register(mpnPlugin);
  return await registry.create<MpnLoss>("loss", "mpn", options, { dim: 8, classes: 4, batchSize: 8, ...ctx });
}

Deno.test("bad input: heads not dividing the dim, a class the classifier lacks, a batch of 1", async () => {
  await assert.rejects(() => createLoss({ heads: 3 }), (e: Error) => {
    assert.ok(e instanceof DmlError);
    assert.match(e.message, /^loss\.heads: 3 heads do not divide the MPN dimension 8/);
    return true;
  });
  await assert.rejects(() => createLoss({}, { batchSize: 1 }), /at least 2 samples/);
  await assert.rejects(
    () => createLoss({ attention: "softmax" }),
    /loss.attention: expected one of dot, uniform, none/,
  );
  const loss = await createLoss({});
  const rng = new Rng(1);
  assert.throws(
    () => loss.compute(tf.tensor2d(randn(rng, 3, 8)), tf.tensor1d([0, 4, 1], "int32")),
    (e: Error) => e instanceof DmlError && /label 4 .* 4 training classes/.test(e.message),
  );
  assert.throws(
    () => loss.compute(tf.tensor2d(randn(rng, 1, 8)), tf.tensor1d([0], "int32")),
    (e: Error) => e instanceof DmlError && /batch of at least 2/.test(e.message),
  );
  // The training split is checked once at the start, on every backend.
  const train = { labels: Int32Array.from([0, 1, 5]) };
  assert.throws(
    () => loss.onTrainStart({ data: { train } } as unknown as TrainContext),
    /label 5 in the training split/,
  );
  loss.dispose();
});

// ---------------------------------------------------------------------------------------------
// test-time refinement over k-reciprocal neighbours

/** The official KReciprocalSampler logic on a full distance matrix (brute force). */
function reciprocalRef(x: M, k1: number, size: number): number[][] {
  const n = x.length;
  const dist = x.map((a) => x.map((b) => a.reduce((s, v, d) => s + (v - b[d]) ** 2, 0)));
  const sorted = dist.map((r) => r.map((_, j) => j).sort((a, b) => r[a] - r[b] || a - b));
  const recip = (i: number, k: number) =>
    sorted[i].slice(0, k + 1).filter((j) => sorted[j].slice(0, k + 1).includes(i));
  return x.map((_, i) => {
    const r = recip(i, k1);
    let exp = [...r];
    for (const c of r) {
      const cr = recip(c, Math.round(k1 / 2));
      if (cr.filter((j) => r.includes(j)).length > (2 / 3) * cr.length) exp = exp.concat(cr);
    }
    const batch = [...new Set(exp)].sort((a, b) => dist[i][a] - dist[i][b] || a - b).slice(0, size);
    for (let k = 0; batch.length < size && k < n; k++) if (!batch.includes(sorted[i][k])) batch.push(sorted[i][k]);
    return batch;
  });
}

function unitRows(rng: Rng, n: number, d: number): M {
  return randn(rng, n, d).map((r) => {
    const s = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
    return r.map((v) => v / s);
  });
}

Deno.test("k-reciprocal graphs match a brute-force port of the official sampler", async () => {
  const rng = new Rng(31);
  const x = unitRows(rng, 60, 4);
  const { graphs, size } = await reciprocalGraphs({ data: Float32Array.from(x.flat()), n: 60, dim: 4 }, {
    k1: 8,
    size: 7,
  });
  assert.equal(size, 7);
  const want = reciprocalRef(x, 8, 7);
  for (let i = 0; i < 60; i++) assert.deepEqual([...graphs.subarray(i * 7, i * 7 + 7)], want[i], `row ${i}`);
});

Deno.test("query/gallery graphs hold gallery items that see the query among their nearest queries", async () => {
  const rng = new Rng(32);
  const q = unitRows(rng, 10, 4), g = unitRows(rng, 30, 4);
  const rows = (m: M) => ({ data: Float32Array.from(m.flat()), n: m.length, dim: 4 });
  const { graphs, size } = await reciprocalGalleryGraphs(rows(q), rows(g), { k1: 5, size: 4 });
  assert.equal(size, 4);
  const sim = (a: number[], b: number[]) => a.reduce((s, v, d) => s + v * b[d], 0);
  for (let i = 0; i < 10; i++) {
    const members = [...graphs.subarray(i * 3, i * 3 + 3)];
    assert.equal(new Set(members).size, 3);
    // The first member is the nearest gallery item that has query i among its 6 nearest queries (when any).
    const ranked = g.map((_, j) => j).sort((a, b) => sim(q[i], g[b]) - sim(q[i], g[a]));
    const recip = ranked.slice(0, 6).filter((j) => {
      const qs = q.map((_, t) => t).sort((a, b) => sim(g[j], q[b]) - sim(g[j], q[a]));
      return qs.slice(0, 6).includes(i);
    });
    if (recip.length > 0) assert.equal(members[0], recip[0], `query ${i}`);
  }
});

Deno.test("mpn-refine replaces each embedding by its refined anchor and delegates to the base evaluator", async () => {
  const rng = new Rng(41);
  const registry = new Registry();
  registry.register(mpnPlugin);
  let seen: Split | undefined;
  registry.register({
    name: "test",
    components: [{
      kind: "evaluator",
      name: "capture",
      doc: "records what it is given",
      options: {},
      create: () => ({ evaluate: (q: Split) => (seen = q, Promise.resolve({ "recall@1": 1 })) }),
    }],
  });
  const shared = new Map<string, unknown>();
  const ctx = { dim: 8, classes: 4, batchSize: 8, shared, rng: new Rng(0) };
  const evaluator = await registry.create<Evaluator>("evaluator", "mpn-refine", {
    base: { use: "capture" },
    k1: 5,
    size: 4,
  }, ctx);
  const split: Split = {
    data: Float32Array.from(unitRows(rng, 20, 8).flat()),
    n: 20,
    dim: 8,
    labels: new Int32Array(20),
  };
  await assert.rejects(() => evaluator.evaluate(split), /needs a trained MPN/);
  const loss = await registry.create<Loss>("loss", "mpn", {}, ctx) as MpnLoss;
  assert.equal(shared.get(MPN_SHARED_KEY), loss.network);
  const metrics = await assertNoLeak(() => evaluator.evaluate(split), "mpn-refine");
  assert.deepEqual(metrics, { "recall@1": 1 });
  // Node 0 of each graph, refined alone, is what the base evaluator saw.
  const { graphs } = await reciprocalGraphs(split, { k1: 5, size: 4 });
  const direct = tf.tidy(() => {
    const nodes = Array.from(graphs, (j) => Array.from(split.data.subarray(j * 8, j * 8 + 8)));
    const batch = tf.tensor3d(nodes.flat(), [20, 4, 8]);
    return tf.slice(loss.network!.refine(batch), [0, 0, 0], [20, 1, 8]).dataSync();
  });
  assertClose(seen!.data, direct, { atol: 1e-5 });
  assert.equal((await refineSplit(loss.network!, split, undefined, { k1: 5, size: 4 })).n, 20);
  loss.dispose();
});

Deno.test("the MPN loss and forward agree across backends", async () => {
  const rng = new Rng(51);
  const loss = new MpnLoss(config({ dropout: 0 }), new Rng(3));
  const e = randn(rng, 6, 8), y = [0, 1, 2, 3, 0, 1];
  const run = async () => {
    const [l, f] = tf.tidy(() => [
      loss.compute(tf.tensor2d(e), tf.tensor1d(y, "int32")),
      loss.network!.forward(tf.tensor3d([e]), false),
    ]);
    const out = [...await l.data(), ...await f.data()];
    tf.dispose([l, f]);
    return out;
  };
  const cpu = await run();
  for (const backend of await testBackends()) {
    assertClose(await onBackend(backend, run), cpu, { atol: 1e-4, rtol: 1e-4, msg: backend });
  }
  loss.dispose();
});
