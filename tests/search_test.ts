/**
 * `deno task search` and `deno task index`: exact search against a float64 brute-force reference
 * (cosine, centred cosine, Euclidean) on fresh random data; image files through a run's exported
 * model (a gallery item's own picture finds itself first, at distance 0); the USearch index against
 * exact search (recall@10 on clustered data, the same top hits on a run), and bad input: one line,
 * exit 2, nothing written or replaced.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import sharp from "sharp";
import { createRegistry } from "../plugins/builtin.ts";
import { encodeNpy } from "../core/npy.ts";
import { Rng } from "../core/rng.ts";
import { restoreRun } from "../core/commands/embed.ts";
import { ANN_MIN_ITEMS, type QueryResult, searchCommand } from "../core/commands/search.ts";
import { assertOneLineError, runCli } from "./cli_process.ts";
import { CASES, exportedCase, quiet } from "./export_fixtures.ts";

const CWD = await Deno.makeTempDir();
const SEARCH_FLAGS = ["--allow-read", "--allow-env", "--allow-sys", "--allow-ffi"];
const INDEX_FLAGS = ["--allow-read", "--allow-env", "--allow-write=runs", "--allow-sys", "--allow-ffi"];

/** Float64 brute force: the k nearest gallery rows of each query, ties to the lower row. */
function reference(
  g: Float32Array,
  q: Float32Array,
  dim: number,
  k: number,
  metric: "cosine" | "euclidean",
  center: boolean,
): { indices: number[][]; distances: number[][] } {
  const n = g.length / dim, nq = q.length / dim;
  const mean = new Float64Array(dim);
  if (center) { for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += g[i * dim + j] / n; }
  const row = (a: Float32Array, i: number) => {
    const r = Array.from({ length: dim }, (_, j) => a[i * dim + j] - mean[j]);
    if (metric === "euclidean") return r;
    const norm = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / norm);
  };
  const gr = Array.from({ length: n }, (_, i) => row(g, i));
  const out = { indices: [] as number[][], distances: [] as number[][] };
  for (let i = 0; i < nq; i++) {
    const x = row(q, i);
    const d = gr.map((y, j) => {
      const v = metric === "cosine"
        ? 1 - x.reduce((s, xi, t) => s + xi * y[t], 0)
        : Math.sqrt(x.reduce((s, xi, t) => s + (xi - y[t]) ** 2, 0));
      return [v, j];
    });
    d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.indices.push(d.slice(0, k).map((e) => e[1]));
    out.distances.push(d.slice(0, k).map((e) => e[0]));
  }
  return out;
}

/** Gaussian clusters (what trained embeddings look like), with their cluster as the label. */
function clustered(rng: Rng, n: number, dim: number, clusters: number): { data: Float32Array; labels: Int32Array } {
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => rng.normal() * 3));
  const data = new Float32Array(n * dim), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(clusters);
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[labels[i]][j] + rng.normal();
  }
  return { data, labels };
}

async function search(args: string[]): Promise<QueryResult[]> {
  return await quiet(() => searchCommand(args));
}

Deno.test("search: exact neighbours of .npy queries equal a float64 brute force (cosine, centred, Euclidean)", async () => {
  const rng = new Rng(7), dim = 12, n = 300, nq = 5, k = 6;
  const { data, labels } = clustered(rng, n, dim, 10);
  const q = clustered(rng, nq, dim, 10).data;
  await Deno.writeFile(`${CWD}/g.npy`, encodeNpy(data, [n, dim]));
  await Deno.writeFile(`${CWD}/gl.npy`, encodeNpy(labels, [n]));
  await Deno.writeFile(`${CWD}/q.npy`, encodeNpy(q, [nq, dim]));
  await Deno.writeFile(`${CWD}/q1.npy`, encodeNpy(q.slice(0, dim), [dim]));
  for (const [metric, center] of [["cosine", false], ["cosine", true], ["euclidean", false]] as const) {
    const flags = ["--metric", metric, ...(center ? ["--center"] : [])];
    const results = await search([
      "--gallery",
      `${CWD}/g.npy`,
      "--labels",
      `${CWD}/gl.npy`,
      `${CWD}/q.npy`,
      "--k",
      "6",
      ...flags,
    ]);
    const want = reference(data, q, dim, k, metric, center);
    assertEquals(results.map((r) => r.neighbours.map((nb) => nb.index)), want.indices, `${metric} ${center}`);
    results.forEach((r, i) => {
      assertEquals(r.engine, "exact");
      r.neighbours.forEach((nb, j) => {
        ok(Math.abs(nb.distance - want.distances[i][j]) < 1e-4, `${metric}: ${nb.distance} vs ${want.distances[i][j]}`);
        assertEquals(nb.label, labels[nb.index]);
        assertEquals(nb.id, String(nb.index));
      });
    });
  }
  // A 1-d .npy is one query; ids from a file.
  await Deno.writeTextFile(`${CWD}/ids.txt`, Array.from({ length: n }, (_, i) => `item-${i}`).join("\n") + "\n");
  const [one] = await search(["--gallery", `${CWD}/g.npy`, "--ids", `${CWD}/ids.txt`, `${CWD}/q1.npy`, "--k", "3"]);
  assertEquals(one.query, `${CWD}/q1.npy`);
  assertEquals(one.neighbours[0].id, `item-${reference(data, q, dim, 1, "cosine", false).indices[0][0]}`);
});

Deno.test("index: USearch's recall@10 against exact search on clustered data; search --engine ann uses it", async () => {
  const rng = new Rng(3), dim = 32, n = 3000, nq = 100;
  const { data, labels } = clustered(rng, n, dim, 50);
  const q = clustered(rng, nq, dim, 50).data;
  await Deno.mkdir(`${CWD}/runs`, { recursive: true });
  await Deno.writeFile(`${CWD}/runs/big.npy`, encodeNpy(data, [n, dim]));
  await Deno.writeFile(`${CWD}/runs/big_labels.npy`, encodeNpy(labels, [n]));
  await Deno.writeFile(`${CWD}/bq.npy`, encodeNpy(q, [nq, dim]));
  const r = await runCli(CWD, INDEX_FLAGS, [
    "index",
    "--embeddings",
    "runs/big.npy",
    "--labels",
    "runs/big_labels.npy",
    "--out",
    "runs/big-index",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assertEquals([info.engine, info.engineVersion, info.n, info.dim, info.labels], ["usearch", "2.26.2", n, dim, true]);
  const gallery = ["--gallery", `${CWD}/runs/big.npy`, `${CWD}/bq.npy`, "--k", "10"];
  const exact = await search(gallery);
  const ann = await search([...gallery, "--index", `${CWD}/runs/big-index`, "--engine", "ann"]);
  const auto = await search([...gallery, "--index", `${CWD}/runs/big-index`]);
  ok(n < ANN_MIN_ITEMS);
  assertEquals(auto.map((x) => x.engine), exact.map(() => "exact")); // small: exact even with an index
  let found = 0;
  ann.forEach((a, i) => {
    assertEquals(a.engine, "ann");
    const truth = new Set(exact[i].neighbours.map((nb) => nb.index));
    found += a.neighbours.filter((nb) => truth.has(nb.index)).length;
    assertEquals(a.neighbours.map((nb) => nb.label), a.neighbours.map((nb) => labels[nb.index]));
  });
  const recall = found / (nq * 10);
  ok(recall >= 0.95, `recall@10 ${recall}`);
  // Distances are the exact metric's for the rows it returns.
  const first = ann[0].neighbours[0], same = exact[0].neighbours.find((nb) => nb.index === first.index);
  if (same) ok(Math.abs(first.distance - same.distance) < 1e-5);
});

Deno.test("search: a gallery item's own picture, through the exported model, finds itself first", async () => {
  const c = CASES.find((x) => x.name === "convnet")!;
  const { run } = await exportedCase(CWD, c);
  const { components } = await quiet(() => restoreRun(createRegistry(), run, [], "test"));
  const split = components.data.test!;
  const items = [3, 17];
  const files = [];
  for (const i of items) {
    const img = await split.image!(i);
    const file = `${CWD}/item-${i}.png`;
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 } }).png()
      .toFile(file);
    files.push(file);
  }
  const r = await runCli(CWD, SEARCH_FLAGS, ["search", run, ...files, "--k", "4"]);
  assertEquals(r.code, 0, r.stderr);
  const results = r.stdout.trim().split("\n").map((l) => JSON.parse(l)) as QueryResult[];
  assertEquals(results.map((x) => x.query), files);
  results.forEach((x, j) => {
    assertEquals([x.engine, x.metric], ["exact", "cosine"]);
    assertEquals(x.neighbours[0].index, items[j]);
    assertEquals(x.neighbours[0].label, split.labels[items[j]]);
    ok(x.neighbours[0].distance < 1e-4, `distance to itself ${x.neighbours[0].distance}`);
  });

  // The run's index: the same nearest items.
  const built = await runCli(CWD, INDEX_FLAGS, ["index", run]);
  assertEquals(built.code, 0, built.stderr);
  const ann = await runCli(CWD, SEARCH_FLAGS, ["search", run, ...files, "--k", "4", "--engine", "ann"]);
  assertEquals(ann.code, 0, ann.stderr);
  const annResults = ann.stdout.trim().split("\n").map((l) => JSON.parse(l)) as QueryResult[];
  assertEquals(annResults.map((x) => x.neighbours[0].index), items);
});

Deno.test("search and index: bad input is one line, exit 2, nothing written or replaced", async () => {
  const run = `${CWD}/runs/convnet/${[...Deno.readDirSync(`${CWD}/runs/convnet`)][0].name}`;
  const searchCli = (...args: string[]) => runCli(CWD, SEARCH_FLAGS, ["search", ...args]);
  const indexCli = (...args: string[]) => runCli(CWD, INDEX_FLAGS, ["index", ...args]);
  // A gallery of another dimension than the queries or the model.
  await Deno.writeFile(`${CWD}/q13.npy`, encodeNpy(new Float32Array(13), [1, 13]));
  assertOneLineError(
    await searchCli("--gallery", `${CWD}/g.npy`, `${CWD}/q13.npy`),
    /float32 \[1,13\] queries.*\[n, 12\]/,
  );
  await Deno.writeFile(`${CWD}/runs/small.npy`, encodeNpy(new Float32Array(5 * 7), [5, 7]));
  assertOneLineError(
    await searchCli("--gallery", `${CWD}/runs/small.npy`, "--model", `${run}/export`, `${CWD}/item-3.png`),
    /the model gives \d+-d embeddings, the gallery .*small.npy is 7-d/,
  );
  // An image that cannot be decoded.
  await Deno.writeTextFile(`${CWD}/broken.png`, "not a png");
  assertOneLineError(await searchCli(run, `${CWD}/broken.png`), /broken.png: cannot decode the image/);
  // A FIFO as an image or an id list (it would block a read forever): refused before it is opened.
  assertEquals((await new Deno.Command("mkfifo", { args: [`${CWD}/pipe.png`] }).output()).code, 0);
  assertOneLineError(await searchCli(run, `${CWD}/pipe.png`), /pipe\.png: not a regular file/);
  assertOneLineError(
    await searchCli("--gallery", `${CWD}/g.npy`, "--ids", `${CWD}/pipe.png`, `${CWD}/q1.npy`),
    /--ids .*pipe\.png: not a regular file/,
  );
  // A run without embeddings, a folder that is no run.
  const bare = `${CWD}/runs/bare`;
  await Deno.mkdir(bare, { recursive: true });
  await Deno.copyFile(`${run}/recipe.yaml`, `${bare}/recipe.yaml`);
  assertOneLineError(await searchCli(bare, `${CWD}/q1.npy`), /no gallery embeddings .*run deno task embed/);
  assertOneLineError(await indexCli(`${CWD}/runs`), /not a run folder/);
  assertOneLineError(await indexCli(bare), /no gallery embeddings/);
  assertEquals([...Deno.readDirSync(bare)].map((e) => e.name), ["recipe.yaml"]);
  // An index written outside runs/ is refused before anything is read or written.
  assertOneLineError(
    await indexCli("--embeddings", `${CWD}/g.npy`, "--out", "/tmp/elsewhere-index"),
    /index: not permitted to write \/tmp\/elsewhere-index/,
  );
  // A truncated index, or one of another engine version: refused, and left as it was.
  const index = `${CWD}/runs/big-index`;
  const bytes = await Deno.readFile(`${index}/index.usearch`);
  await Deno.writeFile(`${index}/index.usearch`, bytes.subarray(0, bytes.length - 100));
  const args = ["--gallery", `${CWD}/runs/big.npy`, `${CWD}/bq.npy`, "--index", index, "--engine", "ann"];
  assertOneLineError(await searchCli(...args), /index.usearch: \d+ bytes, index.json says \d+ \(truncated\?\)/);
  // One byte changed: the header's hash (the first MiB) no longer matches.
  const flipped = bytes.slice();
  flipped[bytes.length >> 1] ^= 0xff;
  await Deno.writeFile(`${index}/index.usearch`, flipped);
  assertOneLineError(await searchCli(...args), /index.usearch: its header is not index.json's \(corrupt\)/);
  await Deno.writeFile(`${index}/index.usearch`, bytes);
  const json = await Deno.readTextFile(`${index}/index.json`);
  await Deno.writeTextFile(
    `${index}/index.json`,
    json.replace('"engineVersion": "2.26.2"', '"engineVersion": "2.25.0"'),
  );
  assertOneLineError(await searchCli(...args), /written by usearch 2.25.0, this dml runs 2.26.2; rebuild it/);
  await Deno.writeTextFile(`${index}/index.json`, json);
  // An index of another gallery.
  assertOneLineError(
    await searchCli("--gallery", `${CWD}/g.npy`, `${CWD}/q.npy`, "--index", index, "--engine", "ann"),
    /indexes 3000 × 32 \(cosine\), the gallery is 300 × 12/,
  );
  // A failing rebuild (bad labels) leaves the old index whole.
  await Deno.writeFile(`${CWD}/runs/bad_labels.npy`, encodeNpy(new Int32Array(3), [3]));
  assertOneLineError(
    await indexCli("--embeddings", "runs/big.npy", "--labels", "runs/bad_labels.npy", "--out", "runs/big-index"),
    /expected 3000 integer labels/,
  );
  assertEquals(await Deno.readFile(`${index}/index.usearch`), bytes);
  assertEquals(await Deno.readTextFile(`${index}/index.json`), json);
  assertOneLineError(await searchCli(run, `${CWD}/q1.npy`, "--k", "0"), /--k must be an integer >= 1/);
});
