// The layers a ResNet is made of, each a thin Module over one op.

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

  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, { stride: this.stride, padding: this.padding });
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

  /** `relu` applies a ReLU after the normalization (fused into one kernel in eval mode). */
  forward(x: Tensor, relu = false): Tensor {
    if (this.training) {
      const count = this.numBatchesTracked;
      count.kernels.fill({ y: count.buffer, value: count.item() + 1 });
    }
    return ops.batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar,
      { training: this.training, momentum: this.momentum, eps: this.eps, relu });
  }
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
