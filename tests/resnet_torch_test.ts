// The resnet backbone against PyTorch: torchvision-layout weights converted with the script of
// docs/datasets.md load by name and give PyTorch's features, in inference and in training mode
// (batch statistics, running-moment update). Fixture written by tests/fixtures/resnet_torch.py.
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { createRegistry } from "../plugins/builtin.ts";
import type { ResNetBackbone } from "../plugins/backbones/resnet.ts";
import { assertClose, assertNoLeak } from "./util.ts";

const FIXTURE = new URL("./fixtures/resnet_torch/", import.meta.url).pathname;
const registry = createRegistry();

interface Reference {
  width: number;
  eval: number[];
  train: number[];
  bn1RunningVar: number[];
  lastRunningMean: number[];
}

/** The input the fixture used: x[n, y, x, c] = ((7n + 3y + 5x + 11c) mod 17 - 8) / 8, exact in float32. */
function input(shape: number[]): Float32Array {
  const [N, H, W, C] = shape;
  const x = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let y = 0; y < H; y++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) {
          x[((n * H + y) * W + w) * C + c] = (((7 * n + 3 * y + 5 * w + 11 * c) % 17) - 8) / 8;
        }
      }
    }
  }
  return x;
}

const reference = JSON.parse(await Deno.readTextFile(`${FIXTURE}reference.json`));

for (const [name, depth, lastBlock] of [["r18", 18, 1], ["r50", 50, 2]] as const) {
  Deno.test(`resnet-${depth} with converted PyTorch weights gives PyTorch's features, inference and training`, async () => {
    const ref = reference[name] as Reference;
    const shape = reference.inputShape as number[];
    const net = await registry.create<ResNetBackbone>(
      "backbone",
      "resnet",
      {
        depth,
        width: ref.width,
        dim: 0,
        normalize: false,
        pooling: "avg",
        weights: `${FIXTURE}${name}/weights_manifest.json`,
      },
      { path: "backbone", rng: new Rng(0), registry, shared: new Map(), inputShape: shape.slice(1) },
    );
    const x = tf.tensor4d(input(shape), shape as [number, number, number, number]);
    await assertNoLeak(async () => {
      const test = net.embed(x, false);
      assertClose(await test.data(), ref.eval, { atol: 1e-4, rtol: 1e-3, msg: "inference" });
      const train = net.embed(x, true);
      assertClose(await train.data(), ref.train, { atol: 1e-3, rtol: 1e-3, msg: "training" });
      tf.dispose([test, train]);
    }, "the forward passes");
    const named = new Map(net.named());
    assertClose(await named.get("bn1.running_var")!.data(), ref.bn1RunningVar, { atol: 1e-5, msg: "bn1 var" });
    const last = named.get(`layer4.${lastBlock}.bn2.running_mean`)!;
    assertClose(await last.data(), ref.lastRunningMean, { atol: 1e-4, rtol: 1e-3, msg: "layer4 mean" });
    // The file's classifier fc.* is not the model's: it is ignored, and the features are the 4th stage's.
    assertEquals(net.dim, ref.eval.length / shape[0]);
    x.dispose();
    net.dispose();
  });
}
