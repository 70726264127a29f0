import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { DmlError } from "../core/errors.ts";
import type { Dataset, DatasetSplits } from "../core/types.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { readMat5 } from "../plugins/image-datasets/mat5.ts";
import { readCars196 } from "../plugins/image-datasets/cars196.ts";
import { ImageFileDataset } from "../plugins/image-datasets/image_file_dataset.ts";
import {
  FAKE_LAYOUTS,
  fakeCars196,
  type FakeCopy,
  fakeCub200,
  fakeDeepFashion2,
  fakeInShop,
  fakeJpeg,
  fakeSop,
  fakeVehicleId,
  inTempDir,
} from "./image_fixtures.ts";

const registry = createRegistry();

function create(name: string, options: Record<string, unknown>): Promise<DatasetSplits> {
  return registry.create<DatasetSplits>("dataset", name, { size: 16, resize: 18, workers: 1, ...options }, {
    path: "data",
    rng: new Rng(0),
    registry,
    shared: new Map(),
  });
}

/** Rejects with a one-line DmlError whose message contains every part. */
async function failsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  await rejects(p, (e: Error) => {
    assert(e instanceof DmlError, `expected a DmlError, got ${e}`);
    assert(!e.message.includes("\n"), `message has several lines: ${e.message}`);
    for (const part of parts) assert(e.message.includes(part), `'${e.message}' lacks '${part}'`);
    return true;
  });
}

const files = (d: Dataset | undefined) => new Set((d as ImageFileDataset).items.paths);
const classNames = (d: Dataset | undefined) => new Set(d!.classNames);

function checkSplits(data: DatasetSplits, fake: FakeCopy): void {
  for (const split of ["train", "test", "query", "gallery"] as const) {
    const d = data[split];
    if (fake.sizes[split] === undefined) {
      assertEquals(d, undefined, `${split} should be absent`);
      continue;
    }
    assertEquals([split, d!.size, d!.classes], [split, fake.sizes[split], fake.classes[split]]);
    assertEquals(d!.shape, [16, 16, 3]);
    assertEquals(Math.max(...d!.labels) < d!.classes && Math.min(...d!.labels) >= 0, true);
  }
  const evalSplits = [data.test, data.query, data.gallery].filter((d) => d);
  for (const d of evalSplits) {
    // Zero-shot: no image and no class of the training split is evaluated.
    for (const p of files(d)) assert(!files(data.train).has(p), `${p} is in train and test`);
    for (const c of classNames(d)) assert(!classNames(data.train).has(c), `class ${c} is in train and test`);
  }
  if (data.query && data.gallery) {
    for (const p of files(data.query)) assert(!files(data.gallery).has(p), `${p} is a query and a gallery image`);
    // Query and gallery share one label numbering.
    assertEquals(data.query.classNames, data.gallery.classNames);
  }
}

Deno.test("every layout's fake copy gives its standard splits: class counts, sizes, disjoint train and test", async () => {
  await inTempDir(async (dir) => {
    for (const [name, make] of FAKE_LAYOUTS) {
      const fake = await make(`${dir}/${name}`);
      const data = await create(name, { root: fake.root });
      checkSplits(data, fake);
      assert(data.description!.startsWith(name), data.description);
      const x = data.train.batch(Int32Array.of(0, data.train.size - 1), { augment: true, rng: new Rng(1) });
      assertEquals(x.shape, [2, 16, 16, 3]);
      x.dispose();
    }
  });
});

Deno.test("cub200 and cars196 split classes in half by id; boxes crop when asked", async () => {
  await inTempDir(async (dir) => {
    const cub = await fakeCub200(dir, { classes: 6, perClass: 2 });
    const data = await create("cub200", { root: cub.root, boxes: true });
    assertEquals(data.train.classNames, ["001.Bird_1", "002.Bird_2", "003.Bird_3"]);
    assertEquals(data.test!.classNames, ["004.Bird_4", "005.Bird_5", "006.Bird_6"]);
    assertEquals((data.train as ImageFileDataset).items.boxes![0], [2, 3, 22, 18]);
    // The root may be the folder that holds CUB_200_2011/.
    assertEquals((await create("cub200", { root: dir })).train.size, 6);
    // Cars: the MAT-file compressed or not, and one written by scipy (an independent writer).
    const cars = await fakeCars196(`${dir}/plain`, { classes: 4, perClass: 2, compress: false });
    const c = await create("cars196", { root: cars.root, boxes: true });
    assertEquals([c.train.size, c.test!.size, c.train.classNames], [4, 4, ["Make Model 1 2012", "Make Model 2 2012"]]);
    assertEquals((c.train as ImageFileDataset).items.boxes![0], [2, 1, 30, 25]);
    const scipy = readMat5(await Deno.readFile("tests/fixtures/cars_annos_scipy.mat"), "scipy");
    const annos = scipy.get("annotations")!;
    assert(annos.kind === "struct");
    assertEquals(annos.fields, ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]);
    assertEquals(annos.elements.length, 12);
    await Deno.mkdir(`${dir}/scipy`);
    await Deno.copyFile("tests/fixtures/cars_annos_scipy.mat", `${dir}/scipy/cars_annos.mat`);
    const layout = await readCars196(`${dir}/scipy`);
    assertEquals([layout.train.length, layout.test!.length], [6, 6]);
    assertEquals(layout.train[4], { path: `${dir}/scipy/car_ims/000005.jpg`, key: "2" });
    assertEquals(layout.classNames!.get("4"), "Acura TL Type-S 2008");
  });
});

Deno.test("vehicleid: small/medium/large test lists and the one-gallery-image-per-vehicle protocol", async () => {
  await inTempDir(async (dir) => {
    const fake = await fakeVehicleId(dir);
    const sizes = [];
    for (const testSize of ["small", "medium", "large"]) {
      sizes.push((await create("vehicleid", { root: fake.root, testSize })).test!.size);
    }
    assertEquals(sizes, [9, 11, 11]);
    const qg = await create("vehicleid", { root: fake.root, testSize: "medium", protocol: "query-gallery" });
    assertEquals([qg.query!.size, qg.gallery!.size, qg.test], [7, 4, undefined]);
    // Exactly one gallery image per vehicle, and the query holds the others.
    assertEquals(new Set(qg.gallery!.labels).size, 4);
    for (const p of files(qg.query)) assert(!files(qg.gallery).has(p));
  });
});

Deno.test("deepfashion2: items labelled by (pair, category, style > 0), user items query all shop items", async () => {
  await inTempDir(async (dir) => {
    const fake = await fakeDeepFashion2(dir);
    const data = await create("deepfashion2", { root: fake.root });
    assertEquals(data.train.classNames, ["1-1-1", "2-1-1", "3-1-1"]); // pair 4's lone item left out
    // Pair 13 has shop items only: a distractor in the gallery. Pair 14's user item has no shop item: no query.
    const labelsOf = (d: Dataset) => [...new Set(d.labels)].map((y) => d.classNames![y]).sort();
    assertEquals(labelsOf(data.query!), ["10-1-1", "11-1-1", "12-1-1"]);
    assertEquals(labelsOf(data.gallery!), ["10-1-1", "11-1-1", "12-1-1", "13-5-1"]);
    assert(data.description!.includes("query 3 classes (3 images); gallery 4 classes (7 images)"), data.description);
    assert((data.query as ImageFileDataset).items.boxes!.every((b) => b !== null));
    const again = await create("deepfashion2", { root: fake.root, minPerClass: 1 });
    assertEquals(again.train.classes, 4);
  });
});

Deno.test("image-folder: train/test and train/query/gallery sub-folders are taken as given", async () => {
  await inTempDir(async (dir) => {
    for (const [split, k] of [["train", 0], ["test", 2], ["query", 4], ["gallery", 4]] as const) {
      for (let c = k; c < k + 2; c++) {
        if (split === "train" || split === "test") {
          await Deno.mkdir(`${dir}/a/${split}/c${c}`, { recursive: true });
          await Deno.writeFile(`${dir}/a/${split}/c${c}/x.png`, await fakeJpeg(20, 20, c));
        }
        await Deno.mkdir(`${dir}/b/${split}/c${c}`, { recursive: true });
        await Deno.writeFile(`${dir}/b/${split}/c${c}/x.jpg`, await fakeJpeg(20, 20, c + 10));
      }
    }
    const a = await create("image-folder", { root: `${dir}/a` });
    assertEquals([a.train.classNames, a.test!.classNames, a.query], [["c0", "c1"], ["c2", "c3"], undefined]);
    const b = await create("image-folder", { root: `${dir}/b` });
    assertEquals([b.query!.size, b.gallery!.size, b.test], [2, 2, undefined]);
  });
});

Deno.test("bad input: missing root or split file, labels that disagree with the folders, one clear line", async () => {
  await inTempDir(async (dir) => {
    await failsWith(create("sop", { root: `${dir}/nowhere` }), "data.root", `${dir}/nowhere`, "is not a folder");
    await failsWith(
      registry.create("dataset", "cub200", {}, { path: "data", rng: new Rng(0), registry, shared: new Map() }),
      "data.root",
    );
    const cub = await fakeCub200(dir);
    await Deno.remove(`${cub.root}/image_class_labels.txt`);
    await failsWith(create("cub200", { root: cub.root }), "needs image_class_labels.txt");
    await Deno.writeTextFile(
      `${cub.root}/image_class_labels.txt`,
      "1 2\n2 1\n3 1\n4 2\n5 2\n6 2\n7 3\n8 3\n9 3\n10 4\n11 4\n12 4\n",
    );
    await failsWith(
      create("cub200", { root: cub.root }),
      "image_class_labels.txt",
      "image 1",
      "class 2",
      "folder 001.Bird_1",
    );

    const shop = await fakeInShop(dir);
    const partition = `${shop.root}/Eval/list_eval_partition.txt`;
    const text = await Deno.readTextFile(partition);
    await Deno.writeTextFile(partition, text.replace("id_00000001 train", "id_00000002 train"));
    await failsWith(
      create("inshop", { root: shop.root }),
      "list_eval_partition.txt:3",
      "item id_00000002",
      "folder id_00000001",
    );
    await Deno.writeTextFile(partition, text.replace(/^18/, "20"));
    await failsWith(create("inshop", { root: shop.root }), "announces 20 images", "lists 18");

    const sop = await fakeSop(dir);
    const test = await Deno.readTextFile(`${sop.root}/Ebay_test.txt`);
    await Deno.writeTextFile(`${sop.root}/Ebay_test.txt`, test.replace(/\n(\d+) 4 /, "\n$1 1 "));
    await failsWith(create("sop", { root: sop.root }), "Ebay_test.txt", "class 1", "also in Ebay_train.txt");
    await Deno.writeTextFile(`${sop.root}/Ebay_test.txt`, test + "99 seven 1 x.jpg\n");
    await failsWith(create("sop", { root: sop.root }), "Ebay_test.txt:8", "class_id must be an integer", "'seven'");

    const vid = await fakeVehicleId(dir);
    const img2vid = `${vid.root}/attribute/img2vid.txt`;
    await Deno.writeTextFile(img2vid, (await Deno.readTextFile(img2vid)).replace("0000001 1", "0000001 7"));
    await failsWith(create("vehicleid", { root: vid.root }), "img2vid.txt", "image 0000001", "vehicle 7", "vehicle 1");
    await Deno.remove(`${vid.root}/train_test_split/test_list_2400.txt`);
    await failsWith(
      create("vehicleid", { root: vid.root, testSize: "large" }),
      "needs train_test_split/test_list_2400.txt",
    );

    await Deno.mkdir(`${dir}/mat`);
    await Deno.writeTextFile(`${dir}/mat/cars_annos.mat`, "not a MAT-file at all, just some text ".repeat(5));
    await failsWith(create("cars196", { root: `${dir}/mat` }), "cars_annos.mat", "not a MATLAB 5 MAT-file");
  });
});

Deno.test("listed images that are absent or corrupt: named, or skipped with a count", async () => {
  await inTempDir(async (dir) => {
    const cub = await fakeCub200(dir);
    const gone = `${cub.root}/images/002.Bird_2/Bird_2_1.jpg`;
    await Deno.remove(gone);
    await failsWith(create("cub200", { root: cub.root }), "1 listed image is missing", gone, "skipBad");
    const skipped = await create("cub200", { root: cub.root, skipBad: true });
    assertEquals(skipped.train.size, 5);
    assert(skipped.description!.includes("1 missing or unreadable image skipped"), skipped.description);

    const corrupt = `${cub.root}/images/003.Bird_3/Bird_3_0.jpg`;
    await Deno.writeFile(corrupt, new Uint8Array(200).fill(7));
    // `exists` does not open files; `decode` decodes each once and names the bad one.
    assertEquals((await create("cub200", { root: cub.root, skipBad: true })).test!.size, 6);
    await failsWith(
      create("cub200", { root: cub.root, verify: "decode" }),
      "2 listed images are missing or unreadable",
    );
    const both = await create("cub200", { root: cub.root, verify: "decode", skipBad: true });
    assertEquals([both.train.size, both.test!.size], [5, 5]);
    assert(both.description!.includes("2 missing or unreadable images skipped"), both.description);
  });
});

Deno.test("limitClasses keeps the first classes of each split, query and gallery alike", async () => {
  await inTempDir(async (dir) => {
    const shop = await fakeInShop(dir);
    const data = await create("inshop", { root: shop.root, limitClasses: 2 });
    assertEquals([data.train.classes, data.query!.classes, data.query!.size, data.gallery!.size], [2, 2, 4, 2]);
    await failsWith(create("cub200", { root: (await fakeCub200(dir)).root, scale: [0.5, 0.2] }), "data.scale");
  });
});
