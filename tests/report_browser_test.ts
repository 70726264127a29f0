/**
 * A real run's report in a real browser: a short XBM run on Fashion-MNIST (images, a memory, loss
 * parts, drift) and a toy run, their pages rendered by headless Chromium. The page's own check
 * (page.ts) records JS errors and which charts and images drew into `<body data-check>`, read
 * back from the dumped DOM. Screenshots are kept under `.cache/test-artifacts/`.
 *
 * Skipped, with a warning, where no Chromium is installed, except under CI (CI=true), where
 * `.ci/run` installs Debian's and its absence is a failure.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { loadRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { writeComparison } from "../core/report/write.ts";
import { CHROMIUM, chromium } from "./chromium.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ARTIFACTS = `${ROOT}.cache/test-artifacts`;

const CI = !!Deno.env.get("CI");
if (!CHROMIUM && !CI) {
  console.warn("report_browser_test: no chromium on PATH; skipped (.ci/run installs Debian's chromium)");
}

interface Check {
  errors: string[];
  charts: number;
  chartsDrawn: number;
  images: number;
  imagesDrawn: number;
}

/**
 * The page's self-check, from the DOM Chromium rendered; with `shot`, also a screenshot of the
 * page, kept as `.cache/test-artifacts/<shot>`.
 */
async function render(page: string, shot?: { name: string; height: number }): Promise<Check> {
  const args = ["--virtual-time-budget=3000", "--hide-scrollbars", "--dump-dom"];
  const path = shot ? `${ARTIFACTS}/${shot.name}` : null;
  if (shot) {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    args.push(`--screenshot=${path}`, `--window-size=1300,${shot.height}`);
  }
  const dom = await chromium([...args, `file://${page}`]);
  if (path) {
    const png = await Deno.readFile(path);
    assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    ok(png.length > 20_000, `${path} is only ${png.length} bytes`);
    console.log(`screenshot: ${path}`);
  }
  const attr = dom.match(/data-check="([^"]*)"/)?.[1];
  if (attr === undefined) throw new Error(`the page's check did not run; body: ${dom.slice(0, 300)}`);
  const text = attr.replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
  return JSON.parse(text);
}

async function run(recipe: string, sets: string[], baseDir: string): Promise<string> {
  const registry = createRegistry();
  const raw = await loadRecipe(recipe, sets);
  return (await train(await resolveRecipe(raw, registry, baseDir), registry, { quiet: true })).runDir;
}

Deno.test({
  name: "a real run's report opens in headless Chromium: every chart and image draws, no errors",
  ignore: !CHROMIUM && !CI,
  fn: async () => {
    if (!CHROMIUM) throw new Error("no chromium on PATH: .ci/run should have installed Debian's chromium");
    const out = await Deno.makeTempDir();
    const xbm = await run(`${ROOT}recipes/xbm.yaml`, [
      `output=${out}`,
      "data.limit=600",
      "train.epochs=2",
      "train.maxSteps=0",
      "train.logEvery=10",
      "eval.baselines=true",
    ], `${ROOT}recipes`);
    const page = `${xbm}/report.html`;
    const html = await Deno.readTextFile(page);
    for (const chart of ["loss", "lr", "images-per-sec", "metrics", "drift", "pca", "umap"]) {
      ok(html.includes(`data-chart="${chart}"`), `chart ${chart} missing`);
    }
    const c = await render(page, { name: "report.png", height: 4200 });
    assertEquals(c.errors, []);
    ok(c.charts >= 8, `${c.charts} charts`);
    assertEquals(c.chartsDrawn, c.charts);
    assertEquals([c.images, c.imagesDrawn], [72, 72]); // 8 queries × (query + 8 neighbours)

    // The comparison page, with a toy run that shares only recall@1.
    const toy = await run(`${ROOT}tests/fixtures/toy.yaml`, [`output=${out}`], `${ROOT}tests/fixtures`);
    const compare = `${out}/compare.html`;
    await writeComparison([xbm, toy], compare);
    const cc = await render(compare, { name: "report-compare.png", height: 1400 });
    assertEquals(cc.errors, []);
    assertEquals([cc.charts, cc.chartsDrawn], [4, 4]); // loss, lr, images/s, recall@1

    // The check can fail: a script error and a broken image are caught.
    const broken = `${out}/broken.html`;
    await Deno.writeTextFile(
      broken,
      html.replace("</body>", `<img src="data:image/png;base64,AAAA"><script>throw new Error("boom")</script></body>`),
    );
    const b = await render(broken);
    ok(b.errors.some((e) => e.includes("boom")), JSON.stringify(b.errors));
    assertEquals([b.images, b.imagesDrawn], [73, 72]);
  },
});
