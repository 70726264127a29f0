/**
 * Memory drift: how far the embeddings a cross-batch memory holds have moved from what the
 * network gives for the same items now (the "slow drift" XBM assumes and XBN corrects).
 *
 *   drift = mean over S of 1 − cos(m_i, f(x_i))
 *
 * S is a sample of up to 256 stored entries whose train row is known, drawn with a generator
 * seeded by the step (the training streams are not touched); m_i is entry i as the memory holds
 * it now (for XBN after its moment adaptation: what the loss compares with); x_i is the train
 * item it came from, un-augmented; f is the current backbone in inference mode. 0 means the stored
 * copies point where fresh ones would. Entries were stored from augmented items in training mode
 * (BatchNorm with batch statistics), so drift stays somewhat above 0 even while the weights stand still.
 *
 * ```ts
 * const d = await memoryDrift(memory, data.train, backbone, step);   // { drift: 0.031, entries: 256 } or null
 * ```
 */
import { tf } from "../tf.ts";
import type { Tensor, Tensor2D } from "@tensorflow/tfjs-core";
import type { Backbone, Dataset, Memory } from "../types.ts";
import { Rng } from "../rng.ts";
import { l2normalize } from "../pairs.ts";

/** Items embedded at once: bounds the memory a large image model needs. */
const CHUNK = 64;

export async function memoryDrift(
  memory: Memory,
  train: Dataset,
  backbone: Backbone,
  step: number,
  samples = 256,
): Promise<{ drift: number; entries: number } | null> {
  const stored = memory.stored?.();
  if (!stored) return null;
  const known = Int32Array.from(stored.items.keys()).filter((slot) => stored.items[slot] >= 0);
  const rng = new Rng((0x5eed ^ step) >>> 0);
  const slots = rng.shuffle(known).subarray(0, Math.min(samples, known.length));
  if (slots.length === 0) {
    stored.e.dispose();
    return null;
  }
  let sum = 0;
  const opts = { augment: false, rng };
  for (let start = 0; start < slots.length; start += CHUNK) {
    const part = slots.subarray(start, start + CHUNK);
    const rows = Int32Array.from(part, (s) => stored.items[s]);
    const x: Tensor = train.loadBatch ? await train.loadBatch(rows, opts) : train.batch(rows, opts);
    const distance = tf.tidy(() => {
      const fresh = l2normalize(backbone.embed(x, false));
      const kept = l2normalize(tf.gather(stored.e, tf.tensor1d(part, "int32")) as Tensor2D);
      return tf.sum(tf.sub(1, tf.sum(tf.mul(fresh, kept), 1)));
    });
    x.dispose();
    sum += (await distance.data())[0];
    distance.dispose();
  }
  stored.e.dispose();
  return { drift: sum / slots.length, entries: slots.length };
}
