/**
 * PKU VehicleID (Liu et al. 2016) in its official layout: `image/<name>.jpg` and
 * `train_test_split/train_list.txt` plus `test_list_800.txt` (small), `test_list_1600.txt`
 * (medium), `test_list_2400.txt` (large), each line `<image name without .jpg> <vehicle id>`;
 * `attribute/img2vid.txt`, when present, must agree with the lists. Training uses the 13,164
 * vehicles of train_list.txt. Two test protocols:
 * - `all`: every image of the chosen test list against all others (the metric-learning papers'
 *   leave-one-out Recall@K, and the D&C code's);
 * - `query-gallery`: one image per vehicle, chosen with the split seed, forms the gallery and the
 *   rest are queries (the re-identification protocol of the VehicleID paper).
 *
 * ```ts
 * const layout = await readVehicleId("/data/VehicleID_V1.0", { testSize: "small", protocol: "all", splitSeed: 0 });
 * layout.test.length; // 7332
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { Rng } from "../../core/rng.ts";
import { intCell, isFile, type Layout, type LayoutEntry, locate, readTable, sortKeys } from "./layout.ts";

export const VEHICLEID_TEST_LISTS = { small: 800, medium: 1600, large: 2400 } as const;
export type VehicleIdTestSize = keyof typeof VEHICLEID_TEST_LISTS;

async function readList(file: string, base: string): Promise<LayoutEntry[]> {
  return (await readTable(file, { columns: 2 })).map((row) => {
    const vid = intCell(file, row, 1, "vehicle id");
    return { path: `${base}/image/${row.cells[0]}.jpg`, key: String(vid) };
  });
}

export async function readVehicleId(
  root: string,
  o: { testSize: VehicleIdTestSize; protocol: "all" | "query-gallery"; splitSeed: number },
): Promise<Layout> {
  const list = `test_list_${VEHICLEID_TEST_LISTS[o.testSize]}.txt`;
  const base = await locate("VehicleID", root, ["", "VehicleID_V1.0"], [
    "image",
    "train_test_split/train_list.txt",
    `train_test_split/${list}`,
  ]);
  const train = await readList(`${base}/train_test_split/train_list.txt`, base);
  const test = await readList(`${base}/train_test_split/${list}`, base);
  const trainIds = new Set(train.map((e) => e.key));
  const shared = test.find((e) => trainIds.has(e.key));
  if (shared) throw new DmlError(`${base}/train_test_split/${list}: vehicle ${shared.key} is also in train_list.txt`);

  const img2vid = `${base}/attribute/img2vid.txt`;
  if (await isFile(img2vid)) {
    const vidOf = new Map((await readTable(img2vid, { columns: 2 })).map((r) => [r.cells[0], r.cells[1]]));
    for (const e of [...train, ...test]) {
      const name = e.path.slice(e.path.lastIndexOf("/") + 1, -4);
      const v = vidOf.get(name);
      if (v !== undefined && Number(v) !== Number(e.key)) {
        throw new DmlError(
          `${img2vid}: image ${name} belongs to vehicle ${v}, but the split lists give vehicle ${e.key}`,
        );
      }
    }
  }
  const source = `${base}/train_test_split (train_list.txt, ${list})`;
  if (o.protocol === "all") return { train, test, source };

  // One gallery image per vehicle, the rest queries; vehicles with a single image cannot be queried.
  const rng = new Rng(o.splitSeed);
  const byVehicle = new Map<string, LayoutEntry[]>();
  for (const e of test) byVehicle.set(e.key, [...(byVehicle.get(e.key) ?? []), e]);
  const query: LayoutEntry[] = [], gallery: LayoutEntry[] = [];
  for (const key of sortKeys(byVehicle.keys())) {
    const items = byVehicle.get(key)!;
    const pick = rng.int(items.length);
    items.forEach((e, i) => (i === pick ? gallery : query).push(e));
  }
  return { train, query, gallery, source: `${source}, one gallery image per vehicle` };
}
