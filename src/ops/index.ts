// Every op, forward and backward side by side, written once on the kernel contract.
export { add, mul, relu, scale, sum } from './elementwise.js';
export { conv2d, type Conv2dOptions } from './conv.js';
export { batchNorm, foldBatchNorm, type BatchNormOptions } from './batchnorm.js';
export { globalAvgPool, maxPool2d, type MaxPoolOptions } from './pool.js';
export { linear } from './linear.js';
export { shortcutA } from './shortcut.js';
export { crossEntropy } from './loss.js';
