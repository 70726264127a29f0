/**
 * The `xbn` memory: (Adaptive) Cross Batch Normalization (Ajanthan et al., arXiv 2303.17127).
 * A cross-batch memory whose stored embeddings are re-standardised every step to the current
 * batch's moments; `adaptive: true` is AXBN, which Kalman-filters those moments first.
 * Defaults follow the paper (q = 1, p0 = 1, r = 0.01, gain interval 100; memory-only loss).
 *
 * ```yaml
 * memory: { use: xbn, size: 8192, start: 0, adaptive: true }
 * ```
 *
 * ```ts
 * const memory = await registry.create<Memory>("memory", "xbn", { size: 4096, adaptive: true }, { dim: 128, batchSize: 64 });
 * ```
 */
import { bool, checkFits, int, num, str } from "../../core/options.ts";
import { checkHoldsBatch } from "../../core/ring_buffer.ts";
import type { Memory, Plugin } from "../../core/types.ts";
import { CrossBatchNorm } from "./memory.ts";

export { CrossBatchNorm } from "./memory.ts";
export type { XbnOptions } from "./memory.ts";
export { kalmanGain, MomentFilter } from "./kalman.ts";
export type { KalmanOptions } from "./kalman.ts";
export { columnMoments, matchMoments } from "./moments.ts";

export const plugin: Plugin = {
  name: "xbn",
  components: [
    {
      kind: "memory",
      name: "xbn",
      doc: "Cross Batch Normalization: a cross-batch memory re-standardised each step to the batch's moments " +
        "(adaptive: Kalman-filtered moments, AXBN)",
      options: {
        size: int(8192, {
          min: 1,
          doc: "entries kept (the paper: 50% of the training set for SOP and In-Shop, 100% for DeepFashion2)",
        }),
        start: int(0, {
          min: 0,
          doc: "first step at which the memory is filled, adapted and used (the paper: 0, after a head-only warm-up)",
        }),
        weight: num(1, { min: 0, doc: "weight of the loss against the memory" }),
        batchLoss: bool(false, "keep the batch-vs-batch loss beside the memory loss (the paper: no benefit)"),
        order: str(
          "before-loss",
          ["before-loss", "after-step"],
          "adapt and enqueue before the loss (the paper) or after the optimizer step",
        ),
        normalize: bool(true, "L2-normalise embeddings before the moments and before storing (the paper's space)"),
        adaptive: bool(false, "AXBN: Kalman-filter the batch moments before matching"),
        q: num(1, { min: 0, doc: "AXBN process noise" }),
        p0: num(1, { min: 0, doc: "AXBN initial estimate variance" }),
        r: num(0.01, { min: 0, doc: "AXBN measurement noise per sample (the filter uses r / batch size)" }),
        gainInterval: int(100, {
          min: 1,
          doc: "AXBN steps between Kalman gain updates (the paper: 100 for SOP and In-Shop, 10 for DeepFashion2)",
        }),
        eps: num(1e-6, { gt: 0, doc: "added to the memory's std before dividing by it" }),
      },
      create(o, ctx): Memory {
        checkHoldsBatch(o.size, ctx.batchSize, ctx.path);
        checkFits(o.size * (ctx.dim ?? 1) * 4, `${ctx.path}.size`, `${o.size} entries of ${ctx.dim ?? 1} float32`);
        return new CrossBatchNorm({
          size: o.size,
          start: o.start,
          weight: o.weight,
          batchLoss: o.batchLoss,
          order: o.order,
          normalize: o.normalize,
          eps: o.eps,
          kalman: o.adaptive ? { q: o.q, p0: o.p0, r: o.r, gainInterval: o.gainInterval } : undefined,
          dim: ctx.dim,
          path: ctx.path,
        });
      },
    },
  ],
};

export default plugin;
