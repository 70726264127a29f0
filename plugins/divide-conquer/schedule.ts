/**
 * The three stages of a divide-and-conquer run, by epoch (official defaults: 200 epochs,
 * re-cluster every 2, full embedding from 80, fine-tune from 190):
 *
 * - `learners`: batches from one cluster, the loss on that cluster's learner block;
 * - `full`: still cluster batches, but the loss on the full embedding (the official code's
 *   hidden switch at `finetune_epoch · 8/19`, here an explicit option);
 * - `finetune`: one cluster holding all the data, the loss on the full embedding.
 *
 * ```ts
 * const s = { reclusterEvery: 2, fullEmbeddingFrom: 80, finetuneFrom: 190 };
 * stageAt(79, s);        // "learners"
 * stageAt(80, s);        // "full"
 * stageAt(190, s);       // "finetune"
 * reclusterDue(4, s);    // true
 * ```
 */
export type Stage = "learners" | "full" | "finetune";

export interface StageOptions {
  reclusterEvery: number;
  fullEmbeddingFrom: number;
  finetuneFrom: number;
}

/** The stage epoch `epoch` (0-based) belongs to. */
export function stageAt(epoch: number, o: StageOptions): Stage {
  if (epoch >= o.finetuneFrom) return "finetune";
  if (epoch >= o.fullEmbeddingFrom) return "full";
  return "learners";
}

/** Whether the data is clustered afresh at the start of `epoch` (epoch 0 clusters the initial model). */
export function reclusterDue(epoch: number, o: StageOptions): boolean {
  return epoch < o.finetuneFrom && epoch % o.reclusterEvery === 0;
}
