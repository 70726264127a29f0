/**
 * The trainer's side of run reports, in one place: `run.json` when training starts and ends,
 * the memory's drift at each epoch's end, `report.html` after each evaluation, and at the end
 * the retrieval examples and embedding map (from the last evaluation's embeddings) that let
 * `deno task report` rebuild the page without the model.
 *
 * A report that cannot be written is said, not thrown: it never stops a training run.
 *
 * ```ts
 * const reporter = await RunReporter.start(folder.dir, recipe, backend, step, { log, say });
 * reporter.seen = { query: testEmbeddings };   // from the evaluation
 * await reporter.evaluated();
 * await reporter.epochEnd(c, step);
 * await reporter.finish(c.data, step);
 * ```
 */
import type { BackendChoice } from "../backend.ts";
import type { Recipe } from "../recipe.ts";
import type { Backbone, DatasetSplits, Memory } from "../types.ts";
import type { EvalEmbeddings } from "./collect.ts";
import { memoryDrift } from "./drift.ts";
import { RunInfoFile } from "./run_info.ts";

export class RunReporter {
  /** The last evaluation's embeddings. */
  seen: EvalEmbeddings | null = null;

  private constructor(
    private readonly dir: string,
    private readonly recipe: Recipe,
    private readonly info: RunInfoFile,
    private readonly io: { log(r: Record<string, unknown>): void; say(line: string): void },
  ) {}

  static async start(
    dir: string,
    recipe: Recipe,
    backend: BackendChoice,
    step: number,
    io: { log(r: Record<string, unknown>): void; say(line: string): void },
  ): Promise<RunReporter> {
    return new RunReporter(dir, recipe, await RunInfoFile.begin(dir, recipe, backend, step), io);
  }

  /** Logs `{"type": "drift", …}` when the run has a memory that knows its items (see drift.ts). */
  async epochEnd(c: { memory?: Memory; data: DatasetSplits; backbone: Backbone }, step: number): Promise<void> {
    if (!c.memory?.stored) return;
    const d = await memoryDrift(c.memory, c.data.train, c.backbone, step);
    if (d) this.io.log({ type: "drift", ...d });
  }

  /** Rewrites report.html with what metrics.jsonl holds now. */
  async evaluated(): Promise<void> {
    await this.safely(async () => {
      // Loaded on first use: the chart renderer is large, and `deno task plugins` never needs it.
      const { writeRunReport } = await import("./write.ts");
      await writeRunReport(this.dir);
    });
  }

  /** Saves the examples and the embedding map, closes run.json's session and writes the final report. */
  async finish(data: DatasetSplits, step: number): Promise<void> {
    await this.info.end(step);
    await this.safely(async () => {
      if (this.seen) {
        const { saveReportData } = await import("./collect.ts");
        const metric = this.recipe.eval.metric === "euclidean" ? "euclidean" : "cosine";
        await saveReportData(this.dir, data, this.seen, metric, this.recipe.eval.center === true);
      }
      const { writeRunReport } = await import("./write.ts");
      const { path } = await writeRunReport(this.dir);
      this.io.say(`report: ${path}`);
    });
  }

  /**
   * Says in the folder that the run failed at `step`, and why: a `{"type": "failed"}` line in metrics.jsonl
   * and the session's `failed` in run.json (the report shows both). The checkpoints before it stay usable.
   */
  async failed(step: number, error: unknown): Promise<void> {
    const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
    try {
      this.io.log({ type: "failed", error: message });
      await this.info.end(step, message);
    } catch {
      // The folder itself may be what failed (a full disk): the error on stderr is then all there is.
    }
  }

  private async safely(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      this.io.say(`report: not written (${(e as Error).message.split("\n")[0]})`);
      if (Deno.env.get("DML_DEBUG")) throw e;
    }
  }
}
