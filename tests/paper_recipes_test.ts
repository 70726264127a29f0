// Every XBM and XBN recipe of recipes/papers/ trains two steps on a fake copy of its dataset.
import { paperRecipes, testPaperRecipes } from "./paper_recipe_smoke.ts";

await testPaperRecipes(["xbm", "xbn"]);

Deno.test("every paper recipe belongs to one of the smoke-tested families", async () => {
  const families = ["xbm", "xbn", "dnc", "mpn", "bier"];
  const all = await paperRecipes([""]);
  const stray = all.filter((f) => !families.some((p) => f.slice(f.lastIndexOf("/") + 1).startsWith(p)));
  if (stray.length > 0) throw new Error(`not smoke-tested (add the prefix to a paper_recipes test): ${stray}`);
});
