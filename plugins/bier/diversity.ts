/**
 * The diversity loss L_div that decorrelates the learners, in either form, plus the unit-norm
 * penalty on the learners' kernels that both forms carry:
 *
 * ```
 * activation:  L_div = L_act(r)                 + λ_w Σ_m mean((Σ_axis0 W_m² − 1)²)
 * adversarial: L_div = Σ_{i<j} L_adv_ij(r)      + λ_w Σ_m mean((Σ_axis1 W_m² − 1)²)
 * ```
 * The official code sums over axis 0 (per output neuron) for the activation loss and over axis 1
 * (per input row) for the adversarial loss; issue mop/bier#1 reports axis 1 works better for the
 * activation loss too. `normAxis: code` keeps the code's choice.
 *
 * ```ts
 * const div = new Diversity("activation", { lambdaWeight: 1e5, normAxis: "code" }, groups);
 * const { total, parts } = div.loss(regularizerView(e, head, groups), learnerKernels(head, groups));
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { activationLoss, type NormAxis, unitNormPenalty } from "./activation_loss.ts";
import { AdversarialRegressors } from "./adversarial_loss.ts";

export type DiversityKind = "none" | "activation" | "adversarial";
export const DIVERSITY_KINDS: readonly DiversityKind[] = ["none", "activation", "adversarial"];
export const NORM_AXES = ["code", "inputs", "outputs"] as const;

export interface DiversityOptions {
  /** λ_w, the weight of the unit-norm penalties (1e5 in run.sh; the code's default is 100). */
  lambdaWeight: number;
  /** Which norm of W_m is pushed to 1: `code` = outputs for activation, inputs for adversarial. */
  normAxis: (typeof NORM_AXES)[number];
  /** Hidden width of the adversarial regressors (512). */
  hidden?: number;
  /** Dense layers per regressor (2: one hidden layer). */
  layers?: number;
}

export interface DiversityLoss {
  total: Scalar;
  /** `activation` or `adversarial`, and `weight-norm` (with λ_w). */
  parts: Record<string, Scalar>;
}

export class Diversity {
  /** The adversarial regressors (none for the activation loss). */
  readonly adversary?: AdversarialRegressors;
  private axis: NormAxis;

  constructor(readonly kind: Exclude<DiversityKind, "none">, private o: DiversityOptions, groups: number[], rng?: Rng) {
    this.axis = o.normAxis !== "code" ? o.normAxis : kind === "activation" ? "outputs" : "inputs";
    if (kind === "adversarial") {
      if (!rng) throw new Error("the adversarial loss needs an rng to initialise its regressors");
      this.adversary = new AdversarialRegressors(groups, o.hidden ?? 512, o.layers ?? 2, rng);
    }
  }

  /** The regressors' weights (trainable, owned by the loss). */
  get weights(): Variable[] {
    return this.adversary?.weights ?? [];
  }

  /** L_div of the regulariser view `r` and the learners' kernels (no penalty when `kernels` is empty). */
  loss(r: Tensor2D[], kernels: Tensor2D[]): DiversityLoss {
    return tf.tidy(() => {
      const main = this.adversary ? this.adversary.loss(r, this.o.lambdaWeight) : activationLoss(r);
      const penalty = kernels.length === 0
        ? tf.scalar(0)
        : tf.mul(this.o.lambdaWeight, tf.addN(kernels.map((w) => unitNormPenalty(w, this.axis)))) as Scalar;
      return { total: tf.add(main, penalty) as Scalar, parts: { [this.kind]: main, "weight-norm": penalty } };
    });
  }

  dispose(): void {
    this.adversary?.dispose();
  }
}
