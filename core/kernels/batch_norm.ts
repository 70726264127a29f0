/**
 * Training-mode BatchNorm over the last axis (NHWC or [B, C]) as two passes forward and two
 * backward, with an optional ReLU folded in. Composed from tfjs ops, BatchNorm and its autodiff
 * gradient take about 30 element-wise passes over the activation (a ResNet-50 step spent 60 % of
 * its time there on the blas backend); these loops read the activation twice each way and keep
 * nothing but the per-channel moments for the backward pass.
 *
 * Statistics accumulate in float64 around the first row's values (a shifted sum: stable where
 * the mean is large against the spread). The moments are rounded to float32 before use, so the
 * backward pass, which recomputes the normalised input, sees exactly what the forward pass saw.
 *
 * ```ts
 * const { y, mean, variance } = batchNormForward(x, 64, gamma, beta, 1e-5, true);
 * const { dx, dgamma, dbeta } = batchNormBackward(dy, x, mean, variance, gamma, beta, 1e-5, true);
 * ```
 */

export interface BatchNormForward {
  y: Float32Array;
  mean: Float32Array;
  /** Biased batch variance. */
  variance: Float32Array;
}

export interface BatchNormBackward {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/** y = gamma · (x − mean) / sqrt(variance + eps) + beta per channel, then max(0, y) when `relu`. */
export function batchNormForward(
  x: Float32Array,
  channels: number,
  gamma: Float32Array,
  beta: Float32Array,
  epsilon: number,
  relu: boolean,
): BatchNormForward {
  const rows = x.length / channels;
  const s1 = new Float64Array(channels);
  const s2 = new Float64Array(channels);
  const shift = x.slice(0, channels);
  for (let base = 0; base < x.length; base += channels) {
    for (let c = 0; c < channels; c++) {
      const d = x[base + c] - shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = s1[c] / rows;
    mean[c] = shift[c] + m;
    variance[c] = Math.max(0, s2[c] / rows - m * m);
  }
  const { scale, offset } = affine(mean, variance, gamma, beta, epsilon);
  const y = new Float32Array(x.length);
  // Two loops rather than a test per element: V8 does not hoist it.
  if (relu) {
    for (let base = 0; base < x.length; base += channels) {
      for (let c = 0; c < channels; c++) {
        const z = x[base + c] * scale[c] + offset[c];
        // Branch-free: on activations of random sign a branch mispredicts half the time.
        y[base + c] = (z + Math.abs(z)) * 0.5;
      }
    }
  } else {
    for (let base = 0; base < x.length; base += channels) {
      for (let c = 0; c < channels; c++) y[base + c] = x[base + c] * scale[c] + offset[c];
    }
  }
  return { y, mean, variance };
}

/**
 * Gradients of `batchNormForward` with respect to x, gamma and beta, from the upstream gradient
 * `dy` and the saved moments (the batch statistics' own dependence on x included).
 */
export function batchNormBackward(
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  epsilon: number,
  relu: boolean,
): BatchNormBackward {
  const channels = mean.length;
  const rows = x.length / channels;
  const { scale, offset, rstd } = affine(mean, variance, gamma, beta, epsilon);
  const sumG = new Float64Array(channels);
  const sumGx = new Float64Array(channels);
  // Through the ReLU the upstream gradient is zero where the normalised value was not positive
  // (recomputed: nothing was saved); the masked gradient is kept for the second pass.
  const g = relu ? new Float32Array(x.length) : dy;
  if (relu) {
    for (let base = 0; base < x.length; base += channels) {
      for (let c = 0; c < channels; c++) {
        const xi = x[base + c];
        const gi = dy[base + c] * +(xi * scale[c] + offset[c] > 0);
        g[base + c] = gi;
        sumG[c] += gi;
        sumGx[c] += gi * (xi - mean[c]);
      }
    }
  } else {
    for (let base = 0; base < x.length; base += channels) {
      for (let c = 0; c < channels; c++) {
        const gi = dy[base + c];
        sumG[c] += gi;
        sumGx[c] += gi * (x[base + c] - mean[c]);
      }
    }
  }
  const dgamma = new Float32Array(channels);
  const dbeta = new Float32Array(channels);
  // dx = gamma·rstd · (g − mean(g) − x̂ · mean(g·x̂)) = g·k1 + x·k2 + k3.
  const k1 = new Float64Array(channels);
  const k2 = new Float64Array(channels);
  const k3 = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const dg = sumGx[c] * rstd[c];
    dgamma[c] = dg;
    dbeta[c] = sumG[c];
    k1[c] = gamma[c] * rstd[c];
    k2[c] = -k1[c] * rstd[c] * dg / rows;
    k3[c] = -k1[c] * sumG[c] / rows - mean[c] * k2[c];
  }
  // Written over the masked gradient when there is one: it is ours, and each element is read
  // just before it is replaced.
  const dx = relu ? g : new Float32Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    for (let c = 0; c < channels; c++) dx[base + c] = g[base + c] * k1[c] + x[base + c] * k2[c] + k3[c];
  }
  return { dx, dgamma, dbeta };
}

/** The per-channel affine map the normalisation is: y = x · scale + offset. */
function affine(mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array, epsilon: number) {
  const channels = mean.length;
  const scale = new Float64Array(channels);
  const offset = new Float64Array(channels);
  const rstd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    rstd[c] = 1 / Math.sqrt(variance[c] + epsilon);
    scale[c] = gamma[c] * rstd[c];
    offset[c] = beta[c] - mean[c] * scale[c];
  }
  return { scale, offset, rstd };
}
