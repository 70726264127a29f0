import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { tf } from "../core/tf.ts";
import type { Tensor4D } from "@tensorflow/tfjs-core";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import type { Backbone } from "../core/types.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { createResNet, type ResNetOptions } from "../plugins/backbones/resnet.ts";
import { createBnInception } from "../plugins/backbones/bn_inception.ts";
import { globalPool } from "../plugins/backbones/embedding_head.ts";
import { writeNamedWeights } from "../plugins/backbones/weights_file.ts";
import { assertClose, assertNoLeak } from "./util.ts";

const registry = createRegistry();
const SMALL: ResNetOptions = {
  depth: 18,
  width: 4,
  dim: 8,
  pooling: "avg",
  normalize: true,
  frozenBatchNorm: false,
  freezeBackbone: false,
  lastStride: 2,
};

function images(n: number, side: number, seed: number): Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * side * side * 3 }, () => rng.normal()), [n, side, side, 3]);
}

Deno.test("resnet: torchvision's stage sizes and widths, weight names, pooled features and unit embeddings", async () => {
  const x = images(2, 64, 1);
  for (const [depth, features, convs] of [[18, 32, 20], [50, 128, 53]] as const) {
    const net = createResNet({ ...SMALL, depth }, [64, 64, 3], new Rng(0));
    assertEquals(net.featureDim, features);
    const names = net.named().map(([n]) => n);
    assertEquals(names.filter((n) => /conv\d\.weight$|downsample\.0\.weight$/.test(n)).length, convs);
    assert(names.includes("layer4.1.bn2.running_var") && names.includes("conv1.weight"));
    // 64 px: stem /2, max-pool /2, then stages at 16, 8, 4, 2 px.
    const map = net.featureMap(x, false);
    assertEquals(map.shape, [2, 2, 2, features]);
    const e = net.embed(x, false);
    assertEquals(e.shape, [2, 8]);
    assertClose(tf.norm(e, 2, 1).dataSync(), [1, 1]);
    assertClose(net.features(x, false).dataSync(), globalPool(map, "avg").dataSync());
    await assertNoLeak(() => tf.dispose(net.embed(x, true)), "a training forward pass");
    tf.dispose([map, e]);
    net.dispose();
  }
  const last1 = createResNet({ ...SMALL, lastStride: 1 }, [64, 64, 3], new Rng(0));
  assertEquals(last1.featureMap(x, false).shape, [2, 4, 4, 32]);
  x.dispose();
});

Deno.test("frozen BatchNorm uses the running moments in training and never updates them", () => {
  const x = images(4, 32, 2);
  const frozen = createResNet({ ...SMALL, frozenBatchNorm: true }, [32, 32, 3], new Rng(0));
  const before = frozen.stateWeights.map((v) => v.dataSync().slice());
  const train = frozen.embed(x, true), test = frozen.embed(x, false);
  assertClose(train.dataSync(), test.dataSync(), { atol: 1e-6 });
  frozen.stateWeights.forEach((v, i) => assertEquals(v.dataSync(), before[i]));
  // The scale and offset of a frozen BatchNorm still train.
  assertEquals(frozen.trainableWeights.length, createResNet(SMALL, [32, 32, 3], new Rng(0)).trainableWeights.length);
  const live = createResNet(SMALL, [32, 32, 3], new Rng(0));
  const liveBefore = live.stateWeights.map((v) => v.dataSync().slice());
  tf.dispose(live.embed(x, true));
  assert(live.stateWeights.some((v, i) => v.dataSync().some((a, k) => a !== liveBefore[i][k])), "moments did not move");
  const headOnly = createResNet({ ...SMALL, freezeBackbone: true }, [32, 32, 3], new Rng(0));
  assertEquals(headOnly.trainableWeights.length, 2);
  tf.dispose([x, train, test]);
});

Deno.test("resnet and bn-inception weights round-trip through a weights manifest, by name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const x = images(2, 32, 3);
    const a = createResNet(SMALL, [32, 32, 3], new Rng(1));
    tf.dispose(a.embed(x, true)); // moves the running moments away from their initial values
    const file = await writeNamedWeights(`${dir}/resnet`, a.named());
    const b = await registry.create<Backbone>("backbone", "resnet", { depth: 18, width: 4, dim: 8, weights: file }, {
      path: "backbone",
      rng: new Rng(99),
      registry,
      shared: new Map(),
      inputShape: [32, 32, 3],
    });
    assertEquals(b.embed(x, false).dataSync(), a.embed(x, false).dataSync());

    const p = createBnInception(
      { dim: 6, pooling: "max", normalize: false, frozenBatchNorm: false, freezeBackbone: false, slim: 16 },
      [32, 32, 3],
      new Rng(1),
    );
    const pf = await writeNamedWeights(`${dir}/bn`, p.named());
    const q = createBnInception({ ...p.options }, [32, 32, 3], new Rng(5));
    assert(q.embed(x, false).dataSync().some((v, i) => v !== p.embed(x, false).dataSync()[i]));
    await q.loadWeights(pf);
    assertEquals(q.embed(x, false).dataSync(), p.embed(x, false).dataSync());
    assert(p.named().some(([n]) => n === "inception_4e_double_3x3_2_bn.running_mean"));
    assertEquals(p.featureMap(x, false).shape.slice(1, 3), [1, 1]);

    // A PyTorch kernel left in [out, in, h, w] order is refused with the fix in the message.
    const torchOrder = tf.variable(tf.zeros([4, 3, 7, 7]), false, "torch-order");
    const bad = await writeNamedWeights(`${dir}/bad`, [["conv1.weight", torchOrder]]);
    await rejects(
      createResNet(SMALL, [32, 32, 3], new Rng(0)).loadWeights(bad),
      (e: Error) => e instanceof DmlError && /'conv1\.weight'.*\[4,3,7,7\].*\[7,7,3,4\].*permute/.test(e.message),
    );
    const partial = await writeNamedWeights(`${dir}/partial`, a.named().slice(0, 5));
    await rejects(
      createResNet(SMALL, [32, 32, 3], new Rng(0)).loadWeights(partial),
      (e: Error) => e instanceof DmlError && e.message.includes("has no weight 'layer1.0.conv1.weight'"),
    );
    await Deno.writeTextFile(`${dir}/junk.json`, "{ not json");
    await rejects(
      createResNet(SMALL, [32, 32, 3], new Rng(0)).loadWeights(`${dir}/junk.json`),
      (e: Error) =>
        e instanceof DmlError && e.message.includes("is not a JSON weights manifest") && !e.message.includes("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bn-inception and resnet18 have the reference parameter counts; bn-inception pools in ceil mode and refuses sizes it cannot take", () => {
  const full = createBnInception(
    { dim: 0, pooling: "avg", normalize: false, frozenBatchNorm: false, freezeBackbone: false, slim: 1 },
    [224, 224, 3],
    new Rng(0),
  );
  assertEquals([full.featureDim, full.dim], [1024, 1024]);
  // The converted Caffe model has 11,295,240 parameters, 1,025,000 of them in its 1000-way classifier.
  assertEquals(full.trainableWeights.reduce((n, v) => n + v.size, 0), 11_295_240 - 1_025_000);
  full.dispose();
  // torchvision's resnet18 has 11,689,512, 513,000 of them in its classifier.
  const r18 = createResNet({ ...SMALL, width: 64, dim: 0 }, [224, 224, 3], new Rng(0));
  assertEquals(r18.trainableWeights.reduce((n, v) => n + v.size, 0), 11_689_512 - 513_000);
  r18.dispose();
  const x = images(1, 96, 4);
  const slim = createBnInception({ ...full.options, slim: 16 }, [96, 96, 3], new Rng(0));
  assertEquals(slim.featureMap(x, false).shape.slice(0, 3), [1, 3, 3]);
  assertEquals(
    (() => {
      try {
        createBnInception({ ...full.options, slim: 16 }, [200, 200, 3], new Rng(0));
        return "built";
      } catch (e) {
        return e instanceof DmlError && e.message.includes("cannot take 200×200") ? "refused" : String(e);
      }
    })(),
    "refused",
  );
  x.dispose();
});

Deno.test("image backbones refuse non-image items with one line", async () => {
  await rejects(
    registry.create("backbone", "resnet", {}, {
      path: "backbone",
      rng: new Rng(0),
      registry,
      shared: new Map(),
      inputShape: [784],
    }),
    (e: Error) =>
      e instanceof DmlError &&
      e.message === "backbone.use: resnet needs image items [height, width, channels], the dataset gives [784]",
  );
});
