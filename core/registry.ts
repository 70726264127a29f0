/**
 * The plugin registry: one path from a recipe section `{ use: name, ...options }` to a component.
 *
 * ```ts
 * registry.register(myPlugin);
 * const loss = await registry.create<Loss>("loss", "contrastive", { margin: 0.5 }, ctx);
 * registry.list("loss"); // [{ kind, name, doc, options }, ...]
 * ```
 */
import { DmlError } from "./errors.ts";
import { closest, resolveOptions } from "./options.ts";
import { Rng } from "./rng.ts";
import type { ComponentDef, CreateContext, Kind, Options, Plugin } from "./types.ts";
import { KINDS } from "./types.ts";

export class Registry {
  private defs = new Map<string, ComponentDef>();
  private owners = new Map<string, string>();
  readonly plugins: string[] = [];

  /** Adds every component of `plugin`; a name already taken for that kind is an error. */
  register(plugin: Plugin): void {
    for (const def of plugin.components) {
      if (!KINDS.includes(def.kind)) throw new DmlError(`plugin ${plugin.name}: unknown kind '${def.kind}'`);
      const key = `${def.kind}/${def.name}`;
      const owner = this.owners.get(key);
      if (owner !== undefined && owner !== plugin.name) {
        throw new DmlError(`plugin ${plugin.name}: ${def.kind} '${def.name}' is already registered by ${owner}`);
      }
      this.defs.set(key, def);
      this.owners.set(key, plugin.name);
    }
    if (!this.plugins.includes(plugin.name)) this.plugins.push(plugin.name);
  }

  /** The component `name` of `kind`; an unknown name lists the known ones. */
  get(kind: Kind, name: string, path: string = kind): ComponentDef {
    const def = this.defs.get(`${kind}/${name}`);
    if (def) return def;
    const known = this.list(kind).map((d) => d.name);
    const near = closest(name, known);
    throw new DmlError(
      `${path}.use: unknown ${kind} '${name}'${near ? ` (did you mean '${near}'?)` : ""}; known: ${known.join(", ")}`,
    );
  }

  /** Validates a recipe section and returns it with defaults filled, `use` first. */
  resolve(kind: Kind, section: Record<string, unknown>, path: string = kind): Options {
    const { use, ...options } = section;
    if (typeof use !== "string") {
      throw new DmlError(`${path}.use: expected the name of a ${kind}, got ${JSON.stringify(use)}`);
    }
    const def = this.get(kind, use, path);
    return { use, ...resolveOptions(def.options, options, path) };
  }

  /** Creates a component from validated options (defaults filled here too). */
  async create<T>(kind: Kind, name: string, options: Options = {}, ctx: Partial<CreateContext> = {}): Promise<T> {
    const path = ctx.path ?? kind;
    const def = this.get(kind, name, path);
    const { use: _use, ...rest } = options;
    const resolved = resolveOptions(def.options, rest, path);
    const full: CreateContext = {
      path,
      rng: ctx.rng ?? new Rng(0),
      registry: this,
      shared: ctx.shared ?? new Map(),
      ...ctx,
    };
    return await def.create(resolved, full) as T;
  }

  /** Registered components, of one kind or all, sorted by kind then name. */
  list(kind?: Kind): ComponentDef[] {
    return [...this.defs.values()]
      .filter((d) => kind === undefined || d.kind === kind)
      .sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.name.localeCompare(b.name));
  }

  /** Imports a plugin module from a local path and registers its default or `plugin` export. */
  async load(path: string, baseDir: string): Promise<Plugin> {
    const abs = path.startsWith("/") ? path : `${baseDir}/${path}`;
    let mod: Record<string, unknown>;
    try {
      mod = await import(new URL(`file://${abs}`).href);
    } catch (e) {
      throw new DmlError(`plugins: cannot load '${path}': ${(e as Error).message.split("\n")[0]}`);
    }
    const plugin = (mod.default ?? mod.plugin) as Plugin | undefined;
    if (!plugin || typeof plugin.name !== "string" || !Array.isArray(plugin.components)) {
      throw new DmlError(
        `plugins: '${path}' exports no plugin (a default or 'plugin' export with name and components)`,
      );
    }
    this.register(plugin);
    return plugin;
  }
}
