/**
 * `deno task demo RUN_DIR [--port 8000] [--limit 2000] [--k 8] [--out DIR] [--build-only]`: builds the
 * run's demo site (core/demo/build_demo.ts: a static page, the exported model, a gallery of the
 * run's evaluation images) under RUN/demo and serves it with a plain file server on 127.0.0.1
 * (core/demo/serve.ts). Open the printed address and drop an image on the page.
 */
import { DmlError } from "../errors.ts";
import type { Registry } from "../registry.ts";
import { buildDemo } from "../demo/build_demo.ts";
import { serveFolder } from "../demo/serve.ts";
import { DEMO_USAGE, parseCommandArgs } from "./usage.ts";

function count(value: string | undefined, fallback: number, flag: string, min: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min) throw new DmlError(`demo: ${flag} must be an integer >= ${min}, got '${value}'`);
  return n;
}

/** Builds (and unless --build-only, serves until interrupted) the demo; prints the folder and address. */
export async function demoCommand(args: string[], registry: Registry): Promise<void> {
  const parsed = parseCommandArgs("demo", DEMO_USAGE, {
    args,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      limit: { type: "string" },
      k: { type: "string" },
      out: { type: "string" },
      "build-only": { type: "boolean" },
    },
  });
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) throw new DmlError(`demo takes one run folder (usage: ${DEMO_USAGE})`);
  const port = count(v.port, 8000, "--port", 0);
  const limit = count(v.limit, 2000, "--limit", 1), k = count(v.k, 8, "--k", 1);
  const dir = await buildDemo(registry, positionals[0].replace(/\/+$/, ""), { out: v.out, limit, k });
  console.log(dir);
  if (v["build-only"]) return;
  const server = serveFolder(dir, { port });
  console.log(`http://127.0.0.1:${server.addr.port}/  (Ctrl-C stops)`);
  await server.finished;
}
