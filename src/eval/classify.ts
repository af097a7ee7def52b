// Classifying network inputs: class probabilities (softmax) and the top k classes of each. No Node
// API: `predict` (image files, predict.ts) and the browser app (pixels from a canvas) both come here.

import { noGrad } from '../autograd/tape.js';
import type { ResNet } from '../models/resnet.js';
import { endStep } from '../tensor/engine.js';
import { fromArray } from '../tensor/tensor.js';
import { softmax, topK } from './scores.js';

export interface ClassScore {
  index: number;
  label: string;
  probability: number;
}

/**
 * The k most probable classes of each image of `x` [n, c, h, w] (network in eval mode here),
 * largest first; `labels` in class-index order (a missing name reads `class N`).
 */
export function classify(net: ResNet, x: Float32Array, shape: readonly [number, number, number, number], labels: readonly string[], k = 5): ClassScore[][] {
  const classes = net.options.classes;
  const kernels = net.fc.weight.kernels;
  const wasTraining = net.training;
  net.eval();
  let logits: Float32Array;
  try {
    logits = noGrad(() => Float32Array.from(net.forward(fromArray(x, shape, { kernels })).toArray()));
    endStep(kernels);
  } finally {
    net.train(wasTraining);
  }
  return Array.from({ length: shape[0] }, (_, i) => {
    const p = softmax(logits.subarray(i * classes, (i + 1) * classes));
    return topK(p, Math.min(k, classes)).map((index) => ({ index, label: labels[index] ?? `class ${index}`, probability: p[index]! }));
  });
}
