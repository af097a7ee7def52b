// The paper's option-A shortcut (Sec. 3.3): identity where shapes agree; where the
// block downsamples and widens, take every stride-th pixel and append zero channels
// after the identity ones (as the Torch reference implementation does). No parameters.

import { type ShortcutAShape, outSize } from '../kernels/contract.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';
import { checkRank, record } from './record.js';

/** x: [n, cIn, h, w] → [n, cOut, ceil(h / stride), ceil(w / stride)], cOut ≥ cIn */
export function shortcutA(x: Tensor, cOut: number, stride: number): Tensor {
  checkRank('shortcutA', 'input', x, 4);
  const [n, cIn, h, w] = x.shape;
  if (cOut < cIn) throw new Error(`shortcutA: cannot shrink ${cIn} channels to ${cOut}`);
  const s: ShortcutAShape = { n, cIn, h, w, cOut, stride, hOut: outSize(h, 1, stride, 0), wOut: outSize(w, 1, stride, 0) };
  const y = emptyLike(x, [n, cOut, s.hOut, s.wOut]);
  x.kernels.shortcutA({ ...s, x: x.buffer, y: y.buffer });
  return record(y, 'shortcutA', [x], (dy) => {
    const dx = emptyLike(x);
    x.kernels.shortcutABackward({ ...s, dy: dy.buffer, dx: dx.buffer });
    return [dx];
  });
}
