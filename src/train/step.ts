// The training step, with no Node API: `train()` (loop.ts) and the browser app's worker run it.

import type { BatchData } from '../data/batch.js';
import { countWrong } from '../eval/scores.js';
import type { ResNet } from '../models/resnet.js';
import { crossEntropy } from '../ops/index.js';
import type { SGD } from '../optim/sgd.js';
import { endStep } from '../tensor/engine.js';
import { fromArray } from '../tensor/tensor.js';

/**
 * One training step on a batch: forward, loss, backward, the SGD update at `opt.lr` (which ends the
 * step: its tensors are released, so the loss and the logits are read before). A NaN or infinite
 * loss ends the step without an update. Returns the loss and the number of wrong predictions.
 */
export function sgdStep(net: ResNet, opt: SGD, batch: BatchData): { loss: number; wrong: number } {
  const k = net.fc.weight.kernels;
  const logits = net.forward(fromArray(batch.x, [batch.n, batch.channels, batch.height, batch.width], { kernels: k }));
  const loss = crossEntropy(logits, batch.labels);
  const value = loss.item();
  if (!Number.isFinite(value)) {
    endStep(k);
    return { loss: value, wrong: batch.n };
  }
  const wrong = countWrong(logits.toArray(), batch.labels, net.options.classes);
  loss.backward();
  opt.step();
  return { loss: value, wrong };
}
