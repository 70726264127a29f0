/**
 * Optimizers: adam, adamw, sgd (momentum, Nesterov) and radam. Their state (moments, step)
 * goes into checkpoints, so a resumed run continues exactly.
 *
 * ```yaml
 * optimizer: { use: adam, lr: 0.001 }
 * optimizer: { use: adam, lr: 1.0e-5, lrMult: { head: 10 } }   # per-group rates (lr_mult.ts)
 * ```
 */
import type { CreateContext, Options, Plugin } from "../../core/types.ts";
import { bool, num } from "../../core/options.ts";
import { DmlError } from "../../core/errors.ts";
import { Adam } from "./adam.ts";
import { RAdam } from "./radam.ts";
import { Sgd } from "./sgd.ts";
import { LrMultipliers, lrMultOption } from "./lr_mult.ts";

const lr = num(0.001, { gt: 0, doc: "learning rate (schedules scale it)" });
const weightDecay = num(0, { min: 0, doc: "weight decay" });
const lrMult = lrMultOption;
/** The run's weights with the recipe's multiplier per group. */
const groups = (o: Options, ctx: CreateContext) => new LrMultipliers(o.lrMult, ctx.params, ctx.path);
const betas = {
  beta1: num(0.9, { min: 0, max: 0.999999, doc: "first-moment decay" }),
  beta2: num(0.999, { min: 0, max: 0.999999, doc: "second-moment decay" }),
  eps: num(1e-8, { gt: 0, doc: "denominator epsilon" }),
};

export const plugin: Plugin = {
  name: "optimizers",
  components: [
    {
      kind: "optimizer",
      name: "adam",
      doc: "Adam; weightDecay is L2 added to the gradient",
      options: { lr, weightDecay, ...betas, lrMult },
      create: (o, ctx) => new Adam({ ...o, decoupled: false } as never, groups(o, ctx)),
    },
    {
      kind: "optimizer",
      name: "adamw",
      doc: "AdamW: Adam with decoupled weight decay",
      options: { lr, ...betas, weightDecay: num(0.01, { min: 0, doc: "decoupled weight decay" }), lrMult },
      create: (o, ctx) => new Adam({ ...o, decoupled: true } as never, groups(o, ctx)),
    },
    {
      kind: "optimizer",
      name: "sgd",
      doc: "SGD with momentum and optional Nesterov momentum (PyTorch form)",
      options: {
        lr: num(0.01, { gt: 0, doc: "learning rate" }),
        momentum: num(0, { min: 0, max: 1, doc: "momentum" }),
        nesterov: bool(false, "Nesterov momentum (needs momentum > 0)"),
        weightDecay,
        lrMult,
      },
      create: (o, ctx) => {
        if (o.nesterov && o.momentum === 0) throw new DmlError(`${ctx.path}.nesterov: needs momentum > 0`);
        return new Sgd(o as never, groups(o, ctx));
      },
    },
    {
      kind: "optimizer",
      name: "radam",
      doc: "Rectified Adam (Liu et al. 2020), as MPN trains",
      options: { lr, weightDecay, ...betas, lrMult },
      create: (o, ctx) => new RAdam(o as never, groups(o, ctx)),
    },
  ],
};

export default plugin;
