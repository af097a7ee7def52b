// Element-wise ops: addition (the residual sum) and ReLU.

import { type Tensor, emptyLike } from '../tensor/tensor.js';
import { checkSameEngine, checkShape, record } from './record.js';

/** a + b (same shapes). Backward: the gradient flows unchanged to both. */
export function add(a: Tensor, b: Tensor): Tensor {
  checkSameEngine('add', [a, b]);
  checkShape('add', 'b', b, a.shape);
  const y = emptyLike(a);
  a.kernels.add({ a: a.buffer, b: b.buffer, y: y.buffer });
  return record(y, 'add', [a, b], (dy) => [dy, dy]);
}

/** max(x, 0). Backward: dy where the output is positive. */
export function relu(x: Tensor): Tensor {
  const y = emptyLike(x);
  x.kernels.relu({ x: x.buffer, y: y.buffer });
  return record(y, 'relu', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.reluBackward({ y: y.buffer, dy: dy.buffer, dx: dx.buffer });
    return [dx];
  });
}

/** Sum of all elements, as a scalar tensor. Backward: dy broadcast to every element. */
export function sum(x: Tensor): Tensor {
  const y = emptyLike(x, []);
  x.kernels.sum({ x: x.buffer, out: y.buffer });
  return record(y, 'sum', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.fill({ y: dx.buffer, value: dy.item() });
    return [dx];
  });
}

/** x * c for a constant c. */
export function scale(x: Tensor, c: number): Tensor {
  const y = emptyLike(x);
  x.kernels.scale({ x: x.buffer, y: y.buffer, alpha: c });
  return record(y, 'scale', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.scale({ x: dy.buffer, y: dx.buffer, alpha: c });
    return [dx];
  });
}

/** a * b element-wise (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  checkSameEngine('mul', [a, b]);
  checkShape('mul', 'b', b, a.shape);
  const y = emptyLike(a);
  a.kernels.mul({ a: a.buffer, b: b.buffer, y: y.buffer });
  return record(y, 'mul', [a, b], (dy) => {
    const da = emptyLike(a);
    const db = emptyLike(b);
    a.kernels.mul({ a: dy.buffer, b: b.buffer, y: da.buffer });
    a.kernels.mul({ a: dy.buffer, b: a.buffer, y: db.buffer });
    return [da, db];
  });
}
