// Every divide-and-conquer recipe of recipes/papers/ trains two steps on a fake copy of its dataset.
import { testPaperRecipes } from "./paper_recipe_smoke.ts";

await testPaperRecipes(["dnc"]);
