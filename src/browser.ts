// resnet-ts in a browser: the part of the library that needs no Node API (no files, no
// worker_threads, no sharp). The web app (web/) imports this entry only; its build fails if
// anything here reaches a `node:` module (tools/build-web.mjs).

// engine
export type { Buffer, DType, KernelSet } from './kernels/contract.js';
export { refKernels } from './kernels/ref/index.js';
export { type BackendOptions, loadKernels } from './kernels/select.js';
export { browserHost } from './kernels/wasm/host-browser.js';
export type { WasmKernelSet } from './kernels/wasm/index.js';
export { endStep, getKernels, setKernels } from './tensor/engine.js';
export { Tensor, fromArray } from './tensor/tensor.js';
export { Rng } from './tensor/random.js';
export { noGrad } from './autograd/tape.js';
export { crossEntropy } from './ops/index.js';

// networks, weights
export { NET_NAMES, NETS, type NetName, isNetName } from './models/registry.js';
export { type NetOptions, ResNet, createNet } from './models/resnet.js';
export { type NetSummary, type StageSummary, summarize } from './models/summary.js';
export { type WeightsFile, netFromWeights, parseWeights, shapeOptions, weightsBytes } from './models/weights-bytes.js';

// training
export { SGD } from './optim/sgd.js';
export { sgdStep } from './train/step.js';
export { Schedule } from './optim/schedule.js';
export { type Recipe, applyOverrides, chooseRecipe, getRecipe, recipeForNet, scheduleSpec, totalIterations } from './train/recipe.js';

// data
export { ArrayDataset, type Dataset, type Sample } from './data/dataset.js';
export { FASHION_MNIST_CLASSES, idxDataset } from './data/idx-bytes.js';
export { type BatchData, buildBatch, epochOrder } from './data/batch.js';
export { type Normalization, type TransformSpec, applyTransform } from './data/transforms.js';
export { computeMeanImage } from './data/stats.js';
export { toPlanar } from './data/pixel-layout.js';

// evaluation
export { type EvalResult, evaluate, viewsOf } from './eval/evaluate.js';
export { type LayerResponse, layerResponses } from './experiments/responses.js';
export { type ClassScore, classify } from './eval/classify.js';
export { countWrong } from './eval/scores.js';
export { type DataInfo, type StoredNormalization, DATA_KEY, METRICS_KEY, NORMALIZATION_KEY, decodeNormalization, encodeMeanImage, type InputView, inputView, readTrainedMetadata } from './eval/metadata.js';
