/**
 * UnsortedSegmentSum (the gradient of `tf.gather`): rows of x added into the row of their
 * segment id; ids outside [0, numSegments) are dropped, as TensorFlow does.
 *
 * ```ts
 * const out = unsortedSegmentSum(x, ids, numSegments, rowSize); // [numSegments * rowSize]
 * ```
 */
export function unsortedSegmentSum(
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  numSegments: number,
  rowSize: number,
  out: Float32Array | Int32Array,
): void {
  out.fill(0);
  for (let r = 0; r < ids.length; r++) {
    const s = ids[r];
    if (s < 0 || s >= numSegments) continue;
    const from = r * rowSize, to = s * rowSize;
    for (let j = 0; j < rowSize; j++) out[to + j] += x[from + j];
  }
}
