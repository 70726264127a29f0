/**
 * An exported model run by plain tfjs, no dml code: what a user's Deno service would do. It loads
 * model.json and its shards with tfjs-converter's own HTTP loader (Deno's fetch reads file:// URLs)
 * and embeds raw float32 pixels.
 *
 *   deno run --allow-read tests/plain_tfjs_embed.ts MODEL_DIR PIXELS.f32 N OUT.f32
 *
 * PIXELS.f32 holds N items of export.json's input shape, row-major; OUT.f32 gets N × dim floats.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { loadGraphModel } from "@tensorflow/tfjs-converter";

const [dir, pixelsPath, count, outPath] = Deno.args;
const info = JSON.parse(await Deno.readTextFile(`${dir}/export.json`));
await tf.setBackend("cpu");
const url = new URL(`${dir}/model.json`, `file://${Deno.cwd()}/`).href;
const model = await loadGraphModel(tf.io.http(url, { fetchFunc: fetch }));
const bytes = await Deno.readFile(pixelsPath);
const x = tf.tensor(new Float32Array(bytes.buffer, 0, bytes.byteLength / 4), [Number(count), ...info.input.shape]);
const e = model.predict(x) as tf.Tensor;
const values = await e.data() as Float32Array;
await Deno.writeFile(outPath, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
