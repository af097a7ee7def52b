// Batch normalization over N, H, W for each channel (PyTorch's BatchNorm2d).

import { needsGrad } from '../autograd/tape.js';
import { type BatchNormShape } from '../kernels/contract.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';
import { relu } from './elementwise.js';
import { checkRank, checkSameEngine, checkShape, record } from './record.js';

export interface BatchNormOptions {
  /** Normalize with batch statistics and update the running ones (training), or use the running ones. */
  training: boolean;
  momentum?: number;
  eps?: number;
  /** Apply a ReLU after it (fused into one kernel when no gradient is needed). */
  relu?: boolean;
}

/**
 * x: [n, c, h, w] (or [n, c]); gamma, beta, runningMean, runningVar: [c].
 * runningMean and runningVar are updated in place in training mode.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
  options: BatchNormOptions): Tensor {
  checkSameEngine('batchNorm', [x, gamma, beta, runningMean, runningVar]);
  if (x.shape.length !== 2) checkRank('batchNorm', 'input', x, 4);
  const [n, c] = x.shape;
  for (const [name, t] of [['weight', gamma], ['bias', beta], ['running_mean', runningMean], ['running_var', runningVar]] as const) {
    checkShape('batchNorm', name, t, [c]);
  }
  const s: BatchNormShape = { n, c, hw: x.size / (n * c), eps: options.eps ?? 1e-5 };
  const inputs = [x, gamma, beta];
  if (options.relu && needsGrad(inputs)) return relu(batchNorm(x, gamma, beta, runningMean, runningVar, { ...options, relu: false }));
  const k = x.kernels;
  const y = emptyLike(x);

  if (!options.training) {
    k.batchNormEval({ ...s, x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer,
      runningMean: runningMean.buffer, runningVar: runningVar.buffer, relu: options.relu ?? false });
    return record(y, 'batchNormEval', inputs, (dy) => {
      // Eval mode is an affine map per channel: y = (x - μ)·γ/σ + β with fixed μ, σ.
      // dx = dy·γ/σ is that same map applied to dy with μ = 0, β = 0.
      const zero = emptyLike(gamma);
      k.fill({ y: zero.buffer, value: 0 });
      const dx = emptyLike(x);
      k.batchNormEval({ ...s, x: dy.buffer, gamma: gamma.buffer, beta: zero.buffer, y: dx.buffer,
        runningMean: zero.buffer, runningVar: runningVar.buffer, relu: false });
      // dγ = Σ dy·(x - μ)/σ and dβ = Σ dy: the training-mode kernel's sums with μ, 1/σ fixed.
      const invStd = emptyLike(gamma);
      k.write(invStd.buffer, Array.from(k.read(runningVar.buffer), (v) => 1 / Math.sqrt(v + s.eps)));
      const dgamma = emptyLike(gamma);
      const dbeta = emptyLike(beta);
      const unused = emptyLike(x);
      k.batchNormBackward({ ...s, x: x.buffer, dy: dy.buffer, gamma: gamma.buffer, mean: runningMean.buffer,
        invStd: invStd.buffer, dx: unused.buffer, dgamma: dgamma.buffer, dbeta: dbeta.buffer });
      return [dx, dgamma, dbeta];
    });
  }

  if (n * s.hw < 2) throw new Error(`batchNorm: training mode needs more than one value per channel, got input of ${n}×${s.hw}`);
  const mean = emptyLike(gamma, [c], 'step');
  const invStd = emptyLike(gamma, [c], 'step');
  k.batchNormTrain({ ...s, x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer, mean: mean.buffer,
    invStd: invStd.buffer, runningMean: runningMean.buffer, runningVar: runningVar.buffer, momentum: options.momentum ?? 0.1 });
  record(y, 'batchNorm', inputs, (dy) => {
    const dx = emptyLike(x);
    const dgamma = emptyLike(gamma);
    const dbeta = emptyLike(beta);
    k.batchNormBackward({ ...s, x: x.buffer, dy: dy.buffer, gamma: gamma.buffer, mean: mean.buffer,
      invStd: invStd.buffer, dx: dx.buffer, dgamma: dgamma.buffer, dbeta: dbeta.buffer });
    return [dx, dgamma, dbeta];
  });
  return options.relu ? relu(y) : y;
}
