/**
 * Batches from one cluster, and the order in which clusters take turns.
 *
 * Official `ClassBalancedSampler` + `merge()`: a batch holds `classes` random classes of the
 * cluster × `perClass` images each; a cluster gives `|cluster| // B` batches an epoch; clusters
 * take turns round-robin for max_k (`over`, the official default: small clusters are
 * oversampled) or min_k (`under`) rounds.
 *
 * ```ts
 * const groups = clusterGroups(clusters, labels, 4);   // per cluster: the indices of each class
 * mergeOrder([5, 2, 3], "over");                       // [0, 1, 2, 0, 1, 2, ...] (15 steps)
 * const draw = new ClusterBatches(groups[0], 20, 4, rng);
 * draw.next();                                         // Int32Array of 80 indices, all in cluster 0
 * ```
 */
import type { Rng } from "../../core/rng.ts";

/** For each cluster, the indices of each class in it (classes in ascending label order). */
export function clusterGroups(clusters: Int32Array, labels: Int32Array, k: number): Int32Array[][] {
  const byKey = Array.from({ length: k }, () => new Map<number, number[]>());
  for (let n = 0; n < clusters.length; n++) {
    const c = clusters[n];
    if (c < 0) continue; // left out (singleton)
    const m = byKey[c];
    const list = m.get(labels[n]);
    if (list) list.push(n);
    else m.set(labels[n], [n]);
  }
  return byKey.map((m) => [...m.keys()].sort((a, b) => a - b).map((y) => Int32Array.from(m.get(y)!)));
}

/** Number of batches cluster `group` gives an epoch: |cluster| // batchSize, at least 1. */
export function batchesOf(group: Int32Array[], batchSize: number): number {
  let size = 0;
  for (const cls of group) size += cls.length;
  return size === 0 ? 0 : Math.max(1, Math.floor(size / batchSize));
}

/**
 * The cluster of every step of an epoch: clusters with batches take turns round-robin for
 * max (`over`) or min (`under`) of their batch counts; empty clusters are skipped.
 */
export function mergeOrder(lengths: number[], mode: "over" | "under"): number[] {
  const live = lengths.map((len, k) => [len, k]).filter(([len]) => len > 0).map(([, k]) => k);
  if (live.length === 0) return [];
  const counts = live.map((k) => lengths[k]);
  const rounds = mode === "over" ? Math.max(...counts) : Math.min(...counts);
  const order: number[] = [];
  for (let r = 0; r < rounds; r++) order.push(...live);
  return order;
}

/** `order` repeated or cut to `steps` entries; unchanged when `steps` is 0. */
export function cycleTo(order: number[], steps: number): number[] {
  if (steps === 0 || order.length === 0) return order;
  return Array.from({ length: steps }, (_, i) => order[i % order.length]);
}

/** Draws class-balanced batches from one cluster. */
export class ClusterBatches {
  private queues: { items: Int32Array; next: number }[];

  /**
   * @param group the indices of each class in the cluster
   * @param classes classes per batch (drawn with replacement only if the cluster has fewer)
   * @param perClass images per class (drawn with replacement only if the class has fewer)
   */
  constructor(private group: Int32Array[], private classes: number, private perClass: number, private rng: Rng) {
    if (group.length === 0) throw new Error("ClusterBatches: empty cluster");
    this.queues = group.map((items) => ({ items: rng.shuffle(items.slice()), next: 0 }));
  }

  /** The next batch: `classes × perClass` dataset indices, grouped by class. */
  next(): Int32Array {
    const { group, classes, perClass, rng } = this;
    const out = new Int32Array(classes * perClass);
    const picked = this.pickClasses();
    for (let c = 0; c < classes; c++) {
      const q = this.queues[picked[c]];
      const items = group[picked[c]];
      for (let i = 0; i < perClass; i++) {
        if (items.length < perClass) {
          out[c * perClass + i] = items[rng.int(items.length)];
          continue;
        }
        // Sequential through a shuffled list; reshuffle when the rest is too short for a class's turn.
        if (i === 0 && q.next + perClass > q.items.length) {
          rng.shuffle(q.items);
          q.next = 0;
        }
        out[c * perClass + i] = q.items[q.next++];
      }
    }
    return out;
  }

  private pickClasses(): number[] {
    const n = this.group.length, want = this.classes;
    if (n < want) return Array.from({ length: want }, () => this.rng.int(n));
    // A partial Fisher–Yates: `want` distinct classes.
    const all = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < want; i++) {
      const j = i + this.rng.int(n - i);
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, want);
  }
}
