// resnet-ts: the library. Everything the `resnet` command does is reachable from here.

// engine
export type { Buffer, DType, KernelSet, Lifetime } from './kernels/contract.js';
export { refKernels } from './kernels/ref/index.js';
export { BACKENDS, type BackendName, type BackendOptions, loadKernels } from './kernels/select.js';
export { endStep, getKernels, setKernels } from './tensor/engine.js';
export { Tensor, type Shape, empty, fromArray, full, zeros } from './tensor/tensor.js';
export { Rng } from './tensor/random.js';
export { noGrad, isGradEnabled } from './autograd/tape.js';
export * as ops from './ops/index.js';
export { crossEntropy } from './ops/index.js';

// modules, networks, weights
export { Module } from './nn/module.js';
export { BatchNorm2d, Conv2d, Linear } from './nn/layers.js';
export { NET_NAMES, NETS, type NetName, type NetSpec, isNetName } from './models/registry.js';
export { type CreateOptions, type NetOptions, type Probe, ResNet, createNet, defaultOptions } from './models/resnet.js';
export { type NetSummary, type StageSummary, summarize } from './models/summary.js';
export { type WeightsFile, loadNet, netFromWeights, readWeights, saveWeights } from './models/weights.js';

// training and evaluation
export { SGD, type SgdOptions } from './optim/sgd.js';
export * from './optim/schedule.js';
export * from './train/index.js';
export * from './eval/index.js';
export * as data from './data/index.js';

// files
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readNpy, writeNpy } from './io/npy.js';
export { readPth } from './io/pth.js';
export { setReadLimits, type ReadLimits } from './io/limits.js';

// errors: `option` lists the options (and read limits) a message names as its remedy
export { FormatError, LibraryError, LimitError, type OptionNames, type OptionText } from './io/errors.js';

// the paper's experiments and their reports
export * as experiments from './experiments/index.js';
export * as report from './report/index.js';
