// A kernel set that computes nothing: it tracks shapes only and counts the
// multiply-accumulates of convolutions and matrix multiplies. Running a network's
// real forward pass on it gives exact MAC counts at any input size in milliseconds
// (`resnet info`), with no second description of the architecture to keep in sync.

import type { Buffer, DType, KernelSet } from './contract.js';

export interface CountingKernels extends KernelSet {
  /** Multiply-accumulates since the last reset. */
  macs: number;
}

export function createCountingKernels(): CountingKernels {
  const noop = () => { /* nothing to compute */ };
  const set: CountingKernels = {
    name: 'count',
    dtypes: ['float32', 'float64'],
    macs: 0,
    alloc: (length: number, dtype: DType): Buffer => ({ length, dtype }),
    write: noop,
    read: (src) => (src.dtype === 'float64' ? new Float64Array(src.length) : new Float32Array(src.length)),
    endStep: noop,
    free: noop,
    allocIndices: (length: number) => ({ length, dtype: 'int32' }),
    writeIndices: noop,
    readIndices: (src) => new Int32Array(src.length),
    fill: noop, copy: noop, add: noop, axpy: noop, scale: noop, mul: noop, relu: noop, reluBackward: noop, sum: noop,
    matmul: (p) => { set.macs += p.m * p.n * p.k; },
    addBiasRows: noop,
    sumRows: noop,
    conv2d: (p) => { set.macs += p.n * p.cOut * p.hOut * p.wOut * p.cIn * p.kh * p.kw; },
    conv2dBackwardInput: noop,
    conv2dBackwardWeight: noop,
    batchNormTrain: noop, batchNormEval: noop, batchNormBackward: noop,
    maxPool2d: noop, maxPool2dBackward: noop, globalAvgPool: noop, globalAvgPoolBackward: noop,
    shortcutA: noop, shortcutABackward: noop,
    softmaxCrossEntropy: noop, softmaxCrossEntropyBackward: noop,
    sgdStep: noop,
  };
  return set;
}
