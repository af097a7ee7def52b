// The fully connected classifier: y = x · Wᵀ + b.

import { type Tensor, emptyLike, shapeString } from '../tensor/tensor.js';
import { checkRank, checkSameEngine, checkShape, record } from './record.js';

/** x: [n, in], weight: [out, in], bias: [out] → [n, out] */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  checkSameEngine('linear', bias ? [x, weight, bias] : [x, weight]);
  checkRank('linear', 'input', x, 2);
  checkRank('linear', 'weight', weight, 2);
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (wIn !== inF) throw new Error(`linear: input ${shapeString(x.shape)} does not fit weight ${shapeString(weight.shape)}`);
  if (bias) checkShape('linear', 'bias', bias, [outF]);
  const k = x.kernels;
  const y = emptyLike(x, [n, outF]);
  k.matmul({ a: x.buffer, b: weight.buffer, c: y.buffer, m: n, n: outF, k: inF, transA: false, transB: true, beta: 0 });
  if (bias) k.addBiasRows({ y: y.buffer, bias: bias.buffer, rows: n, cols: outF });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, 'linear', inputs, (dy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) { // dx [n, in] = dy [n, out] · W [out, in]
      dx = emptyLike(x);
      k.matmul({ a: dy.buffer, b: weight.buffer, c: dx.buffer, m: n, n: inF, k: outF, transA: false, transB: false, beta: 0 });
    }
    if (weight.requiresGrad) { // dW [out, in] = dyᵀ [out, n] · x [n, in]
      dw = emptyLike(weight, weight.shape, 'step');
      k.matmul({ a: dy.buffer, b: x.buffer, c: dw.buffer, m: outF, n: inF, k: n, transA: true, transB: false, beta: 0 });
    }
    if (bias?.requiresGrad) { // db [out] = Σ over rows of dy
      db = emptyLike(bias, bias.shape, 'step');
      k.sumRows({ dy: dy.buffer, db: db.buffer, rows: n, cols: outF });
    }
    return [dx, dw, db];
  });
}
