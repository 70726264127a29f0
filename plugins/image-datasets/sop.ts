/**
 * Stanford Online Products (Oh Song et al. 2016) in its official layout: `Ebay_train.txt` and
 * `Ebay_test.txt`, each a header line `image_id class_id super_class_id path` and then one image per
 * line (1-based ids, paths like `bicycle_final/111085122871_0.JPG` relative to the folder). The
 * standard split is the files' own: 11,318 training classes (59,551 images), 11,316 test classes
 * (60,502 images), disjoint.
 *
 * ```ts
 * const layout = await readSop("/data/Stanford_Online_Products");
 * layout.train.length; // 59551
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { intCell, type Layout, type LayoutEntry, locate, readTable } from "./layout.ts";

async function readList(file: string, base: string): Promise<LayoutEntry[]> {
  const rows = await readTable(file, { columns: 4, header: 1 });
  const folderOf = new Map<string, { folder: string; line: number }>();
  return rows.map((row) => {
    intCell(file, row, 0, "image_id");
    const c = String(intCell(file, row, 1, "class_id"));
    intCell(file, row, 2, "super_class_id");
    const rel = row.cells.slice(3).join(" ");
    // Every product (class) lies in one super-class folder; a class in two folders means a broken list.
    const folder = rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : "";
    const first = folderOf.get(c);
    if (first && first.folder !== folder) {
      throw new DmlError(
        `${file}:${row.line}: class ${c} lies in folder ${folder}, but in ${first.folder} at line ${first.line}`,
      );
    }
    if (!first) folderOf.set(c, { folder, line: row.line });
    return { path: `${base}/${rel}`, key: c };
  });
}

export async function readSop(root: string): Promise<Layout> {
  const base = await locate("Stanford Online Products", root, ["", "Stanford_Online_Products"], [
    "Ebay_train.txt",
    "Ebay_test.txt",
  ]);
  const train = await readList(`${base}/Ebay_train.txt`, base);
  const test = await readList(`${base}/Ebay_test.txt`, base);
  const trainClasses = new Set(train.map((e) => e.key));
  const shared = test.find((e) => trainClasses.has(e.key));
  if (shared) {
    throw new DmlError(
      `${base}/Ebay_test.txt: class ${shared.key} (${shared.path}) is also in Ebay_train.txt; the splits must be disjoint`,
    );
  }
  return { train, test, source: `${base} (Ebay_train.txt / Ebay_test.txt)` };
}
