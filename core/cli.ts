/**
 * The command line: `train`, `embed`, `eval`, `report`, `plugins`. Bad input of any kind ends as one line on
 * stderr and exit code 2; nothing else prints a stack trace unless DML_DEBUG is set.
 *
 * ```ts
 * await main(["train", "recipes/quickstart.yaml", "--set", "train.epochs=1"], registry);
 * ```
 */
import { DmlError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import { dirname, loadRecipe, resolveRecipe } from "./recipe.ts";
import { train } from "./trainer.ts";
import type { OptionSpec } from "./options.ts";
import {
  DEMO_USAGE,
  EMBED_USAGE,
  EVAL_RUN_USAGE,
  EVAL_USAGE,
  EXPORT_USAGE,
  INDEX_USAGE,
  oneLine,
  parseCommandArgs,
  PLUGINS_USAGE,
  REPORT_USAGE,
  SEARCH_USAGE,
  TRAIN_USAGE,
} from "./commands/usage.ts";

const USAGE = [
  "usage:",
  TRAIN_USAGE,
  EMBED_USAGE,
  EVAL_RUN_USAGE,
  EVAL_USAGE,
  EXPORT_USAGE,
  INDEX_USAGE,
  SEARCH_USAGE,
  DEMO_USAGE,
  REPORT_USAGE,
  PLUGINS_USAGE,
]
  .join("\n  ");
const COMMANDS = "commands: train, embed, eval, export, index, search, demo, report, plugins";

/** Runs one command; returns the process exit code. */
export async function main(args: string[], registry: Registry): Promise<number> {
  try {
    const [command, ...rest] = args;
    switch (command) {
      case "train":
        return await trainCommand(rest, registry);
      case "embed": {
        const { embedCommand } = await import("./commands/embed.ts");
        for (const file of await embedCommand(rest, registry)) console.log(file);
        return 0;
      }
      case "eval": {
        const { evalCommand } = await import("./commands/eval.ts");
        await evalCommand(rest, registry);
        return 0;
      }
      case "export": {
        const { exportCommand } = await import("./commands/export.ts");
        console.log(await exportCommand(rest, registry));
        return 0;
      }
      case "index": {
        const { indexCommand } = await import("./commands/index.ts");
        console.log(JSON.stringify(await indexCommand(rest)));
        return 0;
      }
      case "search": {
        const { searchCommand } = await import("./commands/search.ts");
        for (const result of await searchCommand(rest)) console.log(JSON.stringify(result));
        return 0;
      }
      case "demo": {
        const { demoCommand } = await import("./commands/demo.ts");
        await demoCommand(rest, registry);
        return 0;
      }
      case "report": {
        const { reportCommand } = await import("./commands/report.ts");
        await reportCommand(rest);
        return 0;
      }
      case "plugins":
        console.log(describePlugins(registry, rest[0]));
        return 0;
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return 0;
      default:
        throw new DmlError(
          command === undefined
            ? `no command given (${COMMANDS}; --help shows their usage)`
            : `unknown command '${command}' (${COMMANDS}; --help shows their usage)`,
        );
    }
  } catch (e) {
    if (e instanceof DmlError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      console.error(`error: not permitted: ${(e as Error).message.split("\n")[0]}`);
      return 2;
    }
    if (Deno.env.get("DML_DEBUG")) throw e;
    console.error(`error: ${(e as Error)?.message ?? e} (set DML_DEBUG=1 for the stack trace)`);
    return 1;
  }
}

async function trainCommand(args: string[], registry: Registry): Promise<number> {
  const parsed = parseCommandArgs("train", TRAIN_USAGE, {
    args,
    allowPositionals: true,
    options: {
      set: { type: "string", multiple: true },
      resume: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) return console.log(`usage: ${TRAIN_USAGE}`), 0;
  if (positionals.length > 1) {
    throw new DmlError(`train takes one recipe, got ${positionals.length}: ${positionals.join(" ")}`);
  }
  const resume = values.resume?.replace(/\/+$/, "");
  if (resume && !(await Deno.stat(`${resume}/recipe.yaml`).then(() => true, () => false))) {
    throw new DmlError(`--resume ${resume}: not a run folder (no recipe.yaml)`);
  }
  const recipePath = positionals[0] ?? (resume ? `${resume}/recipe.yaml` : undefined);
  if (!recipePath) throw new DmlError(`train needs a recipe (usage: ${oneLine(TRAIN_USAGE)})`);
  const raw = await loadRecipe(recipePath, values.set ?? []);
  const recipe = await resolveRecipe(raw, registry, absoluteDir(recipePath));
  const result = await train(recipe, registry, { resumeDir: resume, quiet: values.quiet });
  console.log(
    JSON.stringify({
      runDir: result.runDir,
      backend: result.backend.backend,
      steps: result.steps,
      metrics: result.metrics,
    }),
  );
  return 0;
}

function absoluteDir(path: string): string {
  const d = dirname(path);
  return d.startsWith("/") ? d : `${Deno.cwd()}/${d}`;
}

/** The registered components with their options and defaults, for `deno task plugins`. */
export function describePlugins(registry: Registry, kind?: string): string {
  const lines: string[] = [];
  let last = "";
  for (const def of registry.list()) {
    if (kind && def.kind !== kind) continue;
    if (def.kind !== last) lines.push(`\n${plural(def.kind)}`), last = def.kind;
    lines.push(`  ${def.name} — ${def.doc}`);
    for (const [k, spec] of Object.entries(def.options)) lines.push(`      ${k}: ${describeOption(spec)}`);
  }
  if (lines.length === 0) throw new DmlError(`plugins: no components of kind '${kind}'`);
  return lines.join("\n").trimStart();
}

function describeOption(s: OptionSpec): string {
  const d = s.default === undefined ? "required" : `default ${JSON.stringify(s.default)}`;
  const extra = s.type === "string" && s.choices ? ` (${s.choices.join(" | ")})` : "";
  return `${s.type}${extra}, ${d}${s.doc ? ` — ${s.doc}` : ""}`;
}

/** "memory" -> "memories", "loss" -> "losses", "backbone" -> "backbones". */
function plural(kind: string): string {
  if (kind.endsWith("y")) return `${kind.slice(0, -1)}ies`;
  if (kind.endsWith("s")) return `${kind}es`;
  return `${kind}s`;
}
