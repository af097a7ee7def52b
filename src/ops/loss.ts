// Mean softmax cross-entropy, the paper's classification loss.

import { allocIndices } from '../tensor/engine.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';
import { checkRank, record } from './record.js';

/** logits: [n, classes], labels: n class indices → scalar loss (mean over the batch). */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>): Tensor {
  checkRank('crossEntropy', 'logits', logits, 2);
  const [n, classes] = logits.shape;
  if (labels.length !== n) throw new Error(`crossEntropy: ${labels.length} labels for a batch of ${n}`);
  const labelArray = Int32Array.from(labels);
  for (const l of labelArray) {
    if (l < 0 || l >= classes) throw new Error(`crossEntropy: label ${l} is outside [0, ${classes})`);
  }
  const k = logits.kernels;
  const labelBuffer = allocIndices(k, n, labelArray);
  const probs = emptyLike(logits);
  const loss = emptyLike(logits, []);
  k.softmaxCrossEntropy({ logits: logits.buffer, labels: labelBuffer, probs: probs.buffer, loss: loss.buffer, n, classes });
  return record(loss, 'crossEntropy', [logits], (dloss) => {
    const dlogits = emptyLike(logits);
    k.softmaxCrossEntropyBackward({ probs: probs.buffer, labels: labelBuffer, dloss: dloss.item(), dlogits: dlogits.buffer, n, classes });
    return [dlogits];
  });
}
