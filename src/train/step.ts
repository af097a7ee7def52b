// The training step, with no Node API: `train()` (loop.ts) and the browser app's worker run it.

import type { BatchData } from '../data/batch.js';
import { LibraryError } from '../io/errors.js';
import { countWrong } from '../eval/scores.js';
import type { ResNet } from '../models/resnet.js';
import { crossEntropy } from '../ops/index.js';
import type { SGD } from '../optim/sgd.js';
import { endStep } from '../tensor/engine.js';
import { fromArray } from '../tensor/tensor.js';
import { type GradientAccumulator, microBatches } from './accumulate.js';

/**
 * One training step on a batch: forward, loss, backward for each micro-batch (one, the batch
 * itself, unless `accumulator` sums the gradients of several: train/accumulate.ts), then the SGD
 * update at `opt.lr` (which ends the step: its tensors are released, so the loss and the logits
 * are read before). A NaN or infinite loss ends the step without an update. Returns the loss
 * (the batch mean) and the number of wrong predictions.
 */
export function sgdStep(net: ResNet, opt: SGD, batch: BatchData, microBatch = batch.n, accumulator: GradientAccumulator | null = null):
  { loss: number; wrong: number } {
  const k = net.fc.weight.kernels;
  const per = batch.channels * batch.height * batch.width;
  const parts = microBatches(batch.n, accumulator ? microBatch : batch.n);
  let total = 0;
  let wrong = 0;
  for (const [a, b] of parts) {
    const x = fromArray(batch.x.subarray(a * per, b * per), [b - a, batch.channels, batch.height, batch.width], { kernels: k });
    const logits = withMemoryHint(() => net.forward(x), b - a);
    const labels = batch.labels.subarray(a, b);
    const loss = crossEntropy(logits, labels);
    const value = loss.item();
    if (!Number.isFinite(value)) {
      endStep(k);
      return { loss: value, wrong: batch.n };
    }
    total = parts.length === 1 ? value : total + (value * (b - a)) / batch.n;
    wrong += countWrong(logits.toArray(), labels, net.options.classes);
    withMemoryHint(() => loss.backward(), b - a);
    accumulator?.add((b - a) / batch.n); // ends the micro-batch: its activations are released
  }
  accumulator?.apply();
  opt.step();
  return { loss: total, wrong };
}

/** Runs a step's part; the wasm kernels' out-of-memory error then says what to change. */
function withMemoryHint<T>(fn: () => T, images: number): T {
  try {
    return fn();
  } catch (e) {
    if (!/out of memory/i.test((e as Error).message)) throw e;
    throw new LibraryError((n) => `${(e as Error).message} with ${images} images per pass: lower ${n.option('microBatch')} ` +
      `(or ${n.option('batchSize')}) or train on smaller images; ${n.option('microBatch', "'auto'")} (the default) picks a micro-batch that fits the estimate`);
  }
}
