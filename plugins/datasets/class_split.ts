/**
 * Which items of a labelled set go to the train and test splits.
 *
 * Each split draws from a set of classes: its own list (`trainClasses` / `testClasses`), the
 * other split's list, or all classes. With the default (train on `trainClasses`, test on
 * `testClasses`, the lists disjoint) the test classes are never seen in training: the zero-shot
 * protocol of metric learning. A class in both splits has its items divided: the test split takes
 * `testPerClass` of them (at most half), the train split the rest, so no image is in both.
 * Then the test split keeps at most `testPerClass` items per class, and each split at most `limit`
 * items, stratified by class. Every choice is a seeded shuffle, so the same options give the same
 * items.
 *
 * ```ts
 * const plan = planSplits(labels, 10, { train: "train-classes", test: "test-classes",
 *   trainClasses: [1, 3, 5, 7, 8, 9], testClasses: [0, 2, 4, 6], testPerClass: 1000, limit: 0 }, new Rng(0), names);
 * plan.train.items; // Int32Array of item indices into `labels`, ascending
 * ```
 */
import { Rng } from "../../core/rng.ts";
import { DmlError } from "../../core/errors.ts";

/** Which classes a split draws from. */
export type ClassSet = "train-classes" | "test-classes" | "all-classes";

export interface SplitOptions {
  train: ClassSet;
  test: ClassSet;
  trainClasses: number[];
  testClasses: number[];
  /** Cap on test items per class; 0 = no cap. */
  testPerClass: number;
  /** Cap on items per split, stratified; 0 = no cap. */
  limit: number;
}

/** The chosen items of one split and its classes (original ids, ascending). */
export interface SplitPlan {
  items: Int32Array;
  classIds: number[];
}

/** Validates the class lists; errors name the recipe path (`data.trainClasses`). */
export function checkClassLists(o: SplitOptions, numClasses: number, names: string[], path: string): void {
  const known = names.map((n, i) => `${i} ${n}`).join(", ");
  for (const key of ["trainClasses", "testClasses"] as const) {
    const list = o[key];
    for (const c of list) {
      if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
        throw new DmlError(`${path}.${key}: unknown class ${c}; the classes are ${known}`);
      }
    }
    const dup = list.find((c, i) => list.indexOf(c) !== i);
    if (dup !== undefined) throw new DmlError(`${path}.${key}: class ${dup} (${names[dup]}) is listed twice`);
  }
  for (const [split, key] of [["train", o.train], ["test", o.test]] as const) {
    const n = classesOf(key, o, numClasses).length;
    if (n < 2) {
      throw new DmlError(
        `${path}.${
          key === "test-classes" ? "testClasses" : "trainClasses"
        }: the ${split} split needs at least 2 classes, got ${n}`,
      );
    }
  }
  if (o.train === "train-classes" && o.test === "test-classes") {
    const shared = o.testClasses.filter((c) => o.trainClasses.includes(c));
    if (shared.length > 0) {
      throw new DmlError(
        `${path}.testClasses: ${shared.map((c) => `${c} (${names[c]})`).join(", ")} ${
          shared.length > 1 ? "are" : "is"
        } also in ${path}.trainClasses; a class-disjoint split needs disjoint lists ` +
          `(or set ${path}.test: train-classes to test on held-out images of the training classes)`,
      );
    }
  }
}

function classesOf(set: ClassSet, o: SplitOptions, numClasses: number): number[] {
  const list = set === "all-classes"
    ? Array.from({ length: numClasses }, (_, i) => i)
    : set === "train-classes"
    ? o.trainClasses
    : o.testClasses;
  return [...list].sort((a, b) => a - b);
}

/** Chooses the items of both splits; `rng` is used for every choice, in a fixed order. */
export function planSplits(
  labels: ArrayLike<number>,
  numClasses: number,
  o: SplitOptions,
  rng: Rng,
  names: string[],
  path = "data",
): { train: SplitPlan; test: SplitPlan } {
  checkClassLists(o, numClasses, names, path);
  const trainIds = classesOf(o.train, o, numClasses);
  const testIds = classesOf(o.test, o, numClasses);
  const members: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) members[labels[i]].push(i);

  const trainByClass = new Map<number, number[]>();
  const testByClass = new Map<number, number[]>();
  for (let c = 0; c < numClasses; c++) {
    const inTrain = trainIds.includes(c), inTest = testIds.includes(c);
    if (!inTrain && !inTest) continue;
    const items = members[c];
    if (inTrain && !inTest) {
      trainByClass.set(c, items);
      continue;
    }
    const shuffled = rng.shuffle(items.slice());
    const cap = o.testPerClass > 0 ? o.testPerClass : Infinity;
    const nTest = inTrain ? Math.min(cap, Math.floor(items.length / 2)) : Math.min(cap, items.length);
    testByClass.set(c, shuffled.slice(0, nTest));
    if (inTrain) trainByClass.set(c, shuffled.slice(nTest));
  }
  const train = stratifiedLimit(trainByClass, o.limit, rng, `${path}.limit`, "train");
  const test = stratifiedLimit(testByClass, o.limit, rng, `${path}.limit`, "test");
  return { train, test };
}

/**
 * At most `limit` items (0 = all), each class keeping its share (largest remainders get the
 * rounding) and at least 2 items where it has them, so retrieval still has positives.
 */
export function stratifiedLimit(
  byClass: Map<number, number[]>,
  limit: number,
  rng: Rng,
  path: string,
  split: string,
): SplitPlan {
  const classIds = [...byClass.keys()].sort((a, b) => a - b);
  const sizes = classIds.map((c) => byClass.get(c)!.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  let keep = sizes;
  if (limit > 0 && limit < total) {
    if (limit < 2 * classIds.length) {
      throw new DmlError(
        `${path}: ${limit} is too few for the ${split} split's ${classIds.length} classes (at least 2 items each: ${
          2 * classIds.length
        })`,
      );
    }
    keep = proportionalQuotas(sizes, limit);
  }
  const chosen: number[] = [];
  classIds.forEach((c, k) => {
    const items = byClass.get(c)!;
    const picked = keep[k] === items.length ? items : rng.shuffle(items.slice()).slice(0, keep[k]);
    for (const i of picked) chosen.push(i); // a spread overflows the stack for a class of ~120k items
  });
  return { items: Int32Array.from(chosen).sort(), classIds };
}

/** Integer quotas summing to `limit`, proportional to `sizes`, each >= min(2, size). */
function proportionalQuotas(sizes: number[], limit: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((s) => (s * limit) / total);
  const quotas = exact.map((e, k) => Math.min(sizes[k], Math.max(Math.min(2, sizes[k]), Math.floor(e))));
  let left = limit - quotas.reduce((a, b) => a + b, 0);
  // Hand out what is left by largest remainder; take back any excess from the largest quotas.
  const byRemainder = sizes.map((_, k) => k).sort((a, b) =>
    (exact[b] - Math.floor(exact[b])) - (exact[a] - Math.floor(exact[a])) || a - b
  );
  for (let i = 0; left > 0; i = (i + 1) % byRemainder.length) {
    const k = byRemainder[i];
    if (quotas[k] < sizes[k]) {
      quotas[k]++;
      left--;
    }
  }
  while (left < 0) {
    const k = quotas.indexOf(Math.max(...quotas));
    quotas[k]--;
    left++;
  }
  return quotas;
}
