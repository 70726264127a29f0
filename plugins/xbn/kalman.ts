/**
 * AXBN's Kalman filter of the batch moments (Ajanthan et al. 2023, Eqs. 18–22, Alg. 1). Every
 * dimension is an independent scalar filter with `P0 = p0`, `Q = q`, `R = r / |B|`; since these
 * do not depend on the data, one gain serves every dimension and both the mean and the standard
 * deviation filters:
 *
 * ```
 * p_pred = p + q;   K = p_pred / (p_pred + R);   p = (1 − K) · p_pred   # every `gainInterval` steps
 * μ̂ ← μ̂ + K (E[B] − μ̂);    σ̂ ← σ̂ + K (σ[B] − σ̂)                       # filters the std
 * ```
 *
 * The paper leaves μ̂₀, σ̂₀ open; the first observation initialises them (so `r = 0`, K = 1,
 * is XBN exactly).
 *
 * ```ts
 * const filter = new MomentFilter({ q: 1, p0: 1, r: 0.01, gainInterval: 100 });
 * const { mean, std } = filter.observe(batchMean, batchStd, 64); // smoothed estimates, [D]
 * ```
 */
import { tf } from "../../core/tf.ts";
import type { Tensor, Tensor1D, Variable } from "@tensorflow/tfjs-core";
import { DmlError } from "../../core/errors.ts";
import type { State } from "../../core/types.ts";

export interface KalmanOptions {
  /** Process noise. */
  q: number;
  /** Initial estimate variance. */
  p0: number;
  /** Measurement noise per sample; the filter uses r / |B|. */
  r: number;
  /** Steps between gain updates (the paper: 100 for SOP and In-Shop, 10 for DeepFashion2). */
  gainInterval: number;
}

/** One predict–update of the scalar estimate variance: the new gain and variance. */
export function kalmanGain(p: number, q: number, noise: number): { gain: number; p: number } {
  const pPred = p + q;
  // With no noise and no uncertainty left, trust the measurement (0/0 otherwise).
  const gain = pPred + noise > 0 ? pPred / (pPred + noise) : 1;
  return { gain, p: (1 - gain) * pPred };
}

export class MomentFilter {
  /** Estimate variance. */
  p: number;
  /** Current gain (recomputed every `gainInterval` updates). */
  gain = 1;
  /** Updates since the initialising observation. */
  updates = 0;
  private mean: Variable | null = null;
  private std: Variable | null = null;

  constructor(readonly opts: KalmanOptions) {
    this.p = opts.p0;
  }

  /**
   * Feeds one batch's moments [D]; returns the filtered moments as new tensors the caller owns.
   * `ok` (a bool scalar from the memory's finite check) keeps the estimates unchanged where false.
   */
  observe(mean: Tensor1D, std: Tensor1D, batchSize: number, ok?: Tensor | null): { mean: Tensor1D; std: Tensor1D } {
    if (!this.mean || !this.std) {
      this.mean = tf.variable(mean, false);
      this.std = tf.variable(std, false);
    } else {
      if (this.updates % this.opts.gainInterval === 0) {
        ({ gain: this.gain, p: this.p } = kalmanGain(this.p, this.opts.q, this.opts.r / batchSize));
      }
      this.updates++;
      const [mu, sd, k] = [this.mean, this.std, this.gain];
      tf.tidy(() => {
        const next = (est: Tensor, obs: Tensor) => {
          const moved = tf.add(est, tf.mul(k, tf.sub(obs, est)));
          return ok ? tf.where(ok, moved, est) : moved;
        };
        mu.assign(next(mu, mean));
        sd.assign(next(sd, std));
      });
    }
    return { mean: tf.clone(this.mean) as Tensor1D, std: tf.clone(this.std) as Tensor1D };
  }

  async state(): Promise<State> {
    return {
      p: this.p,
      gain: this.gain,
      updates: this.updates,
      mean: this.mean ? new Float32Array(await this.mean.data()) : null,
      std: this.std ? new Float32Array(await this.std.data()) : null,
    };
  }

  /** Restores {@link state}; `dim`, when given, must match the stored estimates. */
  load(s: State, dim?: number, what = "memory"): void {
    const o = s as Record<string, State>;
    const bad = (why: string) => new DmlError(`${what}: the checkpoint's Kalman state is unusable (${why})`);
    if (o === null || typeof o !== "object") throw bad("not a mapping");
    if (typeof o.p !== "number" || typeof o.gain !== "number" || typeof o.updates !== "number") {
      throw bad("p, gain or updates missing");
    }
    const { mean, std } = o;
    if ((mean === null) !== (std === null)) throw bad("one of mean/std missing");
    if (mean !== null && !(mean instanceof Float32Array && std instanceof Float32Array && mean.length === std.length)) {
      throw bad("mean/std are not matching float arrays");
    }
    if (mean instanceof Float32Array && dim !== undefined && mean.length !== dim) {
      throw new DmlError(
        `${what}: the checkpoint's Kalman estimates are ${mean.length}-d but the model's embedding dim is ${dim}`,
      );
    }
    this.dispose();
    this.p = o.p;
    this.gain = o.gain;
    this.updates = o.updates;
    if (mean instanceof Float32Array && std instanceof Float32Array) {
      this.mean = tf.variable(tf.tensor1d(mean), false);
      this.std = tf.variable(tf.tensor1d(std), false);
    }
  }

  dispose(): void {
    this.mean?.dispose();
    this.std?.dispose();
    this.mean = this.std = null;
  }
}
