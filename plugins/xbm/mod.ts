/**
 * The `xbm` memory: Cross-Batch Memory (Wang et al., CVPR 2020, arXiv 1912.06798), a FIFO of
 * past embeddings that a pair loss compares the batch with. Defaults follow the official code.
 *
 * ```yaml
 * memory: { use: xbm, size: 8192, start: 1000, weight: 1.0 }
 * ```
 *
 * ```ts
 * const memory = await registry.create<Memory>("memory", "xbm", { size: 4096, start: 100 }, { dim: 128, batchSize: 64 });
 * ```
 */
import { bool, checkFits, int, num, str } from "../../core/options.ts";
import { checkHoldsBatch } from "../../core/ring_buffer.ts";
import type { Memory, Plugin } from "../../core/types.ts";
import { CrossBatchMemory } from "./memory.ts";

export { CrossBatchMemory } from "./memory.ts";
export type { XbmOptions } from "./memory.ts";

export const plugin: Plugin = {
  name: "xbm",
  components: [
    {
      kind: "memory",
      name: "xbm",
      doc: "Cross-Batch Memory: a FIFO of past (embedding, label) pairs the loss also compares the batch with",
      options: {
        size: int(8192, { min: 1, doc: "entries kept (official: 8192 by default, 55,000 for SOP)" }),
        start: int(1000, {
          min: 0,
          doc: "first step at which the memory is filled and used (official sample config: 1000)",
        }),
        weight: num(1, { min: 0, doc: "weight of the loss against the memory" }),
        batchLoss: bool(
          true,
          "keep the batch-vs-batch loss beside the memory loss (official code: true; the paper's form: false)",
        ),
        order: str(
          "before-loss",
          ["before-loss", "after-step"],
          "enqueue the batch before the loss (official code) or after the optimizer step",
        ),
      },
      create(o, ctx): Memory {
        checkHoldsBatch(o.size, ctx.batchSize, ctx.path);
        checkFits(o.size * (ctx.dim ?? 1) * 4, `${ctx.path}.size`, `${o.size} entries of ${ctx.dim ?? 1} float32`);
        return new CrossBatchMemory({
          size: o.size,
          start: o.start,
          weight: o.weight,
          batchLoss: o.batchLoss,
          order: o.order,
          dim: ctx.dim,
          path: ctx.path,
        });
      },
    },
  ],
};

export default plugin;
