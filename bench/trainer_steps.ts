/**
 * Images per second of a recipe's training steps as the project's trainer runs them (batch,
 * forward, backward, optimizer, the loss read back): `train()` with `train.maxSteps` steps, a step
 * record per step (`logEvery: 1`), no checkpoint, no evaluation during training and a tiny test
 * split. Shared by bench/train_throughput.ts and bench/torch_side_by_side.ts.
 *
 * ```ts
 * const perStep = await trainerImagesPerSec(raw, "blas", 5); // images/s of steps 2..5
 * ```
 */
import { type RawRecipe, resolveRecipe } from "../core/recipe.ts";
import { train } from "../core/trainer.ts";
import { createRegistry } from "../plugins/builtin.ts";
import { randomImagesPlugin } from "./random_images.ts";

/** The trainer's images/s of each step after the first `warmup` (the first compiles kernels). */
export async function trainerImagesPerSec(
  raw: RawRecipe,
  backend: string,
  maxSteps: number,
  warmup = 1,
): Promise<number[]> {
  const registry = createRegistry();
  registry.register(randomImagesPlugin);
  const out = await Deno.makeTempDir({ prefix: "dml-throughput-" });
  try {
    const r = structuredClone(raw);
    r.output = out;
    r.train = { ...(r.train as object), backend, maxSteps, epochs: 1, logEvery: 1, checkpoint: false, prefetch: 2 };
    r.eval = { ...(r.eval as object), every: 0, baselines: false };
    if ((r.data as { use: string }).use === "fashion-mnist") r.data = { ...(r.data as object), testPerClass: 8 };
    const recipe = await resolveRecipe(r, registry);
    const result = await train(recipe, registry, { quiet: true });
    const lines = (await Deno.readTextFile(`${result.runDir}/metrics.jsonl`)).trim().split("\n");
    const perStep = lines.map((l) => JSON.parse(l)).filter((x) => x.type === "step").map((x) => x.imagesPerSec);
    return perStep.slice(warmup);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}
