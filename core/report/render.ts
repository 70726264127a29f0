/**
 * Vega-Lite charts rendered to SVG text in Deno (no DOM, no canvas), so a report page draws them
 * without any script or network access.
 *
 * ```ts
 * const svg = await renderSvg({ data: { values: rows }, mark: "line", encoding: { ... } }, "loss");
 * const html = await charts("train", [["loss", spec], ["lr", spec2]]);   // <div class="charts"><figure …>
 * ```
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { figure } from "./page.ts";

/**
 * The chart as an `<svg>` element. Its ids (clip paths) become `<prefix>-1`, `<prefix>-2`, …, so
 * that charts inlined in one page do not refer to each other's, and the same chart gives the same
 * text (Vega numbers them with a counter global to the process).
 */
export async function renderSvg(spec: TopLevelSpec, prefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  [...svg.matchAll(/\sid="([^"]+)"/g)].forEach(([, id], k) => {
    const to = `${prefix}-${k + 1}`;
    svg = svg.replaceAll(`id="${id}"`, `id="${to}"`).replaceAll(`url(#${id})`, `url(#${to})`)
      .replaceAll(`href="#${id}"`, `href="#${to}"`);
  });
  return svg;
}

/** Renders named specs (those with data) into a row of figures. */
export async function charts(prefix: string, specs: Array<[string, TopLevelSpec]>): Promise<string> {
  const out: string[] = [];
  for (const [name, spec] of specs) {
    const values = (spec as { data?: { values?: unknown[] } }).data?.values;
    if (values && values.length === 0) continue;
    out.push(figure(name, await renderSvg(spec, `${prefix}-${name}`)));
  }
  return out.length ? `<div class="charts">${out.join("\n")}</div>` : `<p class="note">Nothing logged yet.</p>`;
}
