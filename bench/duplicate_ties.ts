/**
 * Do exact duplicate gallery rows get the same float32 score? The kNN breaks ties in the computed
 * score by the lower gallery index; whether two copies of one row compute the same score depends
 * on the engine summing every entry's products in the same order. This counts, per engine,
 * metric and mode, the duplicate pairs that scored differently and those ranked later copy first.
 *
 * Each of 400 triples places a random row at two positions p1 < p2 and a perturbed copy (the
 * query) at a third; the first copies of 15 pairs lie in the gallery's last 15 rows, where a BLAS
 * computes with its edge kernels.
 *
 * ```sh
 * deno run -A bench/duplicate_ties.ts [--dim 128] [--n 6007]
 * ```
 */
import { parseArgs } from "node:util";
import { knn } from "../core/knn.ts";
import { Rng } from "../core/rng.ts";
import { useBackend } from "../core/backend.ts";
import { blas } from "../core/blas.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { dim: { type: "string", default: "128" }, n: { type: "string", default: "6007" } },
});
const dim = Number(args.dim), N = Number(args.n), T = 400;
await useBackend("cpu");
console.log(`BLAS: ${blas()?.name ?? "none"} (${blas()?.threads ?? "?"} threads); ${N} × ${dim}, ${T} duplicate pairs`);

const rng = new Rng(1);
const x = Float32Array.from({ length: N * dim }, () => rng.normal());
const used = new Set<number>();
const pick = (at?: number) => {
  let p = at ?? rng.int(N);
  while (used.has(p)) p = rng.int(N);
  used.add(p);
  return p;
};
const triples: Array<[number, number, number]> = [];
for (let t = 0; t < T; t++) {
  const a = pick(), b = pick(t < 15 ? N - 1 - t : undefined), q = pick();
  const [p1, p2] = a < b ? [a, b] : [b, a];
  for (let d = 0; d < dim; d++) {
    x[p2 * dim + d] = x[p1 * dim + d];
    x[q * dim + d] = x[p1 * dim + d] + 0.05 * rng.normal();
  }
  triples.push([p1, p2, q]);
}
const queries = new Float32Array(T * dim);
triples.forEach(([, , q], t) => queries.set(x.subarray(q * dim, (q + 1) * dim), t * dim));

const k = 4;
for (const metric of ["cosine", "squared-euclidean"] as const) {
  for (const engine of blas() ? ["native", "backend"] as const : ["backend"] as const) {
    for (const oneSet of [false, true]) {
      const r = oneSet
        ? await knn(x, N, x, N, dim, k, { metric, engine, excludeSelf: true })
        : await knn(queries, T, x, N, dim, k, { metric, engine });
      let differ = 0, laterFirst = 0, seen = 0;
      triples.forEach(([p1, p2, q], t) => {
        const row = oneSet ? q : t;
        const idx = Array.from(r.indices.subarray(row * k, row * k + k));
        const i1 = idx.indexOf(p1), i2 = idx.indexOf(p2);
        if (i1 < 0 || i2 < 0) return;
        seen++;
        if (r.distances[row * k + i1] !== r.distances[row * k + i2]) differ++;
        if (i2 < i1) laterFirst++;
      });
      const mode = oneSet ? "one set" : "query/gallery";
      console.log(
        `${metric.padEnd(17)} ${r.engine.padEnd(7)} ${mode.padEnd(13)} ` +
          `${differ} of ${seen} pairs scored differently, ${laterFirst} ranked later copy first`,
      );
    }
  }
}
