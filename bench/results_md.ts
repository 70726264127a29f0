/**
 * bench/RESULTS.md: the machine it was measured on, and one section per benchmark script, each
 * rewritten by its own script's `--write` (between `<!-- name -->` and `<!-- /name -->`), so
 * the scripts can be rerun one at a time.
 *
 * ```ts
 * await writeSection("train_throughput", "## Training throughput\n...");
 * ```
 */
import { blas } from "../core/blas.ts";
import { webgpuAdapter } from "../core/backend.ts";

export const RESULTS = new URL("./RESULTS.md", import.meta.url).pathname;

const HEADER = `# Benchmark results

Measured by the scripts in bench/, each section with its date and the command that regenerates it.
Numbers are from whatever machine ran the command last: see each section's machine line.
`;

/** "AMD EPYC, 2 cores, 24 GiB; Deno 2.9.6; OpenBLAS 0.3.21 (2 threads); WebGPU: llvmpipe (software)". */
export async function machine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? Deno.build.arch;
  const cores = navigator.hardwareConcurrency;
  const mem = Deno.systemMemoryInfo?.().total;
  const lib = blas();
  const adapter = await webgpuAdapter();
  return [
    `${model}, ${cores} cores${mem ? `, ${(mem / 2 ** 30).toFixed(0)} GiB` : ""}`,
    `Deno ${Deno.version.deno}`,
    lib ? `${lib.config ?? lib.name}${lib.threads ? ` (${lib.threads} threads)` : ""}` : "no BLAS",
    `WebGPU: ${adapter ?? "none"}`,
  ].join("; ");
}

/** Replaces (or appends) the section `name` of RESULTS.md. */
export async function writeSection(name: string, body: string): Promise<void> {
  const text = await Deno.readTextFile(RESULTS).catch(() => HEADER);
  const start = `<!-- ${name} -->`, end = `<!-- /${name} -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = text.indexOf(start), j = text.indexOf(end);
  const next = i >= 0 && j > i
    ? text.slice(0, i) + block + text.slice(j + end.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  await Deno.writeTextFile(RESULTS, next);
}

/** How this script was run, for the section: `deno run -A --unstable-webgpu bench/<script> <args>`. */
export function commandLine(script: string): string {
  const args = Deno.args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a));
  return ["deno run -A --unstable-webgpu", `bench/${script}`, ...args].join(" ");
}

/** A Markdown table. */
export function table(head: string[], rows: string[][]): string {
  return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}
