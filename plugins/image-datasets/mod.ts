/**
 * Image datasets read from the user's own copies, in their official folder layouts and with the
 * standard splits of metric learning: `cub200`, `cars196`, `sop`, `inshop`, `deepfashion2`,
 * `vehicleid`, and `image-folder` for one's own data. Files are decoded by sharp in worker threads
 * ahead of training (see image_file_dataset.ts); docs/datasets.md shows each layout.
 *
 * ```ts
 * const data = await registry.create<DatasetSplits>("dataset", "cub200", { root: "/data/CUB_200_2011" }, ctx);
 * data.train.classes; // 100
 * const x = await data.train.loadBatch!(Int32Array.of(0, 1), { augment: true, rng }); // [2, 224, 224, 3]
 * ```
 */
import type { ComponentDef, Plugin } from "../../core/types.ts";
import { int, str } from "../../core/options.ts";
import { buildImageSplits, imageOptions } from "./build_splits.ts";
import { resolveRoot } from "./layout.ts";
import { readCub200 } from "./cub200.ts";
import { readCars196 } from "./cars196.ts";
import { readSop } from "./sop.ts";
import { readInShop } from "./inshop.ts";
import { readDeepFashion2 } from "./deepfashion2.ts";
import { readVehicleId, type VehicleIdTestSize } from "./vehicleid.ts";
import { readImageFolder } from "./image_folder.ts";

const cub200: ComponentDef = {
  kind: "dataset",
  name: "cub200",
  doc: "CUB-200-2011 birds (11,788 images, 200 classes) from images.txt / image_class_labels.txt / classes.txt; " +
    "classes 1–100 train, 101–200 test (one-set retrieval)",
  options: imageOptions({ boxes: false }),
  create: async (o, ctx) =>
    buildImageSplits("cub200", await readCub200(resolveRoot(o.root), { boxes: o.boxes }), o, ctx.path),
};

const cars196: ComponentDef = {
  kind: "dataset",
  name: "cars196",
  doc: "Cars196 (16,185 images, 196 models) from cars_annos.mat + car_ims/; classes 1–98 train, 99–196 test",
  options: imageOptions({ boxes: false }),
  create: async (o, ctx) =>
    buildImageSplits("cars196", await readCars196(resolveRoot(o.root), { boxes: o.boxes }), o, ctx.path),
};

const sop: ComponentDef = {
  kind: "dataset",
  name: "sop",
  doc: "Stanford Online Products (120,053 images, 22,634 products) from Ebay_train.txt / Ebay_test.txt: " +
    "11,318 training classes, 11,316 test classes",
  options: imageOptions(),
  create: async (o, ctx) => buildImageSplits("sop", await readSop(resolveRoot(o.root)), o, ctx.path),
};

const inshop: ComponentDef = {
  kind: "dataset",
  name: "inshop",
  doc: "In-Shop Clothes Retrieval (52,712 images) from Eval/list_eval_partition.txt: 3,997 training items; " +
    "query (14,218) vs gallery (12,612) of 3,985 other items",
  options: imageOptions({ boxes: false }),
  create: async (o, ctx) =>
    buildImageSplits("inshop", await readInShop(resolveRoot(o.root), { boxes: o.boxes }), o, ctx.path),
};

const deepfashion2: ComponentDef = {
  kind: "dataset",
  name: "deepfashion2",
  doc: "DeepFashion2 consumer-to-shop retrieval from train|validation/annos/*.json: items cropped to their boxes, " +
    "label = (pair_id, category_id, style > 0); validation user items query its shop items",
  options: {
    ...imageOptions(),
    minPerClass: int(2, { min: 1, doc: "training labels with fewer items are left out" }),
  },
  create: async (o, ctx) =>
    buildImageSplits(
      "deepfashion2",
      await readDeepFashion2(resolveRoot(o.root), { minPerClass: o.minPerClass }),
      o,
      ctx.path,
    ),
};

const vehicleid: ComponentDef = {
  kind: "dataset",
  name: "vehicleid",
  doc: "PKU VehicleID (about 221k images of 26k vehicles) from train_test_split/: train_list.txt for training, " +
    "test_list_800/1600/2400.txt as the small/medium/large test set",
  options: {
    ...imageOptions(),
    testSize: str(
      "small",
      ["small", "medium", "large"],
      "test list: small (800 vehicles), medium (1600), large (2400)",
    ),
    protocol: str(
      "all",
      ["all", "query-gallery"],
      "all: each test image against all others (metric-learning papers); query-gallery: one gallery image per vehicle",
    ),
    splitSeed: int(0, { min: 0, doc: "seed of the gallery choice in the query-gallery protocol" }),
  },
  create: async (o, ctx) =>
    buildImageSplits(
      "vehicleid",
      await readVehicleId(resolveRoot(o.root), {
        testSize: o.testSize as VehicleIdTestSize,
        protocol: o.protocol,
        splitSeed: o.splitSeed,
      }),
      o,
      ctx.path,
    ),
};

const imageFolder: ComponentDef = {
  kind: "dataset",
  name: "image-folder",
  doc: "Your own images, one sub-folder per class: root/<class>/* (first half of the sorted classes train), or " +
    "root/train + root/test, or root/train + root/query + root/gallery",
  options: imageOptions(),
  create: async (o, ctx) => buildImageSplits("image-folder", await readImageFolder(resolveRoot(o.root)), o, ctx.path),
};

/** The image-datasets plugin. */
export const plugin: Plugin = {
  name: "image-datasets",
  components: [cub200, cars196, sop, inshop, deepfashion2, vehicleid, imageFolder],
};
export default plugin;
