/**
 * Tiny fake copies of the image datasets' official layouts, for tests: a few classes of a few
 * small JPEGs each, with the list files, MAT-file and JSON annotations of the real datasets.
 * Each image has its own colour pattern, so decoding errors show up as wrong pixels.
 *
 * ```ts
 * const root = await Deno.makeTempDir();
 * const info = await fakeCub200(root, { classes: 4, perClass: 3 });
 * info.root; // `${root}/CUB_200_2011`
 * ```
 */
import sharp from "sharp";
import { deflateSync } from "node:zlib";
import { closeDecodePool } from "../core/images/decode_pool.ts";

/**
 * Runs `fn` in a fresh temporary folder whose `.cache` is dml's cache meanwhile (so the decode and
 * DeepFashion2 caches do not pile up in the repository), then ends the decoding workers, restores
 * $DML_CACHE and removes the folder.
 */
export async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  const before = Deno.env.get("DML_CACHE");
  Deno.env.set("DML_CACHE", `${dir}/.cache`);
  try {
    return await fn(dir);
  } finally {
    closeDecodePool();
    if (before === undefined) Deno.env.delete("DML_CACHE");
    else Deno.env.set("DML_CACHE", before);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A JPEG of w × h whose pixels depend on `seed` (smooth gradients, so JPEG keeps them). */
export async function fakeJpeg(w: number, h: number, seed: number): Promise<Uint8Array> {
  const raw = new Uint8Array(w * h * 3);
  const a = (seed * 37) % 200, b = (seed * 91) % 200, c = (seed * 53) % 200;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      raw[o] = a + Math.floor((55 * x) / w);
      raw[o + 1] = b + Math.floor((55 * y) / h);
      raw[o + 2] = c + Math.floor((55 * (x + y)) / (w + h));
    }
  }
  return new Uint8Array(
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer(),
  );
}

async function writeImage(path: string, seed: number, w = 40, h = 32): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, await fakeJpeg(w + (seed % 5) * 3, h + (seed % 3) * 2, seed));
}

export interface FakeCopy {
  /** What data.root should be. */
  root: string;
  /** Images per split as the dataset should report them. */
  sizes: Record<string, number>;
  /** Classes per split. */
  classes: Record<string, number>;
}

/** CUB_200_2011/ with images.txt, image_class_labels.txt, classes.txt, bounding_boxes.txt. */
export async function fakeCub200(dir: string, o = { classes: 4, perClass: 3 }): Promise<FakeCopy> {
  const root = `${dir}/CUB_200_2011`;
  const images: string[] = [], labels: string[] = [], classes: string[] = [], boxes: string[] = [];
  let id = 1;
  for (let c = 1; c <= o.classes; c++) {
    const name = `${String(c).padStart(3, "0")}.Bird_${c}`;
    classes.push(`${c} ${name}`);
    for (let k = 0; k < o.perClass; k++, id++) {
      const rel = `${name}/Bird_${c}_${k}.jpg`;
      images.push(`${id} ${rel}`);
      labels.push(`${id} ${c}`);
      boxes.push(`${id} 2.0 3.0 20.0 15.0`);
      await writeImage(`${root}/images/${rel}`, id);
    }
  }
  await Deno.writeTextFile(`${root}/images.txt`, images.join("\n") + "\n");
  await Deno.writeTextFile(`${root}/image_class_labels.txt`, labels.join("\n") + "\n");
  await Deno.writeTextFile(`${root}/classes.txt`, classes.join("\n") + "\n");
  await Deno.writeTextFile(`${root}/bounding_boxes.txt`, boxes.join("\n") + "\n");
  const half = Math.ceil(o.classes / 2);
  return {
    root,
    sizes: { train: half * o.perClass, test: (o.classes - half) * o.perClass },
    classes: { train: half, test: o.classes - half },
  };
}

// --- a minimal MATLAB Level 5 writer, for fake cars_annos.mat files ---

type MatIn = number | string | MatIn[] | { [field: string]: MatIn };

function element(type: number, bytes: Uint8Array): Uint8Array {
  const padded = Math.ceil(bytes.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, bytes.length, true);
  out.set(bytes, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32s(values: number[]): Uint8Array {
  return new Uint8Array(Uint32Array.from(values).buffer);
}

function i32s(values: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(values).buffer);
}

/** A miMATRIX element: numbers become 1×1 doubles, strings 1×n chars, arrays 1×n cells or structs. */
function matrix(name: string, v: MatIn): Uint8Array {
  const head = (cls: number, dims: number[]) => [
    element(6, u32s([cls, 0])),
    element(5, i32s(dims)),
    element(1, new TextEncoder().encode(name)),
  ];
  let body: Uint8Array[];
  if (typeof v === "number") body = [...head(6, [1, 1]), element(9, new Uint8Array(Float64Array.of(v).buffer))];
  else if (typeof v === "string") {
    body = [
      ...head(4, [1, v.length]),
      element(4, new Uint8Array(Uint16Array.from(v, (ch) => ch.charCodeAt(0)).buffer)),
    ];
  } else if (Array.isArray(v) && v.length > 0 && typeof v[0] === "object" && !Array.isArray(v[0])) {
    const records = v as { [field: string]: MatIn }[];
    const fields = Object.keys(records[0]);
    const names = new Uint8Array(32 * fields.length);
    fields.forEach((f, i) => names.set(new TextEncoder().encode(f), 32 * i));
    body = [
      ...head(2, [1, records.length]),
      element(5, i32s([32])),
      element(1, names),
      ...records.flatMap((r) => fields.map((f) => matrix("", r[f]))),
    ];
  } else body = [...head(1, [1, (v as MatIn[]).length]), ...(v as MatIn[]).map((x) => matrix("", x))];
  return element(14, concat(body));
}

/** A Level 5 MAT-file holding `vars`, each variable compressed when `compress`. */
export function matFile(vars: Record<string, MatIn>, compress: boolean): Uint8Array {
  const header = new Uint8Array(128).fill(32);
  header.set(new TextEncoder().encode("MATLAB 5.0 MAT-file, written by the dml tests"));
  header.fill(0, 116, 124);
  header.set([0x00, 0x01, 0x49, 0x4d], 124); // version 0x0100, "IM" = little-endian
  const bodies = Object.entries(vars).map(([name, value]) => {
    const m = matrix(name, value);
    if (!compress) return m;
    const z = deflateSync(m);
    const out = new Uint8Array(8 + z.length);
    new DataView(out.buffer).setUint32(0, 15, true);
    new DataView(out.buffer).setUint32(4, z.length, true);
    out.set(z, 8);
    return out;
  });
  return concat([header, ...bodies]);
}

/** cars196/ with cars_annos.mat and car_ims/. */
export async function fakeCars196(dir: string, o = { classes: 4, perClass: 3, compress: true }): Promise<FakeCopy> {
  const root = `${dir}/cars196`;
  const annotations: { [field: string]: MatIn }[] = [];
  let id = 1;
  for (let c = 1; c <= o.classes; c++) {
    for (let k = 0; k < o.perClass; k++, id++) {
      const rel = `car_ims/${String(id).padStart(6, "0")}.jpg`;
      await writeImage(`${root}/${rel}`, 100 + id);
      annotations.push({
        relative_im_path: rel,
        bbox_x1: 3,
        bbox_y1: 2,
        bbox_x2: 30,
        bbox_y2: 25,
        class: c,
        test: id % 2,
      });
    }
  }
  const classNames = Array.from({ length: o.classes }, (_, i) => `Make Model ${i + 1} 2012`);
  await Deno.writeFile(`${root}/cars_annos.mat`, matFile({ annotations, class_names: classNames }, o.compress));
  const half = Math.ceil(o.classes / 2);
  return {
    root,
    sizes: { train: half * o.perClass, test: (o.classes - half) * o.perClass },
    classes: { train: half, test: o.classes - half },
  };
}

/** Stanford_Online_Products/ with Ebay_train.txt, Ebay_test.txt and <super>_final/ folders. */
export async function fakeSop(dir: string, o = { trainClasses: 3, testClasses: 3, perClass: 2 }): Promise<FakeCopy> {
  const root = `${dir}/Stanford_Online_Products`;
  const supers = ["bicycle", "chair"];
  const lines = { train: ["image_id class_id super_class_id path"], test: ["image_id class_id super_class_id path"] };
  let id = 1;
  for (let c = 1; c <= o.trainClasses + o.testClasses; c++) {
    const split = c <= o.trainClasses ? "train" : "test";
    const s = c % supers.length;
    for (let k = 0; k < o.perClass; k++, id++) {
      const rel = `${supers[s]}_final/${1000 + c}_${k}.JPG`;
      lines[split].push(`${id} ${c} ${s + 1} ${rel}`);
      await writeImage(`${root}/${rel}`, 200 + id);
    }
  }
  await Deno.writeTextFile(`${root}/Ebay_train.txt`, lines.train.join("\n") + "\n");
  await Deno.writeTextFile(`${root}/Ebay_test.txt`, lines.test.join("\n") + "\n");
  return {
    root,
    sizes: { train: o.trainClasses * o.perClass, test: o.testClasses * o.perClass },
    classes: { train: o.trainClasses, test: o.testClasses },
  };
}

/** An In-Shop folder with Eval/list_eval_partition.txt and img/. */
export async function fakeInShop(dir: string, o = { trainItems: 3, testItems: 3 }): Promise<FakeCopy> {
  const root = `${dir}/inshop`;
  const rows: string[] = [];
  const boxes: string[] = [];
  let seed = 300;
  const sizes = { train: 0, query: 0, gallery: 0 };
  for (let i = 1; i <= o.trainItems + o.testItems; i++) {
    const item = `id_${String(i).padStart(8, "0")}`;
    const statuses = i <= o.trainItems ? ["train", "train", "train"] : ["query", "query", "gallery"];
    for (const [k, status] of statuses.entries()) {
      const rel = `img/WOMEN/Dresses/${item}/0${k + 1}_1_front.jpg`;
      rows.push(`${rel} ${item} ${status}`);
      boxes.push(`${rel} 1 1 2 2 30 28`);
      sizes[status as keyof typeof sizes]++;
      await writeImage(`${root}/${rel}`, seed++);
    }
  }
  await Deno.mkdir(`${root}/Eval`, { recursive: true });
  await Deno.mkdir(`${root}/Anno`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/Eval/list_eval_partition.txt`,
    [String(rows.length), "image_name item_id evaluation_status", ...rows].join("\n") + "\n",
  );
  await Deno.writeTextFile(
    `${root}/Anno/list_bbox_inshop.txt`,
    [String(boxes.length), "image_name clothes_type pose_type x_1 y_1 x_2 y_2", ...boxes].join("\n") + "\n",
  );
  return { root, sizes, classes: { train: o.trainItems, query: o.testItems, gallery: o.testItems } };
}

/** A deepfashion2 folder with train/ and validation/ image + annos. */
export async function fakeDeepFashion2(dir: string): Promise<FakeCopy> {
  const root = `${dir}/deepfashion2`;
  let n = 1;
  const write = async (split: string, source: string, pair: number, items: [number, number][]) => {
    const name = String(n++).padStart(6, "0");
    const anno: Record<string, unknown> = { source, pair_id: pair };
    items.forEach(([category, style], i) => {
      anno[`item${i + 1}`] = {
        category_id: category,
        category_name: "short sleeve top",
        style,
        bounding_box: [2, 3, 30 + i, 26],
      };
    });
    await Deno.mkdir(`${root}/${split}/annos`, { recursive: true });
    await Deno.writeTextFile(`${root}/${split}/annos/${name}.json`, JSON.stringify(anno));
    await writeImage(`${root}/${split}/image/${name}.jpg`, 400 + n);
  };
  // Train: pairs 1–3, two images each with one styled item (2 items per label); pair 4 has a lone label.
  for (let p = 1; p <= 3; p++) {
    await write("train", "user", p, [[1, 1], [8, 0]]);
    await write("train", "shop", p, [[1, 1]]);
  }
  await write("train", "shop", 4, [[2, 1]]);
  // Validation: pairs 10–12 have user and shop items; pair 13 only shop (a gallery distractor); pair 14 only a
  // user item (no shop item to find: not a query).
  for (let p = 10; p <= 12; p++) {
    await write("validation", "user", p, [[1, 1]]);
    await write("validation", "shop", p, [[1, 1]]);
    await write("validation", "shop", p, [[1, 1], [3, 0]]);
  }
  await write("validation", "shop", 13, [[5, 1]]);
  await write("validation", "user", 14, [[6, 2]]);
  // Query and gallery share one numbering: 4 labels, the query's 3 among them.
  return { root, sizes: { train: 6, query: 3, gallery: 7 }, classes: { train: 3, query: 4, gallery: 4 } };
}

/** VehicleID_V1.0/ with image/, train_test_split/ and attribute/img2vid.txt. */
export async function fakeVehicleId(dir: string): Promise<FakeCopy> {
  const root = `${dir}/VehicleID_V1.0`;
  const train: string[] = [], img2vid: string[] = [];
  const tests: Record<number, string[]> = { 800: [], 1600: [], 2400: [] };
  let id = 1;
  const add = async (vid: number, lists: string[][]) => {
    const name = String(id++).padStart(7, "0");
    for (const l of lists) l.push(`${name} ${vid}`);
    img2vid.push(`${name} ${vid}`);
    await writeImage(`${root}/image/${name}.jpg`, 500 + id);
  };
  for (let v = 1; v <= 3; v++) for (let k = 0; k < 3; k++) await add(v, [train]);
  // The small list is part of the medium, which is part of the large one.
  for (let v = 10; v <= 12; v++) for (let k = 0; k < 3; k++) await add(v, [tests[800], tests[1600], tests[2400]]);
  for (let k = 0; k < 2; k++) await add(13, [tests[1600], tests[2400]]);
  await Deno.mkdir(`${root}/train_test_split`, { recursive: true });
  await Deno.mkdir(`${root}/attribute`, { recursive: true });
  await Deno.writeTextFile(`${root}/train_test_split/train_list.txt`, train.join("\n") + "\n");
  for (const [n, l] of Object.entries(tests)) {
    await Deno.writeTextFile(`${root}/train_test_split/test_list_${n}.txt`, l.join("\n") + "\n");
  }
  await Deno.writeTextFile(`${root}/attribute/img2vid.txt`, img2vid.join("\n") + "\n");
  return { root, sizes: { train: 9, test: 9 }, classes: { train: 3, test: 3 } };
}

/** my-images/<class>/*.jpg (and a .txt file that must be ignored). */
export async function fakeImageFolder(dir: string, o = { classes: 4, perClass: 3 }): Promise<FakeCopy> {
  const root = `${dir}/my-images`;
  for (let c = 0; c < o.classes; c++) {
    for (let k = 0; k < o.perClass; k++) await writeImage(`${root}/class_${c}/img_${k}.jpg`, 600 + c * 10 + k);
  }
  await Deno.writeTextFile(`${root}/class_0/notes.txt`, "not an image");
  const half = Math.ceil(o.classes / 2);
  return {
    root,
    sizes: { train: half * o.perClass, test: (o.classes - half) * o.perClass },
    classes: { train: half, test: o.classes - half },
  };
}

/** Every layout's fake copy at its default size, under the dataset plugin's name. */
export const FAKE_LAYOUTS: Array<[string, (dir: string) => Promise<FakeCopy>]> = [
  ["cub200", (d) => fakeCub200(d)],
  ["cars196", (d) => fakeCars196(d)],
  ["sop", (d) => fakeSop(d)],
  ["inshop", (d) => fakeInShop(d)],
  ["deepfashion2", (d) => fakeDeepFashion2(d)],
  ["vehicleid", (d) => fakeVehicleId(d)],
  ["image-folder", (d) => fakeImageFolder(d)],
];
