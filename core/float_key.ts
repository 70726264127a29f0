/**
 * Float32 values as unsigned 32-bit keys in the same order, for radix sorts and bit-counting
 * quantiles: flipping the sign bit of a non-negative float, and every bit of a negative one,
 * orders floats as unsigned integers. −0 is read as +0 (they are equal as numbers). The keys take
 * the float's bits, e.g. from a Uint32Array view of a Float32Array.
 *
 * ```ts
 * const bits = new Uint32Array(Float32Array.of(-2, 0.5).buffer);
 * orderKey(bits[0]) < orderKey(bits[1]); // true
 * keyToFloat(orderKey(bits[1]));         // 0.5
 * ```
 */

/** The key of the float32 with bits `u`: smaller float, smaller key. */
export function orderKey(u: number): number {
  if (u === 0x80000000) u = 0;
  return (u & 0x80000000 ? ~u : u | 0x80000000) >>> 0;
}

/** The key of the float32 with bits `u` in reverse: larger float, smaller key. */
export function reverseOrderKey(u: number): number {
  return ~orderKey(u) >>> 0;
}

const keyFloat = new Float32Array(1), keyWord = new Uint32Array(keyFloat.buffer);

/** The float32 whose {@link orderKey} is `key`. */
export function keyToFloat(key: number): number {
  keyWord[0] = key & 0x80000000 ? key & 0x7fffffff : ~key;
  return keyFloat[0];
}

/** The {@link orderKey} of a number rounded to float32. */
export function floatKey(v: number): number {
  keyFloat[0] = v;
  return orderKey(keyWord[0]);
}
