/**
 * The emoji dataset on a fake copy of the npm packages' layout the tests write: 16 base emoji in
 * four categories drawn by two vendors, two of them with two skin-tone variants, one drawn by
 * Google only; bad copies (a missing image, a damaged PNG, a damaged index, a package not
 * installed) are made from it. The real packages are never read.
 */
import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok as assert, rejects } from "node:assert/strict";
import sharp from "sharp";
import { stringify } from "yaml";
import { tf } from "../core/tf.ts";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import { resolveOptions } from "../core/options.ts";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import type { DatasetSplits } from "../core/types.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { buildEmojiSplits, plugin } from "../plugins/emoji/mod.ts";
import type { EmojiDataset } from "../plugins/emoji/emoji_dataset.ts";
import { drawTransform, type Similarity, warpImage } from "../plugins/emoji/augment.ts";
import { loadVendor } from "../plugins/emoji/vendor_images.ts";
import { inTempDir } from "./image_fixtures.ts";
import { assertOneLineError, ROOT, runCli, taskFlags } from "./cli_process.ts";

const VENDORS = ["google", "twitter"];
const TONES = ["1F3FB", "1F3FF"];

interface FakeEmoji {
  unified: string;
  category: string;
  tones?: boolean;
  googleOnly?: boolean;
}

const FAKE: FakeEmoji[] = [
  ...["1F600", "1F601", "1F602", "1F603", "1F604", "1F605"].map((u) => ({ unified: u, category: "Smileys" })),
  { unified: "1F9CC", category: "Smileys", googleOnly: true },
  ...["1F1E6", "1F1E7", "1F1E8", "1F1E9", "1F1EA", "1F1EB"].map((u) => ({ unified: `${u}-1F1FA`, category: "Flags" })),
  { unified: "2764-FE0F", category: "Symbols" },
  { unified: "1F499", category: "Symbols" },
  { unified: "1F44B", category: "People", tones: true },
  { unified: "1F44D", category: "People", tones: true },
];
/** Kept base emoji (the Google-only one is dropped) and skin-tone variants. */
const BASE_KEPT = 16, VARIANTS = 4;

const fileOf = (unified: string) => `${unified.toLowerCase()}.png`;

/**
 * A 64 × 64 RGBA drawing: a disc of a colour set by `key` on a transparent background whose hidden
 * colour is red (so compositing, not the hidden colour, decides what the background becomes);
 * `vendor` moves the disc a little, as designers do.
 */
async function fakePng(key: number, vendor: number): Promise<Uint8Array> {
  const raw = new Uint8Array(64 * 64 * 4);
  const r = 14 + (key % 5) * 3, cx = 30 + vendor * 3, cy = 32 - vendor * 2;
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const o = (y * 64 + x) * 4;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
      raw.set(
        inside ? [(key * 53) % 256, (key * 97 + x) % 256, (key * 29 + 2 * y) % 256, 255] : [255, 0, 0, 0],
        o,
      );
    }
  }
  return await sharp(raw, { raw: { width: 64, height: 64, channels: 4 } }).png().toBuffer();
}

/** Writes the fake packages under `${dir}/node_modules`; returns that folder. */
async function fakePackages(dir: string): Promise<string> {
  const modules = `${dir}/node_modules`;
  const records = FAKE.map((e) => {
    const has = (vendor: string) => vendor === "google" || !e.googleOnly;
    const flags = (vendor?: string) => Object.fromEntries(VENDORS.map((v) => [`has_img_${v}`, vendor ? has(v) : true]));
    return {
      unified: e.unified,
      image: fileOf(e.unified),
      short_name: `e${e.unified.toLowerCase()}`,
      category: e.category,
      ...flags("any"),
      ...(e.tones
        ? {
          skin_variations: Object.fromEntries(
            TONES.map((t) => [t, { unified: `${e.unified}-${t}`, image: fileOf(`${e.unified}-${t}`), ...flags() }]),
          ),
        }
        : {}),
    };
  });
  const drawings = FAKE.flatMap((e) => [e.unified, ...(e.tones ? TONES.map((t) => `${e.unified}-${t}`) : [])]);
  for (const [v, vendor] of VENDORS.entries()) {
    const root = `${modules}/emoji-datasource-${vendor}`;
    await Deno.mkdir(`${root}/img/${vendor}/64`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/package.json`,
      JSON.stringify({ name: `emoji-datasource-${vendor}`, version: "16.0.0" }),
    );
    await Deno.writeTextFile(`${root}/emoji.json`, JSON.stringify(records));
    for (const [k, u] of drawings.entries()) {
      if (vendor === "twitter" && u === "1F9CC") continue;
      await Deno.writeFile(`${root}/img/${vendor}/64/${fileOf(u)}`, await fakePng(k, v));
    }
  }
  return modules;
}

const schema = plugin.components[0].options;

function load(packages: string, given: Record<string, unknown> = {}): Promise<DatasetSplits> {
  return buildEmojiSplits(resolveOptions(schema, { packages, size: 16, workers: 1, ...given }, "data"), "data");
}

const names = (d: { classNames?: string[] } | undefined) => new Set(d?.classNames ?? []);
const base = (name: string) => name.split(":")[0];

Deno.test("emoji: class counts with and without skin tones, two drawings a class, the lone drawing dropped", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    const plain = await load(packages);
    assertEquals(plain.train.classes + plain.test!.classes, BASE_KEPT);
    assertEquals(plain.train.size + plain.test!.size, 2 * BASE_KEPT);
    assert(!names(plain.train).has("e1f9cc") && !names(plain.test).has("e1f9cc"), "the Google-only emoji is a class");
    assert(/1 emoji drawn by fewer than 2 of the vendors left out/.test(plain.description!), plain.description);
    for (const split of [plain.train, plain.test!]) {
      const counts = new Map<number, number>();
      for (const l of split.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
      assertEquals([...counts.values()].every((n) => n === 2), true);
      assertEquals(counts.size, split.classes);
    }
    const toned = await load(packages, { skinTones: "classes" });
    assertEquals(toned.train.classes + toned.test!.classes, BASE_KEPT + VARIANTS);
    assertEquals(toned.train.size + toned.test!.size, 2 * (BASE_KEPT + VARIANTS));
  });
});

Deno.test("emoji: the zero-shot split is class-disjoint, category-balanced, deterministic, variants with their emoji", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    const a = await load(packages, { skinTones: "classes" });
    const train = names(a.train), test = names(a.test);
    assertEquals([...train].filter((n) => test.has(n)), []);
    // Every skin-tone variant lies on its base emoji's side.
    for (const n of train) assert(train.has(base(n)), `${n} is in train without its base emoji`);
    for (const n of test) assert(test.has(base(n)), `${n} is in test without its base emoji`);
    // Half of each category on each side: Smileys 3/3, Flags 3/3, Symbols 1/1, People 1/1 (bases).
    const category = new Map(FAKE.map((e) => [`e${e.unified.toLowerCase()}`, e.category]));
    const perCategory = (s: Set<string>) => {
      const m: Record<string, number> = {};
      for (const n of s) if (!n.includes(":")) m[category.get(n)!] = (m[category.get(n)!] ?? 0) + 1;
      return m;
    };
    assertEquals(perCategory(train), { Smileys: 3, Flags: 3, Symbols: 1, People: 1 });
    assertEquals(perCategory(test), { Smileys: 3, Flags: 3, Symbols: 1, People: 1 });
    // Each class's drawings by both vendors are on its side: two items per label in each split.
    const images = (d: EmojiDataset) => Array.from({ length: d.size }, (_, i) => d.pixels(i).join(","));
    const allTrain = new Set(images(a.train as EmojiDataset));
    assertEquals(images(a.test as EmojiDataset).filter((p) => allTrain.has(p)), []);
    // The same options give the same split; another splitSeed gives another.
    const again = await load(packages, { skinTones: "classes" });
    assertEquals(again.train.classNames, a.train.classNames);
    assertEquals(again.test!.classNames, a.test!.classNames);
    const others = await Promise.all([1, 2, 3].map((s) => load(packages, { skinTones: "classes", splitSeed: s })));
    assert(others.some((o) => o.test!.classNames!.join() !== a.test!.classNames!.join()), "splitSeed changes nothing");
    // Validation: a quarter of the training emoji, never a test emoji.
    const v = await load(packages, { skinTones: "classes", evaluate: "validation" });
    const vTrain = names(v.train), vHeld = names(v.test);
    assert([...vHeld].every((n) => train.has(n)), "a validation class is not a training class");
    assert([...vTrain].every((n) => train.has(n) && !vHeld.has(n)));
    assertEquals(vTrain.size + vHeld.size, train.size);
    assertEquals([...vHeld].filter((n) => !n.includes(":")).length, 2);
  });
});

Deno.test("emoji: query-gallery takes the query vendor's drawings as queries and the others' as the gallery", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    const one = await load(packages);
    const qg = await load(packages, { protocol: "query-gallery", queryVendor: "twitter" });
    assertEquals(qg.test, undefined);
    assertEquals(qg.query!.size, one.test!.classes);
    assertEquals(qg.gallery!.size, one.test!.classes);
    assertEquals(qg.query!.classNames, one.test!.classNames);
    assertEquals(qg.gallery!.classNames, one.test!.classNames);
    assertEquals(names(qg.train), names(one.train));
    // Queries are Twitter's drawings of the test emoji, the gallery Google's: the one-set split holds both.
    const oneSet = one.test as EmojiDataset, q = qg.query as EmojiDataset, g = qg.gallery as EmojiDataset;
    const pixelsOf = (d: EmojiDataset) => new Set(Array.from({ length: d.size }, (_, i) => d.pixels(i).join(",")));
    const all = pixelsOf(oneSet), qs = pixelsOf(q), gs = pixelsOf(g);
    assertEquals(qs.size + gs.size, all.size);
    assert([...qs, ...gs].every((p) => all.has(p)));
    // Every query's label has its gallery drawing.
    assertEquals([...new Set(q.labels)].sort(), [...new Set(g.labels)].sort());
    assert(
      /query 8 classes \(8 images: google 0, twitter 8\); gallery 8 classes \(8 images: google 8, twitter 0\)/
        .test(qg.description!),
      qg.description,
    );
    const byGoogle = await load(packages, { protocol: "query-gallery", queryVendor: "google" });
    assertEquals(byGoogle.query!.size, one.test!.classes);
    notDeepStrictEqual(pixelsOf(byGoogle.query as EmojiDataset), qs);
  });
});

Deno.test("emoji: drawings are composited on the background grey, decoded once and then read from the cache", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    const o = { dir: packages, vendor: "google", size: 64, background: 77, workers: 1 };
    const first = await loadVendor(o);
    assertEquals(first.from, "package");
    const row = first.rows.get("1F600")!;
    const px = first.set.pixels.subarray(row * 64 * 64 * 3, (row + 1) * 64 * 64 * 3);
    // The corner is transparent (hidden colour red): the background grey, not red, not black.
    assertEquals([...px.subarray(0, 3)], [77, 77, 77]);
    // The disc's centre keeps its opaque colour (key 0 of the fake: [0, x, 2y] at x = 30, y = 32).
    const centre = (32 * 64 + 30) * 3;
    assertEquals([...px.subarray(centre, centre + 3)], [0, 30, 64]);
    const second = await loadVendor(o);
    assertEquals(second.from, "cache");
    assertEquals(second.set.pixels, first.set.pixels);
    assertEquals(second.rows, first.rows);
    // Another background is another cache file.
    assertEquals((await loadVendor({ ...o, background: 200 })).from, "package");
  });
});

/** Reference: `src` shifted by whole pixels (dx, dy), `bg` where nothing lands. */
function shifted(src: Uint8Array, side: number, dx: number, dy: number, bg: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      for (let c = 0; c < 3; c++) {
        const sx = x - dx, sy = y - dy;
        out.push(sx >= 0 && sx < side && sy >= 0 && sy < side ? src[(sy * side + sx) * 3 + c] : bg);
      }
    }
  }
  return out;
}

function randomImage(side: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: side * side * 3 }, () => rng.int(256));
}

function warp(src: Uint8Array, side: number, t: Similarity, bg = 9): number[] {
  const out = new Float32Array(side * side * 3);
  warpImage(src, side, t, bg, out, 0, (v) => v);
  return [...out];
}

Deno.test("emoji augmentation: shifts, rotations and scales match their definitions; nothing is mirrored", () => {
  const side = 7, src = randomImage(side, 3);
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
  assertEquals(warp(src, side, { scale: 1, angle: 0, dx: 0, dy: 0 }), [...src]);
  assertEquals(warp(src, side, { scale: 1, angle: 0, dx: 2, dy: -1 }), shifted(src, side, 2, -1, 9));
  // A quarter turn: output (x, y) shows source (y, side-1-x) about the centre.
  const quarter = warp(src, side, { scale: 1, angle: Math.PI / 2, dx: 0, dy: 0 });
  const turned: number[] = [];
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) for (let c = 0; c < 3; c++) turned.push(src[(((side - 1 - x) * side) + y) * 3 + c]);
  }
  assert(close(quarter, turned), "a 90° rotation is not the exact quarter turn");
  // Scaling a linear ramp by 2 about the centre: bilinear sampling reproduces the ramp at half the slope.
  const ramp = Uint8Array.from({ length: side * side * 3 }, (_, i) => 40 * (Math.floor(i / 3) % side));
  const zoom = warp(ramp, side, { scale: 2, angle: 0, dx: 0, dy: 0 });
  const c0 = (side - 1) / 2;
  for (let x = 0; x < side; x++) assert(Math.abs(zoom[x * 3] - 40 * (c0 + (x - c0) / 2)) < 1e-9, `x ${x}`);
  // Draws stay in their ranges.
  const rng = new Rng(5);
  for (let i = 0; i < 200; i++) {
    const t = drawTransform(rng, { shift: 0.1, scale: [0.8, 1.1], rotate: 10 }, 32);
    assert(t.scale >= 0.8 && t.scale <= 1.1 && Math.abs(t.angle) <= Math.PI / 18 && Math.abs(t.dx) <= 3.2001);
  }
});

Deno.test("emoji augmentation is deterministic under a seed, off at test time, and never flips", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    const d = await load(packages);
    const ds = d.train as EmojiDataset;
    const idx = Int32Array.from({ length: ds.size }, (_, i) => i);
    const before = tf.memory().numTensors;
    const run = async (augment: boolean, seed: number) => {
      const t = ds.batch(idx, { augment, rng: new Rng(seed) });
      const v = await t.data();
      t.dispose();
      return [...v];
    };
    assertEquals(await run(true, 7), await run(true, 7));
    notDeepStrictEqual(await run(true, 7), await run(true, 8));
    // Without augmentation: the pixels / 255 minus the training split's per-channel mean.
    const mean = ds.options.mean;
    assert(mean.every((m) => m > 0.1 && m < 0.9), `mean ${mean}`);
    const want = Array.from({ length: ds.size }, (_, i) => [...ds.pixels(i)].map((v, p) => v / 255 - mean[p % 3]))
      .flat();
    const got = await run(false, 7);
    assert(got.every((v, i) => Math.abs(v - want[i]) < 1e-6));
    // With every range at zero, augmentation is the identity: no hidden mirror or colour change.
    const still = await load(packages, { shift: 0, scale: [1, 1], rotate: 0 });
    const s = still.train.batch(idx, { augment: true, rng: new Rng(1) });
    assert((await s.data()).every((v, i) => Math.abs(v - want[i]) < 1e-6), "identity ranges changed the image");
    s.dispose();
    assertEquals(tf.memory().numTensors, before);
  });
});

async function rejectsWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await rejects(p, (e: Error) => {
    assert(e instanceof DmlError, `not a DmlError: ${e}`);
    assert(pattern.test(e.message) && !e.message.includes("\n"), e.message);
    return true;
  });
}

Deno.test("emoji: bad input is one DmlError line naming the problem", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    await rejectsWith(load(packages, { vendors: ["google", "samsung"] }), /data\.vendors: unknown vendor 'samsung'/);
    await rejectsWith(load(packages, { vendors: ["google"] }), /data\.vendors: .*at least 2 vendors, got 1/);
    await rejectsWith(
      load(packages, { protocol: "query-gallery", queryVendor: "apple" }),
      /data\.queryVendor: 'apple' is not one of data\.vendors/,
    );
    await rejectsWith(
      load(packages, { vendors: ["google", "apple"] }),
      /emoji-datasource-apple is not installed .*plugins\/emoji\/packages\/deno\.json/,
    );
    await rejectsWith(load(`${dir}/nowhere`), /emoji-datasource-google is not installed .*deno task emoji:install/);
    const google = `${packages}/emoji-datasource-google`;
    // The cache would serve the images decoded above: these checks are of the package itself.
    const fresh = () => Deno.remove(`${dir}/.cache`, { recursive: true }).catch(() => {});
    await fresh();
    await Deno.writeFile(`${google}/img/google/64/1f44b-1f3ff.png`, new TextEncoder().encode("not a png"));
    await rejectsWith(load(packages), /1f44b-1f3ff\.png: not a readable image .*looks damaged/);
    await fresh();
    await Deno.remove(`${google}/img/google/64/1f602.png`);
    await rejectsWith(load(packages), /1 image listed in .*emoji\.json is missing, first .*1f602\.png/);
    await Deno.writeTextFile(`${google}/emoji.json`, "[{");
    await rejectsWith(load(packages), /emoji\.json: not valid JSON/);
    await Deno.writeTextFile(`${google}/emoji.json`, JSON.stringify([{ unified: "1F600", image: "x.png" }]));
    await rejectsWith(load(packages), /emoji\.json: record 0 has no 'short_name'/);
  });
});

Deno.test("emoji: deno task train with a missing image ends with one line, exit 2, and writes no run", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    await Deno.remove(`${packages}/emoji-datasource-twitter/img/twitter/64/1f499.png`);
    const recipe = `${dir}/r.yaml`;
    await Deno.writeTextFile(
      recipe,
      stringify({
        name: "bad",
        data: { use: "emoji", packages, size: 16 },
        backbone: { use: "convnet", channels: [4], dim: 4 },
        sampler: { use: "m-per-class", classes: 2, perClass: 2 },
        loss: { use: "contrastive" },
        optimizer: { use: "adam" },
        eval: { use: "retrieval" },
        output: `${dir}/runs`,
      }),
    );
    const r = await runCli(dir, taskFlags("train"), ["train", recipe], { DML_CACHE: `${dir}/.cache` });
    assertOneLineError(r, /1 image listed in .*emoji-datasource-twitter\/emoji\.json is missing, first .*1f499\.png/);
    assertEquals(await Deno.stat(`${dir}/runs`).then(() => true, () => false), false);
  });
});

Deno.test("emoji: a two-step training run on the fake copy trains and evaluates, with both baselines", async () => {
  await inTempDir(async (dir) => {
    const packages = await fakePackages(dir);
    for (const protocol of ["one-set", "query-gallery"]) {
      const file = `${dir}/${protocol}.yaml`;
      await Deno.writeTextFile(
        file,
        stringify({
          name: `emoji-${protocol}`,
          seed: 0,
          data: { use: "emoji", packages, size: 16, workers: 1, protocol },
          backbone: { use: "convnet", channels: [4, 8], dim: 8 },
          sampler: { use: "m-per-class", classes: 3, perClass: 2 },
          loss: { use: "multi-similarity" },
          optimizer: { use: "adam", lr: 0.001 },
          train: { epochs: 1, maxSteps: 2, backend: "cpu", logEvery: 1, checkpoint: false },
          eval: { use: "retrieval", recallAt: [1, 2], baselines: true },
          output: `${dir}/runs`,
        }),
      );
      const registry = createRegistry();
      const result = await train(await resolveRecipe(await loadRecipe(file), registry, dir), registry, { quiet: true });
      assertEquals(result.steps, 2);
      assert(result.losses.every(Number.isFinite), `losses ${result.losses}`);
      for (const m of [result.metrics, result.baselines!["raw pixels"], result.baselines!["untrained network"]]) {
        assert(m["recall@1"] >= 0 && m["recall@1"] <= m["recall@2"] && m["recall@2"] <= 1, JSON.stringify(m));
      }
    }
  });
});

Deno.test("emoji: the real packages stay out of the project's deno.json (every deno task would download them)", async () => {
  const root = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assertEquals(Object.values(root.imports as Record<string, string>).filter((s) => s.includes("emoji-datasource")), []);
  assertEquals(root.tasks["emoji:install"], "cd plugins/emoji/packages && deno install");
  const own = JSON.parse(await Deno.readTextFile(`${ROOT}plugins/emoji/packages/deno.json`));
  assertEquals(own.imports, {
    "emoji-datasource-google": "npm:emoji-datasource-google@16.0.0",
    "emoji-datasource-twitter": "npm:emoji-datasource-twitter@16.0.0",
  });
});
