/**
 * The import walls, checked by `deno task check`: the core (contract and shared machinery, `core/`) imports
 * no plugin and nothing of the application; a plugin imports the core and its own folder, never another
 * plugin (what two plugins share belongs in the core, as `core/images/` does for the image datasets);
 * `plugins/builtin.ts`, the list of built-in plugins, imports each plugin's `mod.ts`. Tests, benchmarks,
 * experiments and examples may import anything.
 *
 * ```sh
 * deno run --allow-read tools/check_layers.ts   # one line per import that crosses a wall; exit 1 if any
 * ```
 */

/** The application: what the core must not import. */
const APPLICATION = ["cli.ts", "mod.ts", "tests/", "bench/", "experiments/", "examples/", "tools/"];

/** Relative specifiers of `text`: static and dynamic imports, re-exports, and `new URL(…, import.meta.url)`. */
export function relativeImports(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /(?:^|\n)\s*import\s*["'](\.{1,2}\/[^"']+)["']/g,
    /import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  // Comments hold usage examples written from elsewhere; only code counts.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  for (const p of patterns) for (const m of code.matchAll(p)) found.push(m[1]);
  return found;
}

/** `spec` imported from `file` (both relative to the repository root), as a root-relative path. */
function resolve(file: string, spec: string): string {
  const parts = file.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

function pluginOf(path: string): string | null {
  const m = /^plugins\/([^/]+)\//.exec(path);
  return m ? m[1] : null;
}

/** The wall `file` → `target` crosses, or null when the import is allowed. */
export function crossing(file: string, target: string): string | null {
  if (file.startsWith("core/")) {
    if (target.startsWith("plugins/")) return "the core imports a plugin";
    if (APPLICATION.some((a) => a.endsWith("/") ? target.startsWith(a) : target === a)) {
      return "the core imports the application";
    }
    return null;
  }
  if (file === "plugins/builtin.ts") {
    return target.startsWith("core/") || /^plugins\/[^/]+\/mod\.ts$/.test(target)
      ? null
      : "builtin.ts imports a plugin's inside (only its mod.ts)";
  }
  const own = pluginOf(file);
  if (own !== null) {
    if (target.startsWith("core/") || pluginOf(target) === own) return null;
    return pluginOf(target) !== null ? "a plugin imports another plugin" : "a plugin imports the application";
  }
  return null;
}

/** Every crossing in `sources` (root-relative path → text), one line each. */
export function layerViolations(sources: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [file, text] of sources) {
    for (const spec of relativeImports(text)) {
      const target = resolve(file, spec);
      const why = crossing(file, target);
      if (why) lines.push(`${file}: imports ${target} (${why})`);
    }
  }
  return lines.sort();
}

async function sourcesUnder(dirs: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile && /\.(ts|js)$/.test(e.name)) out.set(path, await Deno.readTextFile(path));
    }
  };
  for (const d of dirs) await walk(d);
  return out;
}

if (import.meta.main) {
  const lines = layerViolations(await sourcesUnder(["core", "plugins"]));
  for (const l of lines) console.error(l);
  if (lines.length > 0) {
    console.error(
      `${lines.length} import(s) cross a layer the wrong way (tools/check_layers.ts says which way is allowed)`,
    );
    Deno.exit(1);
  }
}
