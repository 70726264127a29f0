/**
 * replaceFolder, which export, index and demo write their output folders with: a failure part-way leaves
 * the folder that was there byte for byte and nothing beside it; a success replaces it whole.
 */
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { replaceFolder } from "../core/writable.ts";

function listing(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("replaceFolder: a failing fill leaves the old folder as it was; a good one replaces it whole", async () => {
  const root = await Deno.makeTempDir();
  try {
    const out = `${root}/out`;
    await replaceFolder(out, async (tmp) => {
      await Deno.writeTextFile(`${tmp}/a.txt`, "first");
      await Deno.writeTextFile(`${tmp}/b.txt`, "first");
    });
    assertEquals(listing(root), ["out"]);

    await rejects(
      replaceFolder(out, async (tmp) => {
        await Deno.writeTextFile(`${tmp}/a.txt`, "second");
        throw new Error("disk full");
      }),
      /disk full/,
    );
    assertEquals(listing(root), ["out"]);
    assertEquals(listing(out), ["a.txt", "b.txt"]);
    assertEquals(Deno.readTextFileSync(`${out}/a.txt`), "first");

    const result = await replaceFolder(out, async (tmp) => {
      await Deno.writeTextFile(`${tmp}/c.txt`, "third");
      return 42;
    });
    assertEquals(result, 42);
    assertEquals(listing(root), ["out"]);
    assertEquals(listing(out), ["c.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
