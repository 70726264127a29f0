/**
 * In-Shop Clothes Retrieval (DeepFashion, Liu et al. 2016) in its official layout:
 * `Eval/list_eval_partition.txt` (first line the number of images, second the header
 * `image_name item_id evaluation_status`, then `img/WOMEN/Dresses/id_00000002/02_1_front.jpg
 * id_00000002 train|query|gallery`) and the images under `img/` (or `Img/img/`); optionally
 * `Anno/list_bbox_inshop.txt` (`image_name clothes_type pose_type x_1 y_1 x_2 y_2`). The standard
 * split is the file's: 3,997 training items (25,882 images); a query set (14,218 images) and a
 * gallery (12,612 images) of 3,985 other items.
 *
 * ```ts
 * const layout = await readInShop("/data/inshop");
 * layout.query.length; // 14218
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { intCell, isDir, isFile, type Layout, type LayoutEntry, numCell, readTable, requireRoot } from "./layout.ts";

async function firstExisting(paths: string[], test: (p: string) => Promise<boolean>): Promise<string | null> {
  for (const p of paths) if (await test(p)) return p;
  return null;
}

export async function readInShop(root: string, o: { boxes: boolean } = { boxes: false }): Promise<Layout> {
  await requireRoot("In-Shop", root);
  const partition = await firstExisting(
    [`${root}/Eval/list_eval_partition.txt`, `${root}/list_eval_partition.txt`],
    isFile,
  );
  if (!partition) throw new DmlError(`data.root: In-Shop needs Eval/list_eval_partition.txt, not found in ${root}`);
  const imageBase = await firstExisting([root, `${root}/Img`], (b) => isDir(`${b}/img`));
  if (!imageBase) {
    throw new DmlError(`data.root: In-Shop needs the image folder img/ (or Img/img/), not found in ${root}`);
  }

  const rows = await readTable(partition, { columns: 1 });
  const declared = rows.length > 0 ? intCell(partition, rows[0], 0, "the image count on line 1") : 0;
  const body = rows.slice(2);
  if (body.length !== declared) {
    throw new DmlError(`${partition}: line 1 announces ${declared} images, the file lists ${body.length}`);
  }
  let boxOf: Map<string, number[]> | null = null;
  if (o.boxes) {
    const file = await firstExisting([`${root}/Anno/list_bbox_inshop.txt`, `${root}/list_bbox_inshop.txt`], isFile);
    if (!file) throw new DmlError(`data.boxes: Anno/list_bbox_inshop.txt not found in ${root} (set data.boxes: false)`);
    boxOf = new Map();
    for (const row of (await readTable(file, { columns: 1 })).slice(2)) {
      if (row.cells.length < 7) throw new DmlError(`${file}:${row.line}: expected 7 columns, got ${row.cells.length}`);
      boxOf.set(row.cells[0], [3, 4, 5, 6].map((k) => numCell(file, row, k, "box coordinate")));
    }
  }
  const splits: Record<string, LayoutEntry[]> = { train: [], query: [], gallery: [] };
  for (const row of body) {
    if (row.cells.length < 3) {
      throw new DmlError(`${partition}:${row.line}: expected 3 columns, got ${row.cells.length}`);
    }
    const [rel, item, status] = row.cells;
    if (!(status in splits)) {
      throw new DmlError(
        `${partition}:${row.line}: evaluation_status must be train, query or gallery, got '${status}'`,
      );
    }
    // The item id is also the image's folder: img/WOMEN/Dresses/id_00000002/...
    const folder = rel.split("/").at(-2);
    if (folder !== item) {
      throw new DmlError(`${partition}:${row.line}: ${rel} is listed as item ${item} but lies in folder ${folder}`);
    }
    const box = boxOf?.get(rel);
    if (boxOf && !box) throw new DmlError(`data.boxes: list_bbox_inshop.txt has no box for ${rel}`);
    splits[status].push({ path: `${imageBase}/${rel}`, key: item, ...(box ? { box } : {}) });
  }
  const trainItems = new Set(splits.train.map((e) => e.key));
  const shared = [...splits.query, ...splits.gallery].find((e) => trainItems.has(e.key));
  if (shared) {
    throw new DmlError(`${partition}: item ${shared.key} is in both the training and the query/gallery split`);
  }
  return { train: splits.train, query: splits.query, gallery: splits.gallery, source: partition };
}
