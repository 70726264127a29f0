/**
 * Exported models in a real headless Chromium: every case of tests/export_fixtures.ts is served
 * over HTTP (core/demo/serve.ts, in a child process) with tfjs's own browser bundles, loaded by `tf.loadGraphModel`
 * and run on the test items' pixels in the page; the page writes its embeddings into the DOM,
 * which must equal `deno task embed`'s within float32 tolerance.
 *
 * Skipped, with a warning, where no Chromium is installed, except under CI (CI=true).
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { CHROMIUM, chromium, serveInChild } from "./chromium.ts";
import { CASES, exportedCase } from "./export_fixtures.ts";
import { copyTfjsBundles } from "../core/demo/bundles.ts";
import { assertClose } from "./util.ts";

const CI = !!Deno.env.get("CI");
if (!CHROMIUM && !CI) console.warn("export_browser_test: no chromium on PATH; skipped");

/** Loads each model and embeds its pixels; the results go to <body data-result>. */
const PAGE = (scripts: string[]) =>
  `<!doctype html><html><body>
${scripts.map((s) => `<script src="${s}"></script>`).join("\n")}
<script>
(async () => {
  try {
    await tf.setBackend("cpu");
    const cases = await (await fetch("cases.json")).json();
    const result = {};
    for (const c of cases) {
      const info = await (await fetch(c.name + "/export.json")).json();
      const model = await tf.loadGraphModel(c.name + "/model.json");
      const pixels = new Float32Array(await (await fetch(c.name + ".f32")).arrayBuffer());
      const x = tf.tensor(pixels, [c.n, ...info.input.shape]);
      const e = model.predict(x);
      result[c.name] = Array.from(await e.data());
      tf.dispose([x, e]);
    }
    document.body.dataset.result = JSON.stringify(result);
  } catch (err) {
    document.body.dataset.result = JSON.stringify({ error: String(err) });
  }
})();
</script></body></html>`;

Deno.test({
  name: "export: every backbone's exported model in headless Chromium equals deno task embed's",
  ignore: !CHROMIUM && !CI,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const site = `${dir}/site`;
    await Deno.mkdir(site);
    const wanted: Record<string, Float32Array> = {};
    const manifest = [];
    for (const c of CASES) {
      const { run, pixels, n, want } = await exportedCase(dir, c);
      await Deno.rename(`${run}/export`, `${site}/${c.name}`);
      await Deno.writeFile(
        `${site}/${c.name}.f32`,
        new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength),
      );
      manifest.push({ name: c.name, n });
      wanted[c.name] = want;
    }
    await Deno.writeTextFile(`${site}/cases.json`, JSON.stringify(manifest));
    await Deno.writeTextFile(`${site}/index.html`, PAGE(await copyTfjsBundles(site)));
    const server = await serveInChild(site);
    try {
      const dom = await chromium(["--virtual-time-budget=60000", "--dump-dom", server.url]);
      const attr = dom.match(/data-result="([^"]*)"/)?.[1];
      if (attr === undefined) throw new Error(`the page did not finish; body: ${dom.slice(0, 300)}`);
      const result = JSON.parse(attr.replaceAll("&quot;", '"'));
      if (result.error) throw new Error(`the page failed: ${result.error}`);
      assertEquals(Object.keys(result).sort(), CASES.map((c) => c.name).sort());
      for (const c of CASES) assertClose(result[c.name], wanted[c.name], { atol: 1e-4, rtol: 1e-4, msg: c.name });
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
