/**
 * Progress output: a live bar (loss, images/s, ETA) on a terminal, plain lines otherwise.
 *
 * ```ts
 * const p = new Progress(1000);
 * p.update(10, { loss: 0.5, imagesPerSec: 320, lr: 0.001, epoch: 0 });
 * p.line("evaluated");
 * ```
 */
export class Progress {
  private readonly tty: boolean;
  private readonly start = performance.now();
  private barShown = false;

  constructor(private total: number, private quiet = false) {
    this.tty = !quiet && Deno.stdout.isTerminal();
  }

  /** Redraws the bar (terminal) or prints a line (otherwise). */
  update(step: number, s: { loss: number; imagesPerSec: number; lr: number; epoch: number }): void {
    if (this.quiet) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = step > 0 ? (elapsed / step) * (this.total - step) : 0;
    const text =
      `epoch ${s.epoch + 1} step ${step}/${this.total} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ` +
      `${s.imagesPerSec.toFixed(0)} img/s ETA ${formatTime(eta)}`;
    if (this.tty) {
      const width = 24, filled = Math.round((width * step) / Math.max(1, this.total));
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${bar} ${text}`));
      this.barShown = true;
    } else {
      console.log(text);
    }
  }

  /** Prints a line above the bar. */
  line(text: string): void {
    if (this.quiet) return;
    if (this.barShown) Deno.stdout.writeSync(new TextEncoder().encode("\r\x1b[2K")), this.barShown = false;
    console.log(text);
  }

  done(): void {
    if (this.barShown) Deno.stdout.writeSync(new TextEncoder().encode("\n")), this.barShown = false;
  }
}

/** 75 -> "1m15s". */
export function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
