/**
 * Learning-rate schedules: constant, step (multiply by gamma at milestone epochs), cosine and
 * linear decay to `minLr` over the run, each after an optional linear warm-up.
 *
 * ```ts
 * const lr = learningRate({ schedule: "cosine", warmup: 100, minLr: 0, milestones: [], gamma: 0.1 },
 *   0.001, { step: 500, totalSteps: 1000, epoch: 2 });
 * ```
 */
export interface ScheduleOptions {
  schedule: string;
  warmup: number;
  milestones: number[];
  gamma: number;
  minLr: number;
}

export function learningRate(
  o: ScheduleOptions,
  base: number,
  at: { step: number; totalSteps: number; epoch: number },
): number {
  if (o.warmup > 0 && at.step < o.warmup) return (base * (at.step + 1)) / o.warmup;
  const span = Math.max(1, at.totalSteps - o.warmup);
  const progress = Math.min(1, Math.max(0, (at.step - o.warmup) / span));
  switch (o.schedule) {
    case "step":
      return base * o.gamma ** o.milestones.filter((m) => at.epoch >= m).length;
    case "cosine":
      return o.minLr + (base - o.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    case "linear":
      return base + (o.minLr - base) * progress;
    default:
      return base;
  }
}
