// Pooling: the stem's max pool and the global average pool before the classifier.

import { type Pool2dShape, outSize } from '../kernels/contract.js';
import { allocIndices } from '../tensor/engine.js';
import { type Tensor, emptyLike, shapeString } from '../tensor/tensor.js';
import { checkRank, record } from './record.js';

export interface MaxPoolOptions {
  kernelSize: number;
  stride: number;
  padding: number;
}

/** x: [n, c, h, w] → [n, c, hOut, wOut] */
export function maxPool2d(x: Tensor, options: MaxPoolOptions): Tensor {
  checkRank('maxPool2d', 'input', x, 4);
  const [n, c, h, w] = x.shape;
  const { kernelSize: k, stride, padding: pad } = options;
  if (pad * 2 > k) throw new Error(`maxPool2d: padding ${pad} must be at most half the kernel size ${k}`);
  const s: Pool2dShape = { n, c, h, w, k, stride, pad, hOut: outSize(h, k, stride, pad), wOut: outSize(w, k, stride, pad) };
  if (s.hOut <= 0 || s.wOut <= 0) throw new Error(`maxPool2d: input ${shapeString(x.shape)} is too small`);
  const y = emptyLike(x, [n, c, s.hOut, s.wOut]);
  const argmax = allocIndices(x.kernels, y.size);
  x.kernels.maxPool2d({ ...s, x: x.buffer, y: y.buffer, argmax });
  return record(y, 'maxPool2d', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.maxPool2dBackward({ ...s, dy: dy.buffer, argmax, dx: dx.buffer });
    return [dx];
  });
}

/** x: [n, c, h, w] → [n, c]: the mean of each feature map (global average pool, then flatten). */
export function globalAvgPool(x: Tensor): Tensor {
  checkRank('globalAvgPool', 'input', x, 4);
  const [n, c, h, w] = x.shape;
  const shape = { n, c, hw: h * w };
  const y = emptyLike(x, [n, c]);
  x.kernels.globalAvgPool({ ...shape, x: x.buffer, y: y.buffer });
  return record(y, 'globalAvgPool', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.globalAvgPoolBackward({ ...shape, dy: dy.buffer, dx: dx.buffer });
    return [dx];
  });
}
