// The layers a ResNet is made of, each a thin Module over one op.

import { needsGrad } from '../autograd/tape.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import * as ops from '../ops/index.js';
import { Module, type Placement, stateTensor } from './module.js';
import { kaimingNormalFanOut, uniform } from './init.js';

/** Where a layer's tensors live and the generator that initializes them. */
export interface LayerContext extends Placement {
  rng: Rng;
  /** False to leave weights at zero (shape-only uses such as counting MACs; loading weights next). */
  init: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor; // [cOut, cIn, k, k]
  constructor(ctx: LayerContext, readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number,
    readonly stride = 1, readonly padding = 0) {
    super();
    this.weight = this.registerParameter('weight', stateTensor([outChannels, inChannels, kernelSize, kernelSize], 0, ctx));
    if (ctx.init) kaimingNormalFanOut(this.weight, ctx.rng);
  }

  /**
   * With `weight` and `bias`, the conv of these weights (eval mode's folded batch norm) in this
   * conv's geometry; `residual` and `relu` end a residual block in the same pass (inference only).
   */
  forward(x: Tensor, epilogue: { weight?: Tensor; bias?: Tensor; residual?: Tensor; relu?: boolean } = {}): Tensor {
    return ops.conv2d(x, epilogue.weight ?? this.weight,
      { stride: this.stride, padding: this.padding, bias: epilogue.bias, residual: epilogue.residual, relu: epilogue.relu });
  }
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor; // γ [c]
  readonly bias: Tensor; // β [c]
  readonly runningMean: Tensor; // [c]
  readonly runningVar: Tensor; // [c]
  readonly numBatchesTracked: Tensor; // [] (PyTorch keeps it as int64; we keep it as a float)
  readonly momentum = 0.1;
  readonly eps = 1e-5;

  constructor(ctx: LayerContext, readonly channels: number) {
    super();
    this.weight = this.registerParameter('weight', stateTensor([channels], 1, ctx));
    this.bias = this.registerParameter('bias', stateTensor([channels], 0, ctx));
    this.runningMean = this.registerBuffer('running_mean', stateTensor([channels], 0, ctx));
    this.runningVar = this.registerBuffer('running_var', stateTensor([channels], 1, ctx));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', stateTensor([], 0, ctx));
  }

  /** max(bn(x) + residual, 0): `residual` (a block's shortcut) and `relu` are optional and fused into one kernel. */
  forward(x: Tensor, relu = false, residual?: Tensor): Tensor {
    if (this.training) {
      const count = this.numBatchesTracked;
      count.kernels.fill({ y: count.buffer, value: count.item() + 1 });
    }
    return ops.batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar,
      { training: this.training, momentum: this.momentum, eps: this.eps, relu, residual });
  }
}

/** Eval mode's batch norm folded into a conv: its weights and bias, and the versions they were made from. */
interface Folded {
  versions: number[];
  weight: Tensor;
  bias: Tensor;
}

const folds = new WeakMap<Conv2d, Folded>();

/**
 * conv, then batch norm, then + `residual`, then ReLU (both optional). In eval mode with no gradient
 * to record, the batch norm is folded into the conv's weights and a bias per output channel, and
 * the residual and the ReLU into the conv's stores (one conv, no normalization pass); the folded
 * weights are kept until the conv's or the norm's tensors change (their `version`).
 */
export function convBn(conv: Conv2d, bn: BatchNorm2d, x: Tensor, o: { relu?: boolean; residual?: Tensor } = {}): Tensor {
  const relu = o.relu ?? false;
  const sources = [conv.weight, bn.weight, bn.bias, bn.runningMean, bn.runningVar];
  const inputs = o.residual ? [x, o.residual, ...sources] : [x, ...sources];
  if (bn.training || needsGrad(inputs)) return bn.forward(conv.forward(x), relu, o.residual);
  const versions = sources.map((t) => t.version);
  let f = folds.get(conv);
  if (!f || f.versions.some((v, i) => v !== versions[i])) {
    if (f) { f.weight.kernels.free(f.weight.buffer); f.bias.kernels.free(f.bias.buffer); }
    f = { versions, ...ops.foldBatchNorm(conv.weight, bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.eps) };
    folds.set(conv, f);
  }
  return conv.forward(x, { bias: f.bias, residual: o.residual, relu, weight: f.weight });
}

export class Linear extends Module {
  readonly weight: Tensor; // [out, in]
  readonly bias: Tensor; // [out]
  constructor(ctx: LayerContext, readonly inFeatures: number, readonly outFeatures: number) {
    super();
    this.weight = this.registerParameter('weight', stateTensor([outFeatures, inFeatures], 0, ctx));
    this.bias = this.registerParameter('bias', stateTensor([outFeatures], 0, ctx));
    // PyTorch's default for nn.Linear: U(-1/√in, 1/√in) for weight and bias.
    const bound = 1 / Math.sqrt(inFeatures);
    if (ctx.init) {
      uniform(this.weight, -bound, bound, ctx.rng);
      uniform(this.bias, -bound, bound, ctx.rng);
    }
  }

  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

export function layerContext(options: Placement & { seed?: number; skipInit?: boolean } = {}): LayerContext {
  return { kernels: options.kernels, dtype: options.dtype, rng: new Rng(options.seed ?? 0), init: !options.skipInit };
}
