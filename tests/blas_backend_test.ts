import { tf } from "../core/tf.ts";
import type { Variable } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { blas } from "../core/blas.ts";
import { useBackend } from "../core/backend.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Loss } from "../core/types.ts";
import { assertClose, assertNoLeak, onBackend, runKernelOn } from "./util.ts";
import {
  conv64,
  convBackpropFilter64,
  convBackpropInput64,
  type ConvCase,
  convGeometry64,
  matMul64,
  normals,
  type Pad,
  tfPad,
} from "./conv_reference.ts";

// The backend exists only with --allow-ffi and a BLAS library.
const ignore = blas() === null;
const test = (name: string, fn: () => Promise<void>) => Deno.test({ name, ignore, fn });

type Values = Float32Array | Int32Array;
const size = (s: number[]) => s.reduce((p, n) => p * n, 1);

/** Equal values (NaN equal to NaN, infinities to themselves), or within `rtol`. */
function assertSame(got: Float32Array, want: Float32Array, rtol: number, msg: string): void {
  if (got.length !== want.length) throw new Error(`${msg}: length ${got.length} != ${want.length}`);
  got.forEach((g, i) => {
    const w = want[i];
    if (g === w || (Number.isNaN(g) && Number.isNaN(w)) || Math.abs(g - w) <= rtol * Math.abs(w)) return;
    throw new Error(`${msg} at ${i}: got ${g}, expected ${w}`);
  });
}

function randomConv(rng: Rng, dilated: boolean): ConvCase & { pad: Pad } {
  const kH = 1 + rng.int(3), kW = 1 + rng.int(3);
  // tfjs allows a dilation above 1 only with stride 1.
  const stride: [number, number] = dilated ? [1, 1] : [1 + rng.int(3), 1 + rng.int(3)];
  const dilation: [number, number] = dilated ? [1 + rng.int(3), 1 + rng.int(2)] : [1, 1];
  const pads: Pad[] = ["same", "valid", [[rng.int(3), rng.int(3)], [rng.int(3), rng.int(3)]]];
  const pad = pads[rng.int(3)];
  const inH = 6 + rng.int(6), inW = 6 + rng.int(6);
  const g = convGeometry64(inH, inW, kH, kW, stride, dilation, pad);
  return { x: [1 + rng.int(3), inH, inW, 1 + rng.int(5)], w: [kH, kW, 0, 1 + rng.int(6)], stride, dilation, pad, ...g };
}

test("blas BatchMatMul agrees with float64: transposes, batches, broadcast batch axes", async () => {
  const rng = new Rng(21);
  const shapes: Array<[number[], number[]]> = [[[], []], [[3], [3]], [[3], []], [[], [4]], [[2, 1], [3]], [[2, 3], [
    1,
    3,
  ]]];
  for (const [batchA, batchB] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const m = 1 + rng.int(9), k = 1 + rng.int(9), n = 1 + rng.int(9);
        const aShape = [...batchA, ...(transA ? [k, m] : [m, k])], bShape = [...batchB, ...(transB ? [n, k] : [k, n])];
        const a = normals(rng, size(aShape)), b = normals(rng, size(bShape));
        const got = await runKernelOn("blas", "BatchMatMul", { a: [a, aShape], b: [b, bShape] }, {
          transposeA: transA,
          transposeB: transB,
        });
        // Reference: loop over the broadcast batch.
        const rank = Math.max(batchA.length, batchB.length);
        const pa = [...Array(rank - batchA.length).fill(1), ...batchA];
        const pb = [...Array(rank - batchB.length).fill(1), ...batchB];
        const batch = pa.map((p, i) => Math.max(p, pb[i]));
        const expected: number[] = [];
        for (let i = 0; i < size(batch); i++) {
          let ia = 0, ib = 0;
          for (let d = 0, rest = i; d < rank; d++) {
            const stride = size(batch.slice(d + 1)), at = Math.floor(rest / stride);
            rest -= at * stride;
            ia = ia * pa[d] + (pa[d] === 1 ? 0 : at);
            ib = ib * pb[d] + (pb[d] === 1 ? 0 : at);
          }
          const am = a.subarray(ia * m * k, (ia + 1) * m * k), bm = b.subarray(ib * k * n, (ib + 1) * k * n);
          expected.push(...matMul64(am, bm, m, k, n, transA, transB));
        }
        assertClose(got, expected, {
          atol: 1e-5,
          rtol: 1e-5,
          msg: `[${aShape}]·[${bShape}] tA ${transA} tB ${transB}`,
        });
      }
    }
  }
});

test("blas Conv2D agrees with float64: strides, padding same/valid/explicit, dilation, 1×1", async () => {
  const rng = new Rng(22);
  for (let t = 0; t < 30; t++) {
    const c = randomConv(rng, t % 3 === 2);
    c.w[2] = c.x[3];
    if (c.outH < 1 || c.outW < 1) continue;
    const x = normals(rng, size(c.x)), w = normals(rng, size(c.w));
    const got = await runKernelOn("blas", "Conv2D", { x: [x, c.x], filter: [w, c.w] }, {
      strides: c.stride,
      dilations: c.dilation,
      pad: tfPad(c.pad),
      dataFormat: "NHWC",
    });
    assertClose(got, conv64(c, x, w), { atol: 1e-4, rtol: 1e-4, msg: JSON.stringify(c) });
  }
});

test("blas Conv2D gradients (input and filter) agree with float64 and the cpu backend", async () => {
  const rng = new Rng(23);
  for (let t = 0; t < 30; t++) {
    const c = randomConv(rng, false);
    c.w[2] = c.x[3];
    if (c.outH < 1 || c.outW < 1) continue;
    const x = normals(rng, size(c.x)), w = normals(rng, size(c.w));
    const dyShape = [c.x[0], c.outH, c.outW, c.w[3]];
    const dy = normals(rng, size(dyShape));
    const common = { strides: c.stride, pad: tfPad(c.pad), dataFormat: "NHWC" };
    const msg = JSON.stringify(c);
    const inputArgs = [{ dy: [dy, dyShape], filter: [w, c.w] }, { ...common, inputShape: c.x }] as const;
    const dx = await runKernelOn("blas", "Conv2DBackpropInput", ...(inputArgs as unknown as [never, never]));
    assertClose(dx, convBackpropInput64(c, dy, w), { atol: 1e-4, rtol: 1e-4, msg });
    assertClose(dx, await runKernelOn("cpu", "Conv2DBackpropInput", ...(inputArgs as unknown as [never, never])), {
      atol: 1e-4,
      msg,
    });
    const dw = await runKernelOn("blas", "Conv2DBackpropFilter", { x: [x, c.x], dy: [dy, dyShape] }, {
      ...common,
      filterShape: c.w,
    });
    assertClose(dw, convBackpropFilter64(c, x, dy), { atol: 1e-4, rtol: 1e-4, msg });
  }
});

test("blas element-wise ops broadcast like the cpu backend, NaN and infinities included", async () => {
  const rng = new Rng(24);
  const pairs: Array<[number[], number[]]> = [
    [[4, 5, 6, 7], [7]],
    [[4, 5, 6, 7], [1, 1, 1, 7]],
    [[1, 5, 1, 7], [4, 1, 6, 1]],
    [[3, 1], [1, 4]],
    [[6], []],
    [[], [2, 3]],
    [[2, 3, 4], [2, 3, 4]],
    [[2, 1, 4], [3, 1]],
  ];
  const special = [NaN, Infinity, -Infinity, 0, -0];
  for (const [sa, sb] of pairs) {
    const a = normals(rng, size(sa)), b = normals(rng, size(sb));
    for (let i = 0; i < a.length; i += 3) a[i] = special[rng.int(special.length)];
    for (let i = 1; i < b.length; i += 4) b[i] = special[rng.int(special.length)];
    for (const op of ["Add", "Sub", "Multiply", "RealDiv", "Maximum", "Minimum", "SquaredDifference"]) {
      const inputs = { a: [a, sa], b: [b, sb] } as Record<string, [Values, number[]]>;
      const got = await runKernelOn("blas", op, inputs), want = await runKernelOn("cpu", op, inputs);
      assertSame(got, want, 0, `${op} [${sa}] [${sb}]`);
    }
    // Comparisons, on float32 and on int32 (labels), with ties.
    const ia = Int32Array.from(a, (v) => (Number.isFinite(v) ? Math.round(v) : 0));
    const ib = Int32Array.from(b, (v) => (Number.isFinite(v) ? Math.round(v) : 0));
    for (const op of ["Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"]) {
      for (const [x, y] of [[a, b], [ia, ib]] as const) {
        const inputs = { a: [x, sa], b: [y, sb] } as Record<string, [Values, number[]]>;
        const got = await runKernelOn("blas", op, inputs), want = await runKernelOn("cpu", op, inputs);
        assertSame(got, want, 0, `${op} [${sa}] [${sb}] ${x.constructor.name}`);
      }
    }
  }
  const x = Float32Array.from([...special, ...normals(rng, 40)]);
  for (
    const [op, attrs] of [
      ["Relu", {}],
      ["Relu6", {}],
      ["Step", { alpha: 0.25 }],
      ["Neg", {}],
      ["Square", {}],
      [
        "Sqrt",
        {},
      ],
      ["Rsqrt", {}],
      ["Exp", {}],
      ["Log", {}],
      ["Sigmoid", {}],
    ] as const
  ) {
    const got = await runKernelOn("blas", op, { x: [x, [x.length]] }, attrs);
    assertSame(got, await runKernelOn("cpu", op, { x: [x, [x.length]] }, attrs), 1e-6, op);
  }
});

test("blas Sum and Mean agree with float64 over adjacent and scattered axes, keepDims or not", async () => {
  const rng = new Rng(25);
  const shape = [3, 4, 5, 6];
  const x = normals(rng, size(shape));
  for (const axes of [[0], [3], [0, 1, 2], [1, 2], [0, 2], [1, 3], [0, 1, 2, 3], [-1]]) {
    for (const keepDims of [false, true]) {
      const norm = axes.map((a) => (a < 0 ? a + 4 : a));
      const outShape = shape.map((n, d) => (norm.includes(d) ? 1 : n));
      const expected = new Float64Array(size(outShape));
      for (let i = 0; i < x.length; i++) {
        let rest = i, o = 0;
        for (let d = 0; d < 4; d++) {
          const stride = size(shape.slice(d + 1)), at = Math.floor(rest / stride);
          rest -= at * stride;
          o = o * outShape[d] + (norm.includes(d) ? 0 : at);
        }
        expected[o] += x[i];
      }
      const count = size(norm.map((d) => shape[d]));
      const inputs = { x: [x, shape] } as Record<string, [Values, number[]]>;
      const sum = await runKernelOn("blas", "Sum", inputs, { axis: axes, keepDims });
      assertClose(sum, expected, { atol: 1e-5, msg: `sum over ${axes}` });
      const mean = await runKernelOn("blas", "Mean", inputs, { axis: axes, keepDims });
      assertClose(mean, expected.map((v) => v / count), { atol: 1e-6, msg: `mean over ${axes}` });
    }
  }
});

test("blas max-pooling and its gradient agree with the cpu backend, ties going to the first maximum", async () => {
  const rng = new Rng(26);
  for (let t = 0; t < 16; t++) {
    const shape = [1 + rng.int(2), 4 + rng.int(6), 4 + rng.int(6), 1 + rng.int(4)];
    // Few distinct values: many ties.
    const x = Float32Array.from({ length: size(shape) }, () => rng.int(4));
    const k = 1 + rng.int(3), s = 1 + rng.int(3), pad = ["same", "valid"][rng.int(2)];
    const attrs = { filterSize: k, strides: s, pad };
    const y = await runKernelOn("blas", "MaxPool", { x: [x, shape] }, attrs);
    assertClose(y, await runKernelOn("cpu", "MaxPool", { x: [x, shape] }, attrs), { atol: 0, msg: `pool ${t}` });
    const yShape = await onBackend(
      "cpu",
      () => tf.tidy(() => tf.maxPool(tf.tensor4d(x, shape as never), k, s, pad as "same").shape),
    );
    const dy = normals(rng, size(yShape));
    const inputs = { dy: [dy, yShape], input: [x, shape], output: [y, yShape] } as Record<string, [Values, number[]]>;
    const dx = await runKernelOn("blas", "MaxPoolGrad", inputs, attrs);
    assertClose(dx, await runKernelOn("cpu", "MaxPoolGrad", inputs, attrs), { atol: 1e-6, msg: `pool grad ${t}` });
  }
});

test("blas fused matMul and conv2d (bias, activation) agree with the cpu backend", async () => {
  const rng = new Rng(27);
  const a = normals(rng, 5 * 7), b = normals(rng, 7 * 3), bias = normals(rng, 3);
  const x = normals(rng, 2 * 6 * 6 * 3), w = normals(rng, 3 * 3 * 3 * 4), cb = normals(rng, 4);
  for (const activation of ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu"] as const) {
    const run = (backend: string) =>
      onBackend(backend, () =>
        tf.tidy(() => {
          const m = tf.fused.matMul({
            a: tf.tensor2d(a, [5, 7]),
            b: tf.tensor2d(b, [7, 3]),
            bias: tf.tensor1d(bias),
            activation,
            leakyreluAlpha: 0.1,
          });
          const c = tf.fused.conv2d({
            x: tf.tensor4d(x, [2, 6, 6, 3]),
            filter: tf.tensor4d(w, [3, 3, 3, 4]),
            strides: 1,
            pad: "same",
            bias: tf.tensor1d(cb),
            activation,
            leakyreluAlpha: 0.1,
          });
          return [m.dataSync().slice(), c.dataSync().slice()] as Float32Array[];
        }));
    const [got, want] = [await run("blas"), await run("cpu")];
    assertClose(got[0], want[0], { atol: 1e-5, msg: `matMul ${activation}` });
    assertClose(got[1], want[1], { atol: 1e-4, msg: `conv2d ${activation}` });
  }
});

test("a small convnet's gradients on blas agree with the cpu backend, and a step leaks no tensor", async () => {
  const registry = createRegistry();
  const rng = new Rng(28);
  const shape = [14, 14, 1];
  const pixels = normals(rng, 8 * size(shape));
  const labels = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
  const gradsOn = (backend: string) =>
    onBackend(backend, async () => {
      const net = await registry.create<Backbone>("backbone", "convnet", { channels: [4, 8], dim: 8 }, {
        inputShape: shape,
        rng: new Rng(0),
        path: "backbone",
      });
      const loss = await registry.create<Loss>("loss", "multi-similarity", {}, { path: "loss", rng: new Rng(1) });
      const vars: Variable[] = net.trainableWeights;
      const step = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(pixels, [8, 14, 14, 1]);
          const { value, grads } = tf.variableGrads(
            () => loss.compute(net.embed(x, true), tf.tensor1d(labels, "int32")),
            vars,
          );
          vars.forEach((v) => v.assign(tf.sub(v, tf.mul(0.1, grads[v.name]))));
          return { value: value.dataSync()[0], g: vars.map((v) => grads[v.name].dataSync().slice() as Float32Array) };
        });
      const out = await assertNoLeak(step, `convnet step on ${backend}`);
      tf.dispose([...vars, ...(net.stateWeights ?? [])]);
      return out;
    });
  const [got, want] = [await gradsOn("blas"), await gradsOn("cpu")];
  assertClose(got.value, want.value, { atol: 1e-5, rtol: 1e-5 });
  got.g.forEach((g, i) => {
    const scale = Math.max(...want.g[i].map(Math.abs));
    assertClose(g, want.g[i], { atol: 1e-4 * scale + 1e-7, rtol: 1e-3, msg: `gradient ${i}` });
  });
});

test("auto picks blas here (no hardware GPU) and says why", async () => {
  const choice = await useBackend("auto");
  try {
    // A hardware GPU would win; anywhere else blas must.
    if (choice.backend !== "webgpu") {
      if (choice.backend !== "blas") throw new Error(`auto picked ${choice.backend}: ${choice.reason}`);
      if (!choice.reason.includes(blas()!.name)) {
        throw new Error(`the reason does not name the library: ${choice.reason}`);
      }
    }
  } finally {
    await useBackend("cpu");
  }
});
