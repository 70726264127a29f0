/**
 * The one place dml imports tfjs-core from, so every module shares one engine.
 *
 * ```ts
 * import { tf } from "../core/tf.ts";
 * const x = tf.ones([2, 2]);
 * ```
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core registers no gradients by itself (its ESM gradient files cannot load under Deno);
// the tfjs-layers bundle registers them all, so tf.grad / tf.variableGrads work.
import "@tensorflow/tfjs-layers";

// tfjs greets Node.js users with a tfjs-node advertisement; Deno is not Node.js.
const platform = tf.env().platform as unknown as { isTypedArray?: unknown } | undefined;
if (platform) tf.env().set("IS_NODE", false);

export { tf };
