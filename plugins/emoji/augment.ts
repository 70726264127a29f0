/**
 * Augmentation that fits drawings: a random similarity transform (scale, small rotation, shift)
 * resampled bilinearly, the uncovered corners filled with the background.
 *
 * The vendors draw the same emoji at different sizes and positions on their 64 × 64 canvas (Apple
 * fills it, Google leaves a margin), so scale and shift are the differences a cross-design model
 * must ignore. What it must not ignore is left alone: no mirror (👉 and 👈, ◀️ and ▶️, ↩️ and ↪️
 * are different emoji, and mirrored flags and letters are wrong), rotation only by a few degrees
 * (➡️ and ↗️ differ by 45°, 🕐 and 🕑 by a 30° turn of one hand), and no colour change (❤️ and 💙,
 * 🔴 and 🔵, and the skin tones differ only in colour).
 *
 * ```ts
 * const t = drawTransform(rng, { shift: 0.1, scale: [0.8, 1.1], rotate: 10 }); // one image's draw
 * warpImage(src, 32, t, 128, out, 0, (v, c) => v / 255 - mean[c]);
 * ```
 */
import type { Rng } from "../../core/rng.ts";

/** The ranges augmentation draws from. */
export interface AugmentRanges {
  /** Largest shift in each direction, as a fraction of the side. */
  shift: number;
  /** Range of the scale factor [min, max]. */
  scale: [number, number];
  /** Largest rotation in degrees, either way. */
  rotate: number;
}

/** One image's transform: output = centre + shift + scale · R(angle) · (input − centre). */
export interface Similarity {
  scale: number;
  /** Radians, counter-clockwise on screen is negative (y points down). */
  angle: number;
  /** Shift in pixels. */
  dx: number;
  dy: number;
}

export const IDENTITY: Similarity = { scale: 1, angle: 0, dx: 0, dy: 0 };

/** Draws one transform; always four draws from `rng`, in this order: scale, angle, dx, dy. */
export function drawTransform(rng: Rng, r: AugmentRanges, side: number): Similarity {
  const scale = r.scale[0] + rng.uniform() * (r.scale[1] - r.scale[0]);
  const angle = ((2 * rng.uniform() - 1) * r.rotate * Math.PI) / 180;
  const dx = (2 * rng.uniform() - 1) * r.shift * side;
  const dy = (2 * rng.uniform() - 1) * r.shift * side;
  return { scale, angle, dx, dy };
}

/**
 * Writes the transformed side × side × 3 image `src` (bytes) into `out` at `offset`, each
 * resampled byte value passed through `toFloat(value, channel)`; outside the source is `background`.
 */
export function warpImage(
  src: Uint8Array,
  side: number,
  t: Similarity,
  background: number,
  out: Float32Array,
  offset: number,
  toFloat: (v: number, c: number) => number,
): void {
  const c0 = (side - 1) / 2;
  const cos = Math.cos(t.angle) / t.scale, sin = Math.sin(t.angle) / t.scale;
  const at = (x: number, y: number, c: number) =>
    x >= 0 && x < side && y >= 0 && y < side ? src[(y * side + x) * 3 + c] : background;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      // The inverse map: where in the source this output pixel comes from.
      const u = x - c0 - t.dx, v = y - c0 - t.dy;
      const sx = c0 + cos * u + sin * v;
      const sy = c0 - sin * u + cos * v;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const o = offset + (y * side + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx;
        const bottom = at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx;
        out[o + c] = toFloat(top * (1 - fy) + bottom * fy, c);
      }
    }
  }
}
