/**
 * The Vega-Lite specs of a report's charts: lines over steps or epochs, class-coloured scatter
 * plots and stacked bars, all in one size and style.
 *
 * ```ts
 * const spec = lines({ title: "Loss", rows: lossRows(records), x: "step", y: "value", series: "part" });
 * ```
 */
import type { TopLevelSpec } from "vega-lite";
import type { Row } from "./series.ts";

const WIDTH = 430, HEIGHT = 200;
const CONFIG = {
  background: "white",
  font: "sans-serif",
  view: { stroke: "#ddd" },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: "#eee" },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  title: { fontSize: 14, anchor: "start" as const },
};

/** The top of a one-chart spec: schema, title, the common size, the rows. */
function singleView(o: { title: string; rows: Row[] }) {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: o.rows },
  };
}

export interface LineOptions {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  /** The column naming each line; one line when absent. */
  series?: string;
  seriesTitle?: string;
  xTitle?: string;
  yTitle?: string;
  /** Mark each value (few points, e.g. per epoch). */
  points?: boolean;
  /** Where the series legend goes (default right; bottom for long names). */
  legend?: "right" | "bottom";
  /** A d3 format for the y axis ("~g" for learning rates, "d" for counts); Vega's choice when absent. */
  yFormat?: string;
}

export function lines(o: LineOptions): TopLevelSpec {
  return {
    ...singleView(o),
    mark: { type: "line", point: o.points ?? false },
    encoding: {
      // Steps and epochs are whole numbers.
      x: { field: o.x, type: "quantitative", title: o.xTitle ?? o.x, axis: { format: "d", tickMinStep: 1 } },
      y: {
        field: o.y,
        type: "quantitative",
        title: o.yTitle ?? o.y,
        scale: { zero: false },
        axis: o.yFormat ? { format: o.yFormat } : {},
      },
      ...(o.series
        ? {
          color: {
            field: o.series,
            type: "nominal",
            title: o.seriesTitle ?? o.series,
            legend: { orient: o.legend ?? "right", direction: "vertical" },
          },
        }
        : {}),
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** One small line chart per value of `o.series`, each with its own y scale (parts of very different size). */
export function panels(o: LineOptions & { series: string }): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.title,
    data: { values: o.rows },
    facet: { field: o.series, type: "nominal", title: null, sort: null },
    columns: 3,
    spec: {
      width: 260,
      height: 130,
      mark: "line",
      encoding: {
        x: { field: o.x, type: "quantitative", title: o.xTitle ?? o.x, axis: { format: "d", tickMinStep: 1 } },
        y: { field: o.y, type: "quantitative", title: o.yTitle ?? o.y, scale: { zero: false } },
      },
    },
    resolve: { scale: { y: "independent" } },
    config: CONFIG,
  } as TopLevelSpec;
}

export interface ScatterOptions {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  color: string;
  colorTitle: string;
  xTitle: string;
  yTitle: string;
  /** Classes in legend order; past 20 the legend is left out (colours repeat anyway). */
  classes: string[];
}

export function scatter(o: ScatterOptions): TopLevelSpec {
  const legend = o.classes.length <= 20 ? { title: o.colorTitle } : null;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.title,
    width: 400,
    height: 400,
    data: { values: o.rows },
    mark: { type: "circle", size: 14, opacity: 0.75 },
    encoding: {
      x: { field: o.x, type: "quantitative", title: o.xTitle, scale: { zero: false } },
      y: { field: o.y, type: "quantitative", title: o.yTitle, scale: { zero: false } },
      color: {
        field: o.color,
        type: "nominal",
        sort: o.classes,
        scale: { scheme: o.classes.length <= 10 ? "tableau10" : "tableau20" },
        legend,
      },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

export interface BarOptions {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  stack: string;
  xTitle: string;
  yTitle: string;
  stackTitle: string;
}

/** Bars at each `x` (ordinal), stacked by `stack`. */
export function stackedBars(o: BarOptions): TopLevelSpec {
  return {
    ...singleView(o),
    mark: "bar",
    encoding: {
      x: { field: o.x, type: "ordinal", title: o.xTitle },
      y: { field: o.y, type: "quantitative", title: o.yTitle, stack: "zero" },
      color: { field: o.stack, type: "nominal", title: o.stackTitle },
    },
    config: CONFIG,
  } as TopLevelSpec;
}
