/**
 * CUB-200-2011 (Wah et al. 2011) in its official layout: `images.txt` (`<image_id> <path>`),
 * `image_class_labels.txt` (`<image_id> <class_id>`), `classes.txt` (`<class_id> <name>`), the
 * optional `bounding_boxes.txt` (`<image_id> <x> <y> <width> <height>`), images under `images/`;
 * ids are 1-based. The metric-learning split: classes 1–100 train, 101–200 test (the first half of
 * the class ids; `train_test_split.txt` is the classification split and is not used).
 *
 * ```ts
 * const layout = await readCub200("/data/CUB_200_2011");
 * layout.train.length; // 5864
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import {
  intCell,
  isFile,
  type Layout,
  type LayoutEntry,
  locate,
  numCell,
  readTable,
  splitClassesInHalf,
} from "./layout.ts";

export async function readCub200(root: string, o: { boxes: boolean } = { boxes: false }): Promise<Layout> {
  const base = await locate("CUB-200-2011", root, ["", "CUB_200_2011"], [
    "images.txt",
    "image_class_labels.txt",
    "classes.txt",
    "images",
  ]);
  const imagesFile = `${base}/images.txt`, labelsFile = `${base}/image_class_labels.txt`;
  const classesFile = `${base}/classes.txt`;
  const classNames = new Map<string, string>();
  for (const row of await readTable(classesFile, { columns: 2 })) {
    classNames.set(String(intCell(classesFile, row, 0, "class id")), row.cells.slice(1).join(" "));
  }
  const labelOf = new Map<number, number>();
  for (const row of await readTable(labelsFile, { columns: 2 })) {
    const id = intCell(labelsFile, row, 0, "image id"), c = intCell(labelsFile, row, 1, "class id");
    if (labelOf.has(id)) throw new DmlError(`${labelsFile}:${row.line}: image ${id} is listed twice`);
    if (!classNames.has(String(c))) {
      throw new DmlError(`${labelsFile}:${row.line}: class ${c} of image ${id} is not in ${classesFile}`);
    }
    labelOf.set(id, c);
  }
  let boxOf: Map<number, number[]> | null = null;
  const boxesFile = `${base}/bounding_boxes.txt`;
  if (o.boxes) {
    if (!(await isFile(boxesFile))) throw new DmlError(`data.boxes: ${boxesFile} is missing (set data.boxes: false)`);
    boxOf = new Map();
    for (const row of await readTable(boxesFile, { columns: 5 })) {
      const [x, y, w, h] = [1, 2, 3, 4].map((k) => numCell(boxesFile, row, k, "box coordinate"));
      boxOf.set(intCell(boxesFile, row, 0, "image id"), [x, y, x + w, y + h]);
    }
  }
  const entries: LayoutEntry[] = [];
  const seen = new Set<number>();
  for (const row of await readTable(imagesFile, { columns: 2 })) {
    const id = intCell(imagesFile, row, 0, "image id");
    const rel = row.cells.slice(1).join(" ");
    if (seen.has(id)) throw new DmlError(`${imagesFile}:${row.line}: image ${id} is listed twice`);
    seen.add(id);
    const c = labelOf.get(id);
    if (c === undefined) throw new DmlError(`${labelsFile}: no class for image ${id} (${rel}) of ${imagesFile}`);
    // The label file and the folder name must agree: 001.Black_footed_Albatross/... is class 1.
    const folder = rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : "";
    if (folder && folder !== classNames.get(String(c))) {
      throw new DmlError(
        `${labelsFile}: image ${id} (${rel}) has class ${c} (${
          classNames.get(String(c))
        }) but lies in folder ${folder}`,
      );
    }
    const box = boxOf?.get(id);
    if (boxOf && !box) throw new DmlError(`${boxesFile}: no box for image ${id} (${rel})`);
    entries.push({ path: `${base}/images/${rel}`, key: String(c), ...(box ? { box } : {}) });
  }
  if (labelOf.size !== seen.size) {
    const extra = [...labelOf.keys()].find((id) => !seen.has(id));
    throw new DmlError(`${labelsFile}: image ${extra} has a class but is not in ${imagesFile}`);
  }
  const { train, test } = splitClassesInHalf(entries);
  return { train, test, classNames, source: `${base} (images.txt, first half of the classes for training)` };
}
