/**
 * Which emoji are classes and which drawings go to which split.
 *
 * A class is one code sequence (`unified`) drawn by at least two of the chosen vendors (a lone
 * drawing has nothing to be retrieved with). Skin-tone variants are their own classes or left out.
 *
 * The zero-shot split is class-disjoint and deterministic, as in Stanford Online Products: base
 * emoji are ordered by category and then by a shuffle seeded with `splitSeed`, and alternate between
 * train and test, so each half holds half of every category (flags, faces, food...) and the halves
 * differ by at most one emoji. A base emoji's skin-tone variants and every vendor's drawing of it
 * go with it, so nothing of a test emoji is seen in training. `evaluate: validation` splits the
 * training half again the same way (every fourth training emoji held out) and never touches the
 * test half: recipes are chosen on it.
 *
 * Protocols: `one-set` retrieves every held-out drawing among all the others (SOP); `query-gallery`
 * takes the drawings of `queryVendor` as queries and the other vendors' as the gallery (In-Shop):
 * design-to-design retrieval. A query whose emoji has no gallery drawing is left out.
 *
 * ```ts
 * const plan = planEmoji(entries, drawn, { vendors: ["google", "twitter"], skinTones: "exclude",
 *   protocol: "one-set", evaluate: "test", queryVendor: "twitter", splitSeed: 0 });
 * plan.train.items; // [{ cls, vendor }], cls indexes plan.classes
 * ```
 */
import { Rng } from "../../core/rng.ts";
import type { EmojiEntry } from "./emoji_index.ts";

export interface PlanOptions {
  vendors: string[];
  skinTones: "exclude" | "classes";
  protocol: "one-set" | "query-gallery";
  evaluate: "test" | "validation";
  queryVendor: string;
  splitSeed: number;
}

/** One drawing: class `cls` (an index into the plan's classes) by `vendor` (an index into the vendors). */
export interface PlannedItem {
  cls: number;
  vendor: number;
}

/** The items of one split and its classes (indices into the plan's classes, ascending). */
export interface PlannedSplit {
  items: PlannedItem[];
  classes: number[];
}

export interface EmojiPlan {
  /** Every class kept, in index order. */
  classes: EmojiEntry[];
  train: PlannedSplit;
  test?: PlannedSplit;
  query?: PlannedSplit;
  gallery?: PlannedSplit;
  /** Emoji left out because fewer than two of the vendors draw them. */
  dropped: number;
  /** Held-out queries left out because no other vendor draws their emoji (query-gallery). */
  queriesWithoutGallery: number;
}

/**
 * Alternates the groups between two sides after ordering them by category and a seeded shuffle;
 * `every` = 2 halves them, 4 puts every fourth on the second side.
 */
export function alternate(
  groups: { key: string; category: string }[],
  rng: Rng,
  every: number,
): { first: Set<string>; second: Set<string> } {
  const order = rng.shuffle(groups.map((_, i) => i));
  const rank = new Int32Array(groups.length);
  order.forEach((g, r) => rank[g] = r);
  const sorted = groups.map((_, i) => i).sort((a, b) =>
    groups[a].category < groups[b].category ? -1 : groups[a].category > groups[b].category ? 1 : rank[a] - rank[b]
  );
  const first = new Set<string>(), second = new Set<string>();
  sorted.forEach((g, k) => (k % every === every - 1 ? second : first).add(groups[g].key));
  return { first, second };
}

/**
 * The plan for `entries` (the merged index), where `drawn[v]` holds the code sequences vendor
 * `o.vendors[v]` has an image of.
 */
export function planEmoji(entries: EmojiEntry[], drawn: Set<string>[], o: PlanOptions): EmojiPlan {
  const candidates = entries.filter((e) => o.skinTones === "classes" || e.tone === "");
  const classes: EmojiEntry[] = [];
  let dropped = 0;
  for (const e of candidates) {
    if (drawn.filter((d) => d.has(e.unified)).length >= 2) classes.push(e);
    else dropped++;
  }
  // The groups are base emoji that have a kept class; the first class seen gives the category.
  const groups: { key: string; category: string }[] = [];
  const seenBase = new Set<string>();
  for (const c of classes) {
    if (!seenBase.has(c.base)) groups.push({ key: c.base, category: c.category });
    seenBase.add(c.base);
  }
  const rng = new Rng(o.splitSeed);
  const halves = alternate(groups, rng.fork(), 2);
  let trainBases = halves.first, evalBases = halves.second;
  if (o.evaluate === "validation") {
    const inner = alternate(groups.filter((g) => halves.first.has(g.key)), rng.fork(), 4);
    trainBases = inner.first;
    evalBases = inner.second;
  }
  const classesOf = (bases: Set<string>) => classes.map((c, i) => bases.has(c.base) ? i : -1).filter((i) => i >= 0);
  const itemsOf = (cls: number[], keep: (v: number) => boolean) => {
    const items: PlannedItem[] = [];
    for (const c of cls) {
      drawn.forEach((d, v) => {
        if (keep(v) && d.has(classes[c].unified)) items.push({ cls: c, vendor: v });
      });
    }
    return items;
  };
  const trainClasses = classesOf(trainBases);
  const plan: EmojiPlan = {
    classes,
    train: { items: itemsOf(trainClasses, () => true), classes: trainClasses },
    dropped,
    queriesWithoutGallery: 0,
  };
  const evalClasses = classesOf(evalBases);
  if (o.protocol === "one-set") {
    plan.test = { items: itemsOf(evalClasses, () => true), classes: evalClasses };
    return plan;
  }
  const q = o.vendors.indexOf(o.queryVendor);
  const gallery = itemsOf(evalClasses, (v) => v !== q);
  const inGallery = new Set(gallery.map((it) => it.cls));
  const queries = itemsOf(evalClasses, (v) => v === q);
  const answered = queries.filter((it) => inGallery.has(it.cls));
  plan.queriesWithoutGallery = queries.length - answered.length;
  // One numbering for both, so a query's label matches its gallery drawings'.
  plan.query = { items: answered, classes: evalClasses };
  plan.gallery = { items: gallery, classes: evalClasses };
  return plan;
}
