import { tf } from "../core/tf.ts";
import type { Tensor, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { missingWasmKernels } from "../core/backend.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { Backbone, Loss } from "../core/types.ts";
import { assertClose, assertNoLeak, onBackend, runKernelOn } from "./util.ts";
import {
  convBackpropFilter64,
  convBackpropInput64,
  type ConvCase,
  convGeometry64,
  normals,
  type Pad,
  tfPad,
} from "./conv_reference.ts";

/** A random convolution case: strides 1–3, dilation when asked, every padding kind. */
function randomCase(rng: Rng, depthwise: boolean, dilated: boolean): ConvCase & { pad: Pad } {
  const k = 1 + rng.int(3), kW = 1 + rng.int(3);
  const stride: [number, number] = [1 + rng.int(3), 1 + rng.int(3)];
  const dilation: [number, number] = dilated ? [1 + rng.int(2), 1 + rng.int(2)] : [1, 1];
  const pads: Pad[] = ["same", "valid", [[rng.int(3), rng.int(3)], [rng.int(3), rng.int(3)]]];
  const pad = pads[rng.int(3)];
  const inH = 5 + rng.int(6), inW = 5 + rng.int(6);
  const inC = 1 + rng.int(4), out = depthwise ? 1 + rng.int(3) : 1 + rng.int(5);
  const g = convGeometry64(inH, inW, k, kW, stride, dilation, pad);
  return { x: [1 + rng.int(3), inH, inW, inC], w: [k, kW, inC, out], stride, dilation, pad, ...g };
}

Deno.test("wasm has every kernel the trainer asks for", async () => {
  const needs = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad", "AvgPoolGrad", "UnsortedSegmentSum"];
  const missing = await missingWasmKernels([
    ...needs,
    "DepthwiseConv2dNativeBackpropFilter",
    "DepthwiseConv2dNativeBackpropInput",
  ]);
  if (missing.length) throw new Error(`wasm still lacks ${missing.join(", ")}`);
});

Deno.test("wasm Conv2DBackpropFilter agrees with float64 and the cpu backend (strides, padding, 1×1)", async () => {
  const rng = new Rng(11);
  for (let t = 0; t < 24; t++) {
    const c = randomCase(rng, false, false);
    if (c.outH < 1 || c.outW < 1) continue;
    const x = normals(rng, c.x.reduce((p, n) => p * n, 1));
    const dy = normals(rng, c.x[0] * c.outH * c.outW * c.w[3]);
    const inputs = { x: [x, c.x], dy: [dy, [c.x[0], c.outH, c.outW, c.w[3]]] } as const;
    const attrs = { strides: c.stride, pad: tfPad(c.pad), dataFormat: "NHWC", filterShape: c.w };
    const wasm = await runKernelOn("wasm", "Conv2DBackpropFilter", inputs as never, attrs);
    const msg = `case ${JSON.stringify(c)}`;
    assertClose(wasm, convBackpropFilter64(c, x, dy), { atol: 1e-4, rtol: 1e-4, msg });
    assertClose(wasm, await runKernelOn("cpu", "Conv2DBackpropFilter", inputs as never, attrs), { atol: 1e-4, msg });
  }
});

Deno.test("wasm depthwise convolution gradients agree with float64 and the cpu backend (strides, padding, dilation)", async () => {
  const rng = new Rng(12);
  for (let t = 0; t < 24; t++) {
    const c = randomCase(rng, true, t % 2 === 1);
    if (c.outH < 1 || c.outW < 1) continue;
    // tfjs requires stride 1 where the dilation is above 1.
    if (c.dilation[0] > 1 || c.dilation[1] > 1) c.stride = [1, 1];
    Object.assign(c, convGeometry64(c.x[1], c.x[2], c.w[0], c.w[1], c.stride, c.dilation, c.pad));
    const x = normals(rng, c.x.reduce((p, n) => p * n, 1));
    const w = normals(rng, c.w.reduce((p, n) => p * n, 1));
    const dyShape = [c.x[0], c.outH, c.outW, c.x[3] * c.w[3]];
    const dy = normals(rng, dyShape.reduce((p, n) => p * n, 1));
    const common = { strides: c.stride, dilations: c.dilation, pad: tfPad(c.pad) };
    const msg = `case ${JSON.stringify(c)}`;
    const filterIn = { x: [x, c.x], dy: [dy, dyShape] } as never;
    const filterAttrs = { ...common, filterShape: c.w };
    const dw = await runKernelOn("wasm", "DepthwiseConv2dNativeBackpropFilter", filterIn, filterAttrs);
    assertClose(dw, convBackpropFilter64(c, x, dy, true), { atol: 1e-4, rtol: 1e-4, msg });
    // tfjs cpu's depthwise gradients ignore the dilation (they disagree with float64 there).
    const cpuToo = c.dilation[0] === 1 && c.dilation[1] === 1;
    if (cpuToo) {
      assertClose(dw, await runKernelOn("cpu", "DepthwiseConv2dNativeBackpropFilter", filterIn, filterAttrs), {
        atol: 1e-4,
        msg,
      });
    }
    const inputIn = { dy: [dy, dyShape], filter: [w, c.w] } as never;
    const inputAttrs = { ...common, inputShape: c.x };
    const dx = await runKernelOn("wasm", "DepthwiseConv2dNativeBackpropInput", inputIn, inputAttrs);
    assertClose(dx, convBackpropInput64(c, dy, w, true), { atol: 1e-4, rtol: 1e-4, msg });
    if (cpuToo) {
      assertClose(dx, await runKernelOn("cpu", "DepthwiseConv2dNativeBackpropInput", inputIn, inputAttrs), {
        atol: 1e-4,
        msg,
      });
    }
  }
});

Deno.test("wasm UnsortedSegmentSum agrees with float64 (out-of-range ids dropped) and gather's gradient with cpu", async () => {
  const rng = new Rng(13);
  const rows = 30, cols = 7, segments = 9;
  const x = normals(rng, rows * cols);
  const ids = Int32Array.from({ length: rows }, () => rng.int(segments + 3) - 1);
  const expected = new Float64Array(segments * cols);
  ids.forEach((s, r) => {
    if (s < 0 || s >= segments) return;
    for (let j = 0; j < cols; j++) expected[s * cols + j] += x[r * cols + j];
  });
  const inputs = { x: [x, [rows, cols]], segmentIds: [ids, [rows]] } as never;
  assertClose(await runKernelOn("wasm", "UnsortedSegmentSum", inputs, { numSegments: segments }), expected, {
    atol: 1e-5,
  });

  const table = normals(rng, segments * cols), at = Int32Array.from({ length: 40 }, () => rng.int(segments));
  const weights = normals(rng, 40 * cols);
  const gatherGrad = (backend: string) =>
    onBackend(backend, () =>
      tf.tidy(() => {
        const f = (t: Tensor) =>
          tf.sum(tf.mul(tf.gather(t, tf.tensor1d(at, "int32")), tf.tensor2d(weights, [40, cols])));
        return tf.grad(f)(tf.tensor2d(table, [segments, cols])).dataSync() as Float32Array;
      }));
  assertClose(await gatherGrad("wasm"), await gatherGrad("cpu"), { atol: 1e-5 });
});

/** Small versions of the built-in backbones, on inputs they accept. */
const BACKBONES: Array<[string, Record<string, unknown>, number[]]> = [
  ["mlp", { hidden: [16], dim: 8, batchNorm: true }, [8, 8, 1]],
  ["convnet", { channels: [4, 8], dim: 8 }, [12, 12, 1]],
  ["resnet", { depth: 18, width: 4, dim: 8 }, [32, 32, 3]],
  ["bn-inception", { slim: 16, dim: 8 }, [96, 96, 3]],
];

Deno.test("every built-in backbone trains a step on wasm: gradients as on cpu, weights move, nothing leaks", async () => {
  const registry = createRegistry();
  for (const [use, options, shape] of BACKBONES) {
    const size = shape.reduce((p, n) => p * n, 1);
    const rng = new Rng(5);
    const pixels = normals(rng, 6 * size);
    const labels = Int32Array.from([0, 0, 1, 1, 2, 2]);
    const gradsOn = (backend: string) =>
      onBackend(backend, async () => {
        const net = await registry.create<Backbone>("backbone", use, { ...options }, {
          inputShape: shape,
          rng: new Rng(0),
          path: "backbone",
        });
        // Margin loss with per-class betas: its gradient runs through gather (UnsortedSegmentSum).
        const loss = await registry.create<Loss>("loss", "margin", { betaPerClass: true }, {
          path: "loss",
          rng: new Rng(1),
          classes: 3,
          dim: 8,
        });
        const vars: Variable[] = [...net.trainableWeights, ...(loss.trainableWeights ?? [])];
        const step = () =>
          tf.tidy(() => {
            const x = tf.tensor(pixels, [6, ...shape]);
            const { value, grads } = tf.variableGrads(
              () => loss.compute(net.embed(x, true), tf.tensor1d(labels, "int32")),
              vars,
            );
            const g = vars.map((v) => grads[v.name].dataSync().slice() as Float32Array);
            vars.forEach((v) => v.assign(tf.sub(v, tf.mul(0.1, grads[v.name]))));
            return { value: value.dataSync()[0], g };
          });
        const before = vars.map((v) => v.dataSync().slice());
        const out = await assertNoLeak(step, `${use} step on ${backend}`);
        const moved = vars.some((v, i) => v.dataSync().some((a, j) => a !== before[i][j]));
        if (!moved) throw new Error(`${use} on ${backend}: no weight moved`);
        tf.dispose(vars);
        tf.dispose(net.stateWeights ?? []);
        return out;
      });
    const wasm = await gradsOn("wasm"), cpu = await gradsOn("cpu");
    if (!Number.isFinite(wasm.value)) throw new Error(`${use}: loss on wasm is ${wasm.value}`);
    assertClose(wasm.value, cpu.value, { atol: 1e-4, rtol: 1e-3, msg: `${use} loss` });
    // Relative to the whole gradient's norm: ≤ 2e-5 for every backbone. (Before BatchNorm was fused,
    // with float64 sums, wasm's float32 Sum/Mean made bn-inception differ by ~3e-2.) A wrong kernel
    // differs by O(1); the kernels are tested one by one above.
    let diff = 0, norm = 0;
    wasm.g.forEach((g, i) => g.forEach((v, j) => (diff += (v - cpu.g[i][j]) ** 2, norm += cpu.g[i][j] ** 2)));
    const rel = Math.sqrt(diff / norm);
    if (!(rel < 1e-3)) throw new Error(`${use}: wasm gradients differ from cpu by ${rel} of their norm`);
  }
});

Deno.test("a conv2d gradient through the wasm backend's own Conv2DBackpropInput and our filter gradient matches cpu", async () => {
  const rng = new Rng(14);
  const x = normals(rng, 2 * 9 * 9 * 3), w = normals(rng, 3 * 3 * 3 * 5);
  const grads = (backend: string) =>
    onBackend(backend, () =>
      tf.tidy(() => {
        const f = (a: Tensor, b: Tensor) => tf.sum(tf.square(tf.conv2d(a as Tensor4D, b as Tensor4D, 2, "same")));
        const [dx, dw] = tf.grads(f)([tf.tensor4d(x, [2, 9, 9, 3]), tf.tensor4d(w, [3, 3, 3, 5])]);
        return [dx.dataSync().slice(), dw.dataSync().slice()] as Float32Array[];
      }));
  const [wasm, cpu] = [await grads("wasm"), await grads("cpu")];
  assertClose(wasm[0], cpu[0], { atol: 1e-3, rtol: 1e-4 });
  assertClose(wasm[1], cpu[1], { atol: 1e-3, rtol: 1e-4 });
});
