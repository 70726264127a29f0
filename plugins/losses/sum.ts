/**
 * `sum`: several losses trained at once, each with its weight (PML's MultipleLosses), e.g. a pair
 * loss with a proxy loss, or the re-identification baseline's triplet plus softmax:
 *
 * ```yaml
 * loss:
 *   use: sum
 *   terms:
 *     pairs: { use: multi-similarity }
 *     proxies: { use: proxy-anchor, weight: 0.5 }
 * ```
 *
 * L = Σ weight_t · L_t; the log gets each weighted term under its name (`loss.pairs`, ...). With a
 * memory, only the terms that take a reference set are computed against it: a proxy term counts in
 * the batch loss alone. A term that changes the test-time embedding (BIER, MPN, divide and
 * conquer) cannot be summed with others, and is refused.
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@tensorflow/tfjs-core";
import { CompositeLoss } from "../../core/composite_loss.ts";
import { DmlError } from "../../core/errors.ts";
import { obj } from "../../core/options.ts";
import type { ComponentDef, CreateContext, Hooks, Loss, Options, Reference } from "../../core/types.ts";

/** One named, weighted term. */
export interface SumTerm {
  name: string;
  weight: number;
  loss: Loss & Hooks;
}

export class SumLoss extends CompositeLoss {
  private last: Record<string, Scalar> = {};

  constructor(readonly members: SumTerm[]) {
    super();
  }

  protected parts(): (Loss & Hooks)[] {
    return this.members.map((t) => t.loss);
  }

  /** True when any term can use a memory. */
  get usesReference(): boolean {
    return this.members.some((t) => t.loss.usesReference !== false);
  }

  compute(e: Tensor2D, y: Tensor1D, ref?: Reference): Scalar {
    const used = ref ? this.members.filter((t) => t.loss.usesReference !== false) : this.members;
    const terms = tf.tidy(() =>
      Object.fromEntries(used.map((t) => [t.name, tf.mul(t.weight, t.loss.compute(e, y, ref)) as Scalar]))
    );
    const values = Object.values(terms);
    const total = values.length === 1 ? tf.clone(values[0]) : tf.addN(values) as Scalar;
    // Kept past the trainer's tidy for the log; freed at the next compute.
    for (const t of Object.values(this.last)) t.dispose();
    for (const t of values) tf.keep(t);
    this.last = terms;
    return total;
  }

  /** Each term of the last `compute`, already weighted; they sum to it. */
  terms(): Record<string, Scalar> {
    return this.last;
  }
}

/** `terms:` as name → loss section (with an optional `weight`), each created through the registry. */
async function createTerms(given: Record<string, unknown>, ctx: CreateContext): Promise<SumTerm[]> {
  const entries = Object.entries(given);
  if (entries.length === 0) throw new DmlError(`${ctx.path}.terms: list at least one loss (name: { use: ... })`);
  const out: SumTerm[] = [];
  for (const [name, section] of entries) {
    const path = `${ctx.path}.terms.${name}`;
    if (section === null || typeof section !== "object" || Array.isArray(section)) {
      throw new DmlError(`${path}: expected a loss section such as { use: triplet, weight: 1 }`);
    }
    const { weight = 1, ...rest } = section as Record<string, unknown>;
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) {
      throw new DmlError(`${path}.weight: expected a number >= 0, got ${JSON.stringify(weight)}`);
    }
    if (typeof rest.use !== "string") throw new DmlError(`${path}.use: expected the name of a loss`);
    if (rest.use === "sum") throw new DmlError(`${path}.use: a sum cannot hold another sum; list its terms here`);
    const loss = await ctx.registry.create<Loss & Hooks>("loss", rest.use, rest, { ...ctx, path });
    if (loss.evalTransform) {
      throw new DmlError(`${path}.use: ${rest.use} changes the test-time embedding, so it cannot be a term of a sum`);
    }
    out.push({ name, weight, loss });
  }
  return out;
}

/** The registry entry; in a recipe: `loss: { use: sum, terms: { a: { use: triplet }, b: { use: ..., weight: 0.5 } } }`. */
export const sum: ComponentDef<Loss> = {
  kind: "loss",
  name: "sum",
  doc: "a weighted sum of losses (PML MultipleLosses): terms as name → { use: loss, weight: 1, ...its options }",
  options: {
    terms: obj(undefined, "the losses, by name: each a loss section with an optional weight (default 1)"),
  },
  async create(o: Options, ctx: CreateContext) {
    return new SumLoss(await createTerms(o.terms as Record<string, unknown>, ctx));
  },
};
