// 2-D convolution without bias (every ResNet conv is followed by batch norm).

import { type Conv2dShape, outSize } from '../kernels/contract.js';
import { type Tensor, emptyLike, shapeString } from '../tensor/tensor.js';
import { needsGrad } from '../autograd/tape.js';
import { checkRank, checkSameEngine, checkShape, record } from './record.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  /** Added per output channel ([cOut]); inference only (eval mode's folded batch norm). */
  bias?: Tensor;
  /**
   * Added to the output before the ReLU (same shape as the output): a residual block's shortcut,
   * fused into the conv; inference only.
   */
  residual?: Tensor;
  /** A ReLU on the output, fused into the conv; inference only. */
  relu?: boolean;
}

/** x: [n, cIn, h, w], weight: [cOut, cIn, kh, kw] → [n, cOut, hOut, wOut] */
export function conv2d(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  checkSameEngine('conv2d', [x, weight]);
  checkRank('conv2d', 'input', x, 4);
  checkRank('conv2d', 'weight', weight, 4);
  const [n, cIn, h, w] = x.shape;
  const [cOut, wIn, kh, kw] = weight.shape;
  if (wIn !== cIn) {
    throw new Error(`conv2d: input has ${cIn} channels but weight ${shapeString(weight.shape)} expects ${wIn}`);
  }
  const stride = options.stride ?? 1;
  const pad = options.padding ?? 0;
  const dilation = options.dilation ?? 1;
  const hOut = outSize(h, kh, stride, pad, dilation);
  const wOut = outSize(w, kw, stride, pad, dilation);
  if (hOut <= 0 || wOut <= 0) {
    throw new Error(`conv2d: input ${shapeString(x.shape)} is too small for a ${kh}×${kw} kernel with padding ${pad}`);
  }
  const s: Conv2dShape = {
    n, cIn, h, w, cOut, kh, kw, strideH: stride, strideW: stride, padH: pad, padW: pad,
    dilationH: dilation, dilationW: dilation, hOut, wOut,
  };
  const k = x.kernels;
  const y = emptyLike(x, [n, cOut, hOut, wOut]);
  const { bias, residual } = options;
  if (bias || residual || options.relu) {
    if (bias) {
      checkSameEngine('conv2d', [x, bias]);
      checkShape('conv2d', 'bias', bias, [cOut]);
    }
    if (residual) {
      checkSameEngine('conv2d', [x, residual]);
      checkShape('conv2d', 'residual', residual, y.shape);
    }
    if (needsGrad([x, weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])])) {
      throw new Error('conv2d: bias, residual and relu are for inference (eval mode\'s folded batch norm); run it under noGrad, or use batchNorm, add and relu to train');
    }
    k.conv2d({ ...s, x: x.buffer, weight: weight.buffer, y: y.buffer, bias: bias?.buffer, residual: residual?.buffer, relu: options.relu });
    return y;
  }
  k.conv2d({ ...s, x: x.buffer, weight: weight.buffer, y: y.buffer });
  return record(y, 'conv2d', [x, weight], (dy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    if (x.requiresGrad) {
      dx = emptyLike(x);
      k.conv2dBackwardInput({ ...s, dy: dy.buffer, weight: weight.buffer, dx: dx.buffer });
    }
    if (weight.requiresGrad) {
      dw = emptyLike(weight, weight.shape, 'step');
      k.conv2dBackwardWeight({ ...s, dy: dy.buffer, x: x.buffer, dw: dw.buffer });
    }
    return [dx, dw];
  });
}
