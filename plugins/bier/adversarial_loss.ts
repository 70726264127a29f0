/**
 * The adversarial diversity loss (TPAMI "A-BIER"). For every learner pair i < j a small
 * regressor g_ij predicts learner i from learner j (FC(d_j→512)+ReLU → FC(512→d_i)). Both
 * inputs pass a gradient-reversal layer, so one loss trains the regressor to make learner i
 * predictable and the embedding to make it unpredictable:
 *
 * ```
 * t = GRL(r_i), s = GRL(r_j)
 * L_adv_ij = − mean_{n,k} (t[n,k] · g_ij(s)[n,k])²
 *            + λ_w Σ_layers [ mean_rows((Σ_axis1 W² − 1)²) + max(0, ‖b‖² − 1) ]
 * ```
 *
 * ```ts
 * const adv = new AdversarialRegressors([96, 160, 256], 512, 2, rng);
 * const loss = adv.loss([r1, r2, r3], 1e5);     // Σ_{i<j} L_adv_ij
 * adv.weights;                                  // trained with the backbone's optimizer
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Scalar, Tensor2D, Variable } from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import { reverseGradient } from "./gradient.ts";
import { unitNormPenalty } from "./activation_loss.ts";

/** −mean((t ⊙ g)²): the agreement the regressor maximises. */
export function agreementLoss(t: Tensor2D, g: Tensor2D): Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.square(tf.mul(t, g)))) as Scalar);
}

/** One dense layer, Glorot-uniform kernel and zero bias (slim's defaults). */
class Dense {
  readonly kernel: Variable;
  readonly bias: Variable;
  constructor(inputs: number, outputs: number, rng: Rng) {
    const limit = Math.sqrt(6 / (inputs + outputs));
    const values = Float32Array.from({ length: inputs * outputs }, () => (2 * rng.uniform() - 1) * limit);
    this.kernel = tf.variable(tf.tensor2d(values, [inputs, outputs]), true);
    this.bias = tf.variable(tf.zeros([outputs]), true);
  }
  apply(x: Tensor2D): Tensor2D {
    return tf.add(tf.matMul(x, this.kernel), this.bias) as Tensor2D;
  }
  /** Unit-norm rows (axis 1, as the code) plus a hinge on the bias norm. */
  penalty(): Scalar {
    return tf.tidy(() =>
      tf.add(unitNormPenalty(this.kernel as Tensor2D, "inputs"), tf.relu(tf.sub(tf.sum(tf.square(this.bias)), 1)))
    );
  }
}

/** A regressor g_ij from learner j to learner i: `layers` dense layers, ReLU between them. */
export class Regressor {
  readonly layers: Dense[];
  constructor(from: number, to: number, hidden: number, layers: number, rng: Rng) {
    const sizes = [from, ...Array.from({ length: layers - 1 }, () => hidden), to];
    this.layers = sizes.slice(1).map((out, k) => new Dense(sizes[k], out, rng));
  }
  get weights(): Variable[] {
    return this.layers.flatMap((l) => [l.kernel, l.bias]);
  }
  apply(x: Tensor2D): Tensor2D {
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((l, k) => {
        h = l.apply(h);
        if (k < this.layers.length - 1) h = tf.relu(h);
      });
      return h;
    });
  }
  penalty(): Scalar {
    return tf.tidy(() => tf.addN(this.layers.map((l) => l.penalty())) as Scalar);
  }
}

/** The regressors of every learner pair i < j, and the summed adversarial loss. */
export class AdversarialRegressors {
  /** `pairs[k] = [i, j]` with the regressor `regressors[k]` from learner j to learner i. */
  readonly pairs: Array<[number, number]> = [];
  readonly regressors: Regressor[] = [];

  constructor(groups: readonly number[], hidden: number, layers: number, rng: Rng) {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        this.pairs.push([i, j]);
        this.regressors.push(new Regressor(groups[j], groups[i], hidden, layers, rng));
      }
    }
  }

  get weights(): Variable[] {
    return this.regressors.flatMap((g) => g.weights);
  }

  /** Σ_{i<j} [agreement(GRL(r_i), g_ij(GRL(r_j))) + λ_w · penalty(g_ij)]. */
  loss(r: Tensor2D[], lambdaWeight: number): Scalar {
    return tf.tidy(() => {
      if (this.pairs.length === 0) return tf.scalar(0);
      const terms = this.pairs.map(([i, j], k) => {
        const g = this.regressors[k];
        const agree = agreementLoss(reverseGradient(r[i]), g.apply(reverseGradient(r[j])));
        return tf.add(agree, tf.mul(lambdaWeight, g.penalty()));
      });
      return tf.addN(terms) as Scalar;
    });
  }

  dispose(): void {
    for (const v of this.weights) v.dispose();
  }
}
