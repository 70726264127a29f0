/**
 * A user's own images, one sub-folder per class (torchvision's ImageFolder layout). Two forms:
 * - `root/<class>/<image>`: the classes, sorted by name, are split in half: the first half trains,
 *   the second is the test set (the zero-shot protocol of metric learning);
 * - `root/train/<class>/...` with `root/test/<class>/...`, or with `root/query/<class>/...` and
 *   `root/gallery/<class>/...`: the splits as given (a class keeps its folder name across splits,
 *   so query and gallery images of one class match).
 * Images are the files ending in .jpg, .jpeg, .png, .webp, .tif, .tiff, .gif or .avif (any case),
 * sorted by path; other files are ignored. Hidden entries (starting with '.') are skipped.
 *
 * ```ts
 * const layout = await readImageFolder("/data/my-products");
 * layout.train[0]; // { path: "/data/my-products/boots/001.jpg", key: "boots" }
 * ```
 */
import { DmlError } from "../../core/errors.ts";
import { isDir, type Layout, type LayoutEntry, requireRoot, splitClassesInHalf } from "./layout.ts";

const IMAGE_FILE = /\.(jpe?g|png|webp|tiff?|gif|avif)$/i;

async function sortedEntries(dir: string): Promise<Deno.DirEntry[]> {
  const list: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) list.push(e);
  return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The images of every class folder under `dir` (a class with no image is an error: likely a mistake). */
async function readClasses(dir: string): Promise<LayoutEntry[]> {
  const out: LayoutEntry[] = [];
  let classes = 0;
  for (const c of await sortedEntries(dir)) {
    if (!c.isDirectory) continue;
    classes++;
    const images = (await sortedEntries(`${dir}/${c.name}`)).filter((f) => f.isFile && IMAGE_FILE.test(f.name));
    if (images.length === 0) throw new DmlError(`data.root: class folder ${dir}/${c.name} holds no image files`);
    for (const f of images) out.push({ path: `${dir}/${c.name}/${f.name}`, key: c.name });
  }
  if (classes === 0) throw new DmlError(`data.root: ${dir} has no class sub-folders (expected ${dir}/<class>/<image>)`);
  return out;
}

export async function readImageFolder(root: string): Promise<Layout> {
  await requireRoot("an image folder", root);
  const has = async (name: string) => await isDir(`${root}/${name}`);
  if (await has("train")) {
    const train = await readClasses(`${root}/train`);
    if (await has("query") && await has("gallery")) {
      return {
        train,
        query: await readClasses(`${root}/query`),
        gallery: await readClasses(`${root}/gallery`),
        source: `${root} (train/, query/, gallery/)`,
      };
    }
    if (await has("test")) return { train, test: await readClasses(`${root}/test`), source: `${root} (train/, test/)` };
    throw new DmlError(`data.root: ${root}/train exists but neither test/ nor query/ + gallery/ beside it`);
  }
  const { train, test } = splitClassesInHalf(await readClasses(root));
  return { train, test, source: `${root} (class folders; first half of the sorted classes for training)` };
}
