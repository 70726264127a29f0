/**
 * The HTML around a report: one self-contained page (inline CSS, charts as inline SVG, images as
 * data URLs, nothing fetched) and a few helpers for its parts.
 *
 * The page carries a small script that, once everything has loaded, writes into
 * `<body data-check="…">` the errors it saw and how many charts and images drew; a headless
 * browser test reads it back from the rendered DOM.
 *
 * ```ts
 * const html = page("toy run", `<h2>Loss</h2>${figure("loss", svg)}`);
 * ```
 */

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1280px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; } figure.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f6f6f6; } td:first-child, th:first-child { text-align: left; }
td.best { font-weight: bold; background: #eef7ee; } .info td { text-align: left; }
.warn { background: #fff4d6; border: 1px solid #e8c55a; padding: 8px 12px; border-radius: 4px; }
.note { color: #666; }
pre { background: #f6f6f6; padding: 10px; overflow: auto; font-size: 12px; }
.examples { display: grid; gap: 10px; }
.example { display: flex; gap: 6px; align-items: flex-start; }
.tile { width: 84px; text-align: center; font-size: 11px; }
.tile img { width: 76px; height: 76px; object-fit: contain; image-rendering: pixelated; border: 4px solid #bbb; background: #000; }
.tile.query img { border-color: #3b6fd8; } .tile.right img { border-color: #2e9d46; } .tile.wrong img { border-color: #d8453b; }
.tile .mark { font-weight: bold; } .tile.right .mark { color: #2e9d46; } .tile.wrong .mark { color: #d8453b; }
.tile .noimg { width: 76px; height: 76px; display: flex; align-items: center; justify-content: center; border: 4px solid #bbb; }
.tile.right .noimg { border-color: #2e9d46; } .tile.wrong .noimg { border-color: #d8453b; } .tile.query .noimg { border-color: #3b6fd8; }
.gap { width: 12px; }
`;

const CHECK = `
(() => {
  const errors = [];
  addEventListener("error", (e) => errors.push(String(e.message || (e.target && (e.target.src || "").slice(0, 40)) || "error")), true);
  addEventListener("load", () => {
    const charts = [...document.querySelectorAll("figure.chart")];
    const drawn = charts.filter((f) => {
      const svg = f.querySelector("svg");
      if (!svg) return false;
      const box = svg.getBBox();
      return box.width > 0 && box.height > 0 && svg.querySelectorAll("path, rect, circle, line").length > 0;
    });
    const images = [...document.images];
    const loaded = images.filter((i) => i.complete && i.naturalWidth > 0);
    document.body.dataset.check = JSON.stringify({
      errors,
      charts: charts.length,
      chartsDrawn: drawn.length,
      images: images.length,
      imagesDrawn: loaded.length,
    });
  });
})();
`;

/** A whole page. `body` is HTML. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style><script>${CHECK}</script></head>
<body>
${body}
</body></html>
`;
}

/** Text made safe for HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A chart's SVG in a figure the page's check can find. */
export function figure(name: string, svg: string): string {
  return `<figure class="chart" data-chart="${esc(name)}">${svg}</figure>`;
}

/** A table cell: HTML (escape text with {@link esc}), optionally with a CSS class. */
export type Cell = string | { html: string; class: string };

export function table(head: string[], rows: Cell[][]): string {
  const td = (c: Cell, tag: string) =>
    typeof c === "string" ? `<${tag}>${c}</${tag}>` : `<${tag} class="${c.class}">${c.html}</${tag}>`;
  const tr = (cells: Cell[], tag: string) => `<tr>${cells.map((c) => td(c, tag)).join("")}</tr>`;
  return `<table><thead>${tr(head, "th")}</thead><tbody>${rows.map((r) => tr(r, "td")).join("")}</tbody></table>`;
}

/** A metric value for a table: integers as they are, else 4 decimals. */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

/** "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
