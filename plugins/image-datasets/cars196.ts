/**
 * Cars196 (Stanford Cars, Krause et al. 2013) in the layout metric learning uses: `cars_annos.mat`
 * and the 16,185 images of `car_ims/`. The MAT-file holds a 1×N struct array `annotations`
 * (`relative_im_path` like `car_ims/000001.jpg`, `bbox_x1`, `bbox_y1`, `bbox_x2`, `bbox_y2`,
 * `class` 1..196, `test`) and a 1×196 cell `class_names`. The metric-learning split: classes 1–98
 * train, 99–196 test (the first half; the `test` flag is the classification split and is ignored).
 *
 * ```ts
 * const layout = await readCars196("/data/cars196");
 * layout.test.length; // 8131
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { type Layout, type LayoutEntry, locate, splitClassesInHalf } from "./layout.ts";
import { matNumber, matText, readMat5 } from "./mat5.ts";

export async function readCars196(root: string, o: { boxes: boolean } = { boxes: false }): Promise<Layout> {
  const base = await locate("Cars196", root, ["", "cars196", "stanford_cars"], ["cars_annos.mat"]);
  const file = `${base}/cars_annos.mat`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new DmlError(`data.root: cannot read ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  const vars = readMat5(bytes, file);
  const annos = vars.get("annotations");
  if (annos?.kind !== "struct") throw new DmlError(`${file}: has no struct array 'annotations'`);
  for (const f of ["relative_im_path", "class"]) {
    if (!annos.fields.includes(f)) {
      throw new DmlError(`${file}: annotations lack the field '${f}' (fields: ${annos.fields})`);
    }
  }
  const names = vars.get("class_names");
  const classNames = new Map<string, string>();
  if (names?.kind === "cell") names.cells.forEach((c, i) => classNames.set(String(i + 1), matText(c) ?? String(i + 1)));
  const entries: LayoutEntry[] = annos.elements.map((a, i) => {
    const rel = matText(a.relative_im_path);
    const c = matNumber(a.class);
    if (!rel) throw new DmlError(`${file}: annotation ${i + 1} has no relative_im_path`);
    if (c === null || !Number.isInteger(c) || c < 1) {
      throw new DmlError(`${file}: annotation ${i + 1} (${rel}) has class ${c}, expected an integer >= 1`);
    }
    if (classNames.size > 0 && !classNames.has(String(c))) {
      throw new DmlError(
        `${file}: annotation ${i + 1} (${rel}) has class ${c}, but class_names lists ${classNames.size}`,
      );
    }
    const entry: LayoutEntry = { path: `${base}/${rel}`, key: String(c) };
    if (o.boxes) {
      const box = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"].map((k) => matNumber(a[k]));
      if (box.some((v) => v === null)) throw new DmlError(`${file}: annotation ${i + 1} (${rel}) has no bounding box`);
      // MATLAB boxes are 1-based and inclusive.
      entry.box = [box[0]! - 1, box[1]! - 1, box[2]!, box[3]!];
    }
    return entry;
  });
  const { train, test } = splitClassesInHalf(entries);
  return { train, test, classNames, source: `${file} (first half of the classes for training)` };
}
