// Batch normalization over N, H, W for each channel (PyTorch's BatchNorm2d).

import { needsGrad } from '../autograd/tape.js';
import { type BatchNormShape } from '../kernels/contract.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';
import { add, relu as reluOp } from './elementwise.js';
import { checkRank, checkSameEngine, checkShape, record } from './record.js';

export interface BatchNormOptions {
  /** Normalize with batch statistics and update the running ones (training), or use the running ones. */
  training: boolean;
  momentum?: number;
  eps?: number;
  /**
   * Added after the normalization (before the ReLU): the shortcut of a residual block, whose
   * end relu(bn(x) + shortcut) is then one kernel forward and one backward. Same shape as x.
   */
  residual?: Tensor;
  /** Apply a ReLU after it (and after the residual), fused into the same kernel. */
  relu?: boolean;
}

/**
 * x: [n, c, h, w] (or [n, c]); gamma, beta, runningMean, runningVar: [c].
 * runningMean and runningVar are updated in place in training mode.
 * Returns max(bn(x) + residual, 0), the residual and the ReLU being optional.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
  options: BatchNormOptions): Tensor {
  const residual = options.residual;
  checkSameEngine('batchNorm', [x, gamma, beta, runningMean, runningVar, ...(residual ? [residual] : [])]);
  if (x.shape.length !== 2) checkRank('batchNorm', 'input', x, 4);
  const [n, c] = x.shape;
  for (const [name, t] of [['weight', gamma], ['bias', beta], ['running_mean', runningMean], ['running_var', runningVar]] as const) {
    checkShape('batchNorm', name, t, [c]);
  }
  if (residual) checkShape('batchNorm', 'residual', residual, x.shape);
  const s: BatchNormShape = { n, c, hw: x.size / (n * c), eps: options.eps ?? 1e-5 };
  const inputs = residual ? [x, gamma, beta, residual] : [x, gamma, beta];
  const relu = options.relu ?? false;
  const k = x.kernels;

  if (!options.training) {
    if (needsGrad(inputs) && (residual || relu)) {
      // Eval mode with gradients (rare: a frozen network being probed): the plain ops, composed.
      let y = batchNorm(x, gamma, beta, runningMean, runningVar, { ...options, residual: undefined, relu: false });
      if (residual) y = add(y, residual);
      return relu ? reluOp(y) : y;
    }
    const y = emptyLike(x);
    k.batchNormEval({ ...s, x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer,
      runningMean: runningMean.buffer, runningVar: runningVar.buffer, relu, residual: residual?.buffer });
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
  const y = emptyLike(x);
  const mean = emptyLike(gamma, [c], 'step');
  const invStd = emptyLike(gamma, [c], 'step');
  k.batchNormTrain({ ...s, x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer, mean: mean.buffer,
    invStd: invStd.buffer, runningMean: runningMean.buffer, runningVar: runningVar.buffer, momentum: options.momentum ?? 0.1,
    residual: residual?.buffer, relu });
  runningMean.bumpVersion();
  runningVar.bumpVersion();
  // The backward pass needs x and, through a ReLU, only the output y (not the map before the ReLU).
  // Where y feeds two ops (a block's output: the next block's branch and its shortcut), the kernel
  // adds their two gradients as it reads them (dy + dy2).
  return record(y, 'batchNorm', inputs, (dy, dy2) => {
    const dx = emptyLike(x);
    const dgamma = emptyLike(gamma);
    const dbeta = emptyLike(beta);
    const dresidual = residual?.requiresGrad ? emptyLike(residual) : null;
    k.batchNormBackward({ ...s, x: x.buffer, dy: dy.buffer, gamma: gamma.buffer, mean: mean.buffer,
      invStd: invStd.buffer, dx: dx.buffer, dgamma: dgamma.buffer, dbeta: dbeta.buffer,
      y: relu ? y.buffer : undefined, dresidual: dresidual?.buffer, dy2: dy2?.buffer });
    return [dx, dgamma, dbeta, dresidual];
  }, true);
}

/**
 * Eval-mode batch norm folded into the conv before it: with a = γ/√(running_var + eps), the conv of
 * weight·a (per output channel) plus bias β − running_mean·a equals bn(conv(x)). New persistent
 * tensors (weight: [cOut, ...], bias: [cOut]); computed on the host in float64.
 */
export function foldBatchNorm(weight: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
  eps: number): { weight: Tensor; bias: Tensor } {
  const cOut = weight.shape[0];
  for (const [name, t] of [['weight', gamma], ['bias', beta], ['running_mean', runningMean], ['running_var', runningVar]] as const) {
    checkShape('foldBatchNorm', name, t, [cOut]);
  }
  const [w, g, b, m, v] = [weight, gamma, beta, runningMean, runningVar].map((t) => t.toArray());
  const per = weight.size / cOut;
  const fw = new Float64Array(weight.size);
  const fb = new Float64Array(cOut);
  for (let o = 0; o < cOut; o++) {
    const a = g[o] / Math.sqrt(v[o] + eps);
    fb[o] = b[o] - m[o] * a;
    for (let i = o * per; i < (o + 1) * per; i++) fw[i] = w[i] * a;
  }
  const folded = emptyLike(weight, weight.shape, 'persistent');
  folded.set(fw);
  const bias = emptyLike(weight, [cOut], 'persistent');
  bias.set(fb);
  return { weight: folded, bias };
}
