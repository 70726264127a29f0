/**
 * UMAP onto two axes (umap-js, PAIR-code), seeded: the non-linear view of an embedding map.
 *
 * ```ts
 * const xy = umap2(rows, 7);   // Float64Array [n, 2] row-major; the same rows and seed give the same map
 * ```
 */
import { UMAP } from "umap-js";
import { Rng } from "../rng.ts";

/** Fewer optimisation epochs than umap-js's default (500 below 10k points): a map in seconds, not tens. */
const EPOCHS = 200;

/** The 2-D UMAP layout of `rows` (at least 3), drawn from a generator seeded with `seed`. */
export function umap2(rows: number[][], seed: number): Float64Array {
  const rng = new Rng(seed);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.max(2, Math.min(15, rows.length - 1)),
    nEpochs: EPOCHS,
    random: () => rng.uniform(),
  });
  const out = umap.fit(rows);
  const xy = new Float64Array(rows.length * 2);
  out.forEach((p, i) => (xy[i * 2] = p[0], xy[i * 2 + 1] = p[1]));
  return xy;
}
