/**
 * The emoji benchmark's statistics, from the installed index (emoji.json lists which vendors draw
 * each emoji, so the vendors not installed are counted too): classes, drawings per class and per
 * vendor, the split and the queries of each protocol, for the default and the other settings.
 * It prints Markdown for docs/datasets.md.
 *
 * ```sh
 * deno task emoji:install
 * deno run --allow-read --allow-env experiments/emoji_stats.ts
 * ```
 */
import { readEmojiIndex } from "../plugins/emoji/emoji_index.ts";
import { planEmoji, type PlanOptions } from "../plugins/emoji/plan.ts";
import { defaultPackagesDir } from "../plugins/emoji/vendor_images.ts";
import { markdownTable } from "./grid.ts";

const entries = await readEmojiIndex(`${defaultPackagesDir()}/emoji-datasource-google/emoji.json`);

function row(label: string, vendors: string[], skinTones: "exclude" | "classes"): string[] {
  const drawn = vendors.map((v) => new Set(entries.filter((e) => e.hasImage[v]).map((e) => e.unified)));
  const o = { vendors, skinTones, evaluate: "test", queryVendor: "twitter", splitSeed: 0 } as const;
  const one = planEmoji(entries, drawn, { ...o, protocol: "one-set" } as PlanOptions);
  const qg = planEmoji(entries, drawn, { ...o, protocol: "query-gallery" } as PlanOptions);
  const images = one.train.items.length + one.test!.items.length;
  const perVendor = vendors.map((_, v) =>
    [...one.train.items, ...one.test!.items].filter((it) => it.vendor === v).length
  );
  return [
    label,
    String(one.classes.length),
    String(images),
    (images / one.classes.length).toFixed(2),
    vendors.map((v, i) => `${v} ${perVendor[i]}`).join(", "),
    `${one.train.classes.length} / ${one.train.items.length}`,
    `${one.test!.classes.length} / ${one.test!.items.length}`,
    `${qg.query!.items.length} / ${qg.gallery!.items.length}`,
    String(one.dropped),
  ];
}

const TWO = ["google", "twitter"], FOUR = ["google", "twitter", "facebook", "apple"];
console.log(
  markdownTable(
    [
      "setting",
      "classes",
      "images",
      "per class",
      "images per vendor",
      "train classes / images",
      "test classes / images (= one-set queries)",
      "query-gallery queries / gallery (Twemoji queries)",
      "left out (< 2 vendors)",
    ],
    [
      row("default: Noto + Twemoji, base emoji", TWO, "exclude"),
      row("Noto + Twemoji, skin tones as classes", TWO, "classes"),
      row("all four vendors, base emoji", FOUR, "exclude"),
      row("all four vendors, skin tones as classes", FOUR, "classes"),
    ],
  ).join("\n"),
);
const drawn = TWO.map((v) => new Set(entries.filter((e) => e.hasImage[v]).map((e) => e.unified)));
const plan = planEmoji(entries, drawn, {
  vendors: TWO,
  skinTones: "exclude",
  protocol: "one-set",
  evaluate: "test",
  queryVendor: "twitter",
  splitSeed: 0,
});
const categories = [...new Set(plan.classes.map((c) => c.category))].sort();
const count = (cls: number[], cat: string) => cls.filter((c) => plan.classes[c].category === cat).length;
console.log();
console.log(
  markdownTable(
    ["category", ...categories],
    [
      ["train", ...categories.map((c) => String(count(plan.train.classes, c)))],
      ["test", ...categories.map((c) => String(count(plan.test!.classes, c)))],
    ],
  ).join("\n"),
);
