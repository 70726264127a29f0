/**
 * `deno task demo`: the built site in a real headless Chromium. The page loads the exported model
 * and the gallery, a gallery item's own picture is dropped on it (a `drop` event through the page's
 * handler, `?drop=`), and the neighbours it shows must start with that item at distance ~0 and
 * equal the exact search of the same embedding (`deno task search`); a screenshot is kept under
 * .cache/test-artifacts/. Bad input is one line, exit 2, nothing written.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { assertOneLineError, ROOT, runCli } from "./cli_process.ts";
import { CHROMIUM, chromium, serveInChild } from "./chromium.ts";
import { CASES, exportedCase, quiet } from "./export_fixtures.ts";
import { restoreRun } from "../core/commands/embed.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { encodePng } from "../core/demo/png.ts";
import { encodeNpy, parseNpy } from "../core/npy.ts";

const CWD = await Deno.makeTempDir();
const DEMO_FLAGS = ["--allow-read", "--allow-env", "--allow-write=runs,.cache", "--allow-sys", "--allow-ffi"];
const SEARCH_FLAGS = ["--allow-read", "--allow-env", "--allow-sys", "--allow-ffi"];
const CI = !!Deno.env.get("CI");
if (!CHROMIUM && !CI) console.warn("demo_test: no chromium on PATH; the browser part is skipped");

Deno.test("demo: a dropped gallery picture shows itself first, then the exact search's neighbours", async () => {
  const { run } = await exportedCase(CWD, CASES.find((c) => c.name === "convnet")!);
  const built = await runCli(CWD, DEMO_FLAGS, ["demo", run, "--build-only", "--k", "5"]);
  assertEquals(built.code, 0, built.stderr);
  const site = `${run}/demo`;
  assertEquals(built.stdout.trim(), site);
  const gallery = JSON.parse(await Deno.readTextFile(`${site}/gallery.json`));
  const { components } = await quiet(() => restoreRun(createRegistry(), run, [], "test"));
  const split = components.data.test!;
  assertEquals([gallery.n, gallery.labels], [split.size, Array.from(split.labels)]);

  // The query: gallery row 5's own pixels as a PNG file.
  const row = 5, img = await split.image!(row);
  await Deno.writeFile(`${site}/query.png`, encodePng(img.width, img.height, img.channels as 1, img.data));
  // What the exact search finds for it, from the .npy of the page's own gallery embeddings.
  const rows = new Float32Array((await Deno.readFile(`${site}/gallery.f32`)).buffer);
  const gnpy = `${CWD}/demo_gallery.npy`;
  await Deno.writeFile(gnpy, encodeNpy(rows, [gallery.n, gallery.dim]));
  ok(parseNpy(await Deno.readFile(gnpy)).shape[0] === gallery.n);
  const exact = await runCli(CWD, SEARCH_FLAGS, [
    "search",
    "--gallery",
    gnpy,
    "--model",
    `${run}/export`,
    "--center",
    `${site}/query.png`,
    "--k",
    "5",
  ]);
  assertEquals(exact.code, 0, exact.stderr);
  const want = JSON.parse(exact.stdout).neighbours.map((nb: { index: number }) => nb.index);
  assertEquals(want[0], row);
  if (!CHROMIUM && !CI) return;

  const server = await serveInChild(site);
  try {
    const page = `${server.url}?drop=query.png`;
    const dom = await chromium(["--virtual-time-budget=60000", "--dump-dom", page]);
    const error = dom.match(/data-error="([^"]*)"/)?.[1];
    if (error) throw new Error(`the page failed: ${error}`);
    const attr = dom.match(/data-results="([^"]*)"/)?.[1];
    if (attr === undefined) throw new Error(`no results on the page; body: ${dom.slice(0, 400)}`);
    const shown = JSON.parse(attr.replaceAll("&quot;", '"')) as { row: number; distance: number }[];
    assertEquals(shown.map((r) => r.row), want);
    ok(shown[0].distance < 1e-4, `the picture's distance to itself: ${shown[0].distance}`);
    ok(dom.includes(`class="hit"`), "the neighbours are drawn");

    const shot = `${ROOT}.cache/test-artifacts/demo.png`;
    await Deno.mkdir(`${ROOT}.cache/test-artifacts`, { recursive: true });
    await chromium([
      "--virtual-time-budget=60000",
      "--hide-scrollbars",
      "--window-size=1000,520",
      `--screenshot=${shot}`,
      page,
    ]);
    const png = await Deno.readFile(shot);
    assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    ok(png.length > 10_000, `${shot} is only ${png.length} bytes`);
  } finally {
    await server.close();
  }
});

Deno.test("demo: bad input is one line, exit 2, nothing written", async () => {
  const run = `${CWD}/runs/convnet/${[...Deno.readDirSync(`${CWD}/runs/convnet`)][0].name}`;
  const cli = (...args: string[]) => runCli(CWD, DEMO_FLAGS, ["demo", ...args, "--build-only"]);
  const bare = `${CWD}/runs/bare`;
  await Deno.mkdir(bare, { recursive: true });
  await Deno.copyFile(`${run}/recipe.yaml`, `${bare}/recipe.yaml`);
  assertOneLineError(await cli(bare), /has no checkpoint/);
  // A trained run that was never exported.
  const unexported = `${CWD}/runs/unexported`;
  await Deno.mkdir(unexported);
  await Deno.copyFile(`${run}/recipe.yaml`, `${unexported}/recipe.yaml`);
  await Deno.mkdir(`${unexported}/checkpoints`);
  const ckpt = [...Deno.readDirSync(`${run}/checkpoints`)][0].name;
  await Deno.mkdir(`${unexported}/checkpoints/${ckpt}`);
  for (const f of Deno.readDirSync(`${run}/checkpoints/${ckpt}`)) {
    await Deno.copyFile(`${run}/checkpoints/${ckpt}/${f.name}`, `${unexported}/checkpoints/${ckpt}/${f.name}`);
  }
  assertOneLineError(await cli(unexported), /no exported model .*run deno task export/);
  assertOneLineError(
    await cli(run, "--out", "/tmp/elsewhere-demo"),
    /demo: not permitted to write \/tmp\/elsewhere-demo/,
  );
  assertOneLineError(await cli(run, "--limit", "0"), /--limit must be an integer >= 1/);
  for (const dir of [bare, unexported]) ok(![...Deno.readDirSync(dir)].some((e) => e.name.startsWith("demo")));
});
