// The reference kernel set: plain TypeScript, written to be read.
//
// This set is the living definition of every kernel in the contract; faster sets
// are tested against it. It computes in float32 or float64 (the latter for
// finite-difference gradient checks). Convolution is im2col followed by a
// blocked matrix multiply so that a ResNet-18 forward takes seconds, not minutes.

import type { BatchNormShape, Buffer, Conv2dShape, DType, HostArray, IndexBuffer, KernelSet, Pool2dShape, ShortcutAShape } from '../contract.js';

export interface RefBuffer extends Buffer {
  readonly data: HostArray;
}

export interface RefIndexBuffer extends IndexBuffer {
  readonly data: Int32Array;
}

function makeArray(length: number, dtype: DType): HostArray {
  return dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
}

function buf(length: number, dtype: DType): RefBuffer {
  return { length, dtype, data: makeArray(length, dtype) };
}

// ---------------------------------------------------------------- matmul

const BLOCK_K = 128;
const BLOCK_N = 512;

/**
 * c[m, n] = beta * c + op(a) · op(b). The inner loop always runs along a
 * contiguous row of b (b is transposed into a scratch copy first when transB),
 * and k and n are blocked so that the rows of b being reused stay in cache.
 */
function matmul(a: HostArray, b: HostArray, c: HostArray, m: number, n: number, k: number,
  transA: boolean, transB: boolean, beta: 0 | 1): void {
  if (beta === 0) c.fill(0, 0, m * n);
  let bRows = b; // bRows: [k, n]
  if (transB) {
    bRows = makeArray(k * n, b instanceof Float64Array ? 'float64' : 'float32');
    for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) bRows[p * n + j] = b[j * k + p];
  }
  for (let p0 = 0; p0 < k; p0 += BLOCK_K) {
    const p1 = Math.min(k, p0 + BLOCK_K);
    for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
      const j1 = Math.min(n, j0 + BLOCK_N);
      for (let i = 0; i < m; i++) {
        const cRow = i * n;
        for (let p = p0; p < p1; p++) {
          const aip = transA ? a[p * m + i] : a[i * k + p];
          const bRow = p * n;
          for (let j = j0; j < j1; j++) c[cRow + j] += aip * bRows[bRow + j];
        }
      }
    }
  }
}

// ---------------------------------------------------------------- convolution

/** col: [cIn * kh * kw, hOut * wOut] for image `img` of x. */
function im2col(x: HostArray, col: HostArray, img: number, s: Conv2dShape): void {
  const { cIn, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, hOut, wOut } = s;
  const plane = h * w;
  let row = 0;
  for (let c = 0; c < cIn; c++) {
    const xBase = (img * cIn + c) * plane;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, row++) {
        const colBase = row * hOut * wOut;
        for (let oi = 0; oi < hOut; oi++) {
          const ii = oi * strideH - padH + ki * dilationH;
          for (let oj = 0; oj < wOut; oj++) {
            const jj = oj * strideW - padW + kj * dilationW;
            const inside = ii >= 0 && ii < h && jj >= 0 && jj < w;
            col[colBase + oi * wOut + oj] = inside ? x[xBase + ii * w + jj] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds col back into image `img` of dx. */
function col2im(col: HostArray, dx: HostArray, img: number, s: Conv2dShape): void {
  const { cIn, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, hOut, wOut } = s;
  const plane = h * w;
  let row = 0;
  for (let c = 0; c < cIn; c++) {
    const xBase = (img * cIn + c) * plane;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, row++) {
        const colBase = row * hOut * wOut;
        for (let oi = 0; oi < hOut; oi++) {
          const ii = oi * strideH - padH + ki * dilationH;
          if (ii < 0 || ii >= h) continue;
          for (let oj = 0; oj < wOut; oj++) {
            const jj = oj * strideW - padW + kj * dilationW;
            if (jj >= 0 && jj < w) dx[xBase + ii * w + jj] += col[colBase + oi * wOut + oj];
          }
        }
      }
    }
  }
}

function conv2d(x: HostArray, wt: HostArray, y: HostArray, s: Conv2dShape): void {
  const K = s.cIn * s.kh * s.kw;
  const HW = s.hOut * s.wOut;
  const col = makeArray(K * HW, y instanceof Float64Array ? 'float64' : 'float32');
  for (let img = 0; img < s.n; img++) {
    im2col(x, col, img, s);
    // y_img [cOut, HW] = w [cOut, K] · col [K, HW]
    const yImg = y.subarray(img * s.cOut * HW, (img + 1) * s.cOut * HW);
    matmul(wt, col, yImg, s.cOut, HW, K, false, false, 0);
  }
}

/**
 * y[img, c, i] = max(y + bias[c] + residual[img, c, i], 0): the conv's optional epilogue (no bias
 * or residual: 0; no relu: no clamp).
 */
function biasRelu(y: HostArray, bias: HostArray | undefined, residual: HostArray | undefined, s: Conv2dShape, relu: boolean): void {
  const plane = s.hOut * s.wOut;
  for (let img = 0; img < s.n; img++) {
    for (let c = 0; c < s.cOut; c++) {
      const b = bias ? bias[c] : 0;
      const base = (img * s.cOut + c) * plane;
      for (let i = base; i < base + plane; i++) {
        const v = y[i] + b + (residual ? residual[i] : 0);
        y[i] = relu && !(v > 0) ? 0 : v;
      }
    }
  }
}

function conv2dBackwardInput(dy: HostArray, wt: HostArray, dx: HostArray, s: Conv2dShape): void {
  const K = s.cIn * s.kh * s.kw;
  const HW = s.hOut * s.wOut;
  const col = makeArray(K * HW, dx instanceof Float64Array ? 'float64' : 'float32');
  dx.fill(0, 0, s.n * s.cIn * s.h * s.w);
  for (let img = 0; img < s.n; img++) {
    // dcol [K, HW] = wᵀ [K, cOut] · dy_img [cOut, HW]
    const dyImg = dy.subarray(img * s.cOut * HW, (img + 1) * s.cOut * HW);
    matmul(wt, dyImg, col, K, HW, s.cOut, true, false, 0);
    col2im(col, dx, img, s);
  }
}

function conv2dBackwardWeight(dy: HostArray, x: HostArray, dw: HostArray, s: Conv2dShape): void {
  const K = s.cIn * s.kh * s.kw;
  const HW = s.hOut * s.wOut;
  const col = makeArray(K * HW, dw instanceof Float64Array ? 'float64' : 'float32');
  dw.fill(0, 0, s.cOut * K);
  for (let img = 0; img < s.n; img++) {
    im2col(x, col, img, s);
    // dw [cOut, K] += dy_img [cOut, HW] · colᵀ [HW, K]
    const dyImg = dy.subarray(img * s.cOut * HW, (img + 1) * s.cOut * HW);
    matmul(dyImg, col, dw, s.cOut, K, HW, false, true, 1);
  }
}

// ---------------------------------------------------------------- batch norm

/** Calls f(base) for the start of every [hw] run of channel c in x: [n, c, hw]. */
function forEachRun(s: BatchNormShape, c: number, f: (base: number) => void): void {
  for (let img = 0; img < s.n; img++) f((img * s.c + c) * s.hw);
}

function batchNormTrain(p: BatchNormShape & {
  x: HostArray; gamma: HostArray; beta: HostArray; y: HostArray; mean: HostArray; invStd: HostArray;
  runningMean: HostArray; runningVar: HostArray; momentum: number; residual?: HostArray; relu?: boolean;
}): void {
  const count = p.n * p.hw;
  for (let c = 0; c < p.c; c++) {
    let sum = 0;
    forEachRun(p, c, (base) => { for (let i = 0; i < p.hw; i++) sum += p.x[base + i]; });
    const mean = sum / count;
    let sq = 0;
    forEachRun(p, c, (base) => { for (let i = 0; i < p.hw; i++) { const d = p.x[base + i] - mean; sq += d * d; } });
    const variance = sq / count; // biased: used to normalize
    const invStd = 1 / Math.sqrt(variance + p.eps);
    p.mean[c] = mean;
    p.invStd[c] = invStd;
    const unbiased = count > 1 ? sq / (count - 1) : variance;
    p.runningMean[c] = (1 - p.momentum) * p.runningMean[c] + p.momentum * mean;
    p.runningVar[c] = (1 - p.momentum) * p.runningVar[c] + p.momentum * unbiased;
    const g = p.gamma[c] * invStd;
    const b = p.beta[c] - mean * g;
    forEachRun(p, c, (base) => { for (let i = 0; i < p.hw; i++) p.y[base + i] = p.x[base + i] * g + b; });
  }
  residualRelu(p.y, p.residual, p.relu ?? false);
}

/** y = max(y + residual, 0): the fused end of a residual block (each part optional). */
function residualRelu(y: HostArray, residual: HostArray | undefined, relu: boolean): void {
  for (let i = 0; i < y.length; i++) {
    const v = residual ? y[i] + residual[i] : y[i];
    y[i] = relu && !(v > 0) ? 0 : v;
  }
}

function batchNormEval(p: BatchNormShape & {
  x: HostArray; gamma: HostArray; beta: HostArray; y: HostArray; runningMean: HostArray; runningVar: HostArray;
  relu: boolean; residual?: HostArray;
}): void {
  for (let c = 0; c < p.c; c++) {
    const g = p.gamma[c] / Math.sqrt(p.runningVar[c] + p.eps);
    const b = p.beta[c] - p.runningMean[c] * g;
    forEachRun(p, c, (base) => { for (let i = 0; i < p.hw; i++) p.y[base + i] = p.x[base + i] * g + b; });
  }
  residualRelu(p.y, p.residual, p.relu);
}

/**
 * With x̂ = (x - mean) * invStd and m = n * hw elements per channel:
 * dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invStd/m · (m·dy − dβ − x̂·dγ).
 */
function batchNormBackward(p: BatchNormShape & {
  x: HostArray; dy: HostArray; gamma: HostArray; mean: HostArray; invStd: HostArray;
  dx: HostArray; dgamma: HostArray; dbeta: HostArray; y?: HostArray; dresidual?: HostArray; dy2?: HostArray;
}): void {
  const count = p.n * p.hw;
  if (p.dy2) { // the two terms of the gradient added first (the plain add)
    const sum = p.dy.slice();
    for (let i = 0; i < sum.length; i++) sum[i] += p.dy2[i];
    p = { ...p, dy: sum };
  }
  if (p.y) { // through the fused ReLU first (the plain reluBackward, then the plain BN backward)
    const masked = p.dy.slice();
    for (let i = 0; i < masked.length; i++) if (!(p.y[i] > 0)) masked[i] = 0;
    p = { ...p, dy: masked };
  }
  if (p.dresidual) p.dresidual.set(p.dy);
  for (let c = 0; c < p.c; c++) {
    const mean = p.mean[c];
    const invStd = p.invStd[c];
    let dbeta = 0;
    let dgamma = 0;
    forEachRun(p, c, (base) => {
      for (let i = 0; i < p.hw; i++) {
        dbeta += p.dy[base + i];
        dgamma += p.dy[base + i] * (p.x[base + i] - mean) * invStd;
      }
    });
    p.dbeta[c] = dbeta;
    p.dgamma[c] = dgamma;
    const k = p.gamma[c] * invStd / count;
    forEachRun(p, c, (base) => {
      for (let i = 0; i < p.hw; i++) {
        const xhat = (p.x[base + i] - mean) * invStd;
        p.dx[base + i] = k * (count * p.dy[base + i] - dbeta - xhat * dgamma);
      }
    });
  }
}

// ---------------------------------------------------------------- pooling

function maxPool2d(x: HostArray, y: HostArray, argmax: Int32Array, s: Pool2dShape): void {
  for (let plane = 0; plane < s.n * s.c; plane++) {
    const xBase = plane * s.h * s.w;
    const yBase = plane * s.hOut * s.wOut;
    for (let oi = 0; oi < s.hOut; oi++) {
      for (let oj = 0; oj < s.wOut; oj++) {
        let best = -Infinity;
        let bestIdx = -1;
        for (let ki = 0; ki < s.k; ki++) {
          const ii = oi * s.stride - s.pad + ki;
          if (ii < 0 || ii >= s.h) continue;
          for (let kj = 0; kj < s.k; kj++) {
            const jj = oj * s.stride - s.pad + kj;
            if (jj < 0 || jj >= s.w) continue;
            const v = x[xBase + ii * s.w + jj];
            if (v > best || bestIdx < 0 || Number.isNaN(v)) { best = v; bestIdx = ii * s.w + jj; }
          }
        }
        y[yBase + oi * s.wOut + oj] = best;
        argmax[yBase + oi * s.wOut + oj] = bestIdx;
      }
    }
  }
}

function maxPool2dBackward(dy: HostArray, argmax: Int32Array, dx: HostArray, s: Pool2dShape): void {
  dx.fill(0, 0, s.n * s.c * s.h * s.w);
  for (let plane = 0; plane < s.n * s.c; plane++) {
    const xBase = plane * s.h * s.w;
    const yBase = plane * s.hOut * s.wOut;
    for (let o = 0; o < s.hOut * s.wOut; o++) dx[xBase + argmax[yBase + o]] += dy[yBase + o];
  }
}

// ---------------------------------------------------------------- option-A shortcut

function shortcutA(x: HostArray, y: HostArray, s: ShortcutAShape): void {
  for (let img = 0; img < s.n; img++) {
    for (let c = 0; c < s.cOut; c++) {
      const yBase = (img * s.cOut + c) * s.hOut * s.wOut;
      const xBase = (img * s.cIn + c) * s.h * s.w;
      for (let oi = 0; oi < s.hOut; oi++) {
        for (let oj = 0; oj < s.wOut; oj++) {
          y[yBase + oi * s.wOut + oj] = c < s.cIn ? x[xBase + oi * s.stride * s.w + oj * s.stride] : 0;
        }
      }
    }
  }
}

function shortcutABackward(dy: HostArray, dx: HostArray, s: ShortcutAShape): void {
  dx.fill(0, 0, s.n * s.cIn * s.h * s.w);
  for (let img = 0; img < s.n; img++) {
    for (let c = 0; c < s.cIn; c++) {
      const yBase = (img * s.cOut + c) * s.hOut * s.wOut;
      const xBase = (img * s.cIn + c) * s.h * s.w;
      for (let oi = 0; oi < s.hOut; oi++) {
        for (let oj = 0; oj < s.wOut; oj++) {
          dx[xBase + oi * s.stride * s.w + oj * s.stride] = dy[yBase + oi * s.wOut + oj];
        }
      }
    }
  }
}

// ---------------------------------------------------------------- loss

function checkLabel(label: number, classes: number): void {
  if (!(label >= 0 && label < classes)) throw new RangeError(`label ${label} is outside [0, ${classes})`);
}

function softmaxCrossEntropy(logits: HostArray, labels: Int32Array, probs: HostArray, loss: HostArray, n: number, classes: number): void {
  let total = 0;
  for (let i = 0; i < n; i++) {
    checkLabel(labels[i], classes);
    const row = i * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(logits[row + j] - max);
    const logSum = max + Math.log(sum);
    for (let j = 0; j < classes; j++) probs[row + j] = Math.exp(logits[row + j] - logSum);
    total += logSum - logits[row + labels[i]];
  }
  loss[0] = total / n;
}

// ---------------------------------------------------------------- the set

export const refKernels: KernelSet<RefBuffer, RefIndexBuffer> = {
  name: 'ref',
  dtypes: ['float32', 'float64'],

  alloc: (length, dtype) => buf(length, dtype),
  write: (dst, src) => {
    if (src.length !== dst.length) throw new RangeError(`write: ${src.length} values into a buffer of ${dst.length}`);
    dst.data.set(src);
  },
  read: (src) => src.data.slice(),
  endStep: () => { /* garbage collected */ },
  free: () => { /* garbage collected */ },
  allocIndices: (length) => ({ length, dtype: 'int32', data: new Int32Array(length) }),
  readIndices: (src) => src.data.slice(),
  writeIndices: (dst, src) => {
    if (src.length !== dst.length) throw new RangeError(`writeIndices: ${src.length} values into a buffer of ${dst.length}`);
    dst.data.set(src);
  },

  fill: ({ y, value }) => { y.data.fill(value); },
  copy: ({ x, y }) => { y.data.set(x.data); },
  add: ({ a, b, y }) => { for (let i = 0; i < y.length; i++) y.data[i] = a.data[i] + b.data[i]; },
  axpy: ({ x, y, alpha }) => { for (let i = 0; i < y.length; i++) y.data[i] += alpha * x.data[i]; },
  scale: ({ x, y, alpha }) => { for (let i = 0; i < y.length; i++) y.data[i] = alpha * x.data[i]; },
  mul: ({ a, b, y }) => { for (let i = 0; i < y.length; i++) y.data[i] = a.data[i] * b.data[i]; },
  relu: ({ x, y }) => { for (let i = 0; i < y.length; i++) y.data[i] = x.data[i] > 0 ? x.data[i] : 0; },
  reluBackward: ({ y, dy, dx }) => { for (let i = 0; i < dx.length; i++) dx.data[i] = y.data[i] > 0 ? dy.data[i] : 0; },
  sum: ({ x, out }) => { let s = 0; for (let i = 0; i < x.length; i++) s += x.data[i]; out.data[0] = s; },

  matmul: (p) => matmul(p.a.data, p.b.data, p.c.data, p.m, p.n, p.k, p.transA, p.transB, p.beta),
  addBiasRows: ({ y, bias, rows, cols }) => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) y.data[i * cols + j] += bias.data[j];
  },
  sumRows: ({ dy, db, rows, cols }) => {
    db.data.fill(0);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) db.data[j] += dy.data[i * cols + j];
  },

  conv2d: (p) => {
    conv2d(p.x.data, p.weight.data, p.y.data, p);
    if (p.bias || p.residual || p.relu) biasRelu(p.y.data, p.bias?.data, p.residual?.data, p, p.relu ?? false);
  },
  conv2dBackwardInput: (p) => conv2dBackwardInput(p.dy.data, p.weight.data, p.dx.data, p),
  conv2dBackwardWeight: (p) => conv2dBackwardWeight(p.dy.data, p.x.data, p.dw.data, p),

  batchNormTrain: (p) => batchNormTrain({
    ...p, x: p.x.data, gamma: p.gamma.data, beta: p.beta.data, y: p.y.data, mean: p.mean.data,
    invStd: p.invStd.data, runningMean: p.runningMean.data, runningVar: p.runningVar.data, residual: p.residual?.data,
  }),
  batchNormEval: (p) => batchNormEval({
    ...p, x: p.x.data, gamma: p.gamma.data, beta: p.beta.data, y: p.y.data,
    runningMean: p.runningMean.data, runningVar: p.runningVar.data, residual: p.residual?.data,
  }),
  batchNormBackward: (p) => batchNormBackward({
    ...p, x: p.x.data, dy: p.dy.data, gamma: p.gamma.data, mean: p.mean.data, invStd: p.invStd.data,
    dx: p.dx.data, dgamma: p.dgamma.data, dbeta: p.dbeta.data, y: p.y?.data, dresidual: p.dresidual?.data, dy2: p.dy2?.data,
  }),

  maxPool2d: (p) => maxPool2d(p.x.data, p.y.data, p.argmax.data, p),
  maxPool2dBackward: (p) => maxPool2dBackward(p.dy.data, p.argmax.data, p.dx.data, p),
  globalAvgPool: ({ x, y, n, c, hw }) => {
    for (let plane = 0; plane < n * c; plane++) {
      let s = 0;
      for (let i = 0; i < hw; i++) s += x.data[plane * hw + i];
      y.data[plane] = s / hw;
    }
  },
  globalAvgPoolBackward: ({ dy, dx, n, c, hw }) => {
    for (let plane = 0; plane < n * c; plane++) dx.data.fill(dy.data[plane] / hw, plane * hw, (plane + 1) * hw);
  },

  shortcutA: (p) => shortcutA(p.x.data, p.y.data, p),
  shortcutABackward: (p) => shortcutABackward(p.dy.data, p.dx.data, p),

  softmaxCrossEntropy: (p) => softmaxCrossEntropy(p.logits.data, p.labels.data, p.probs.data, p.loss.data, p.n, p.classes),
  softmaxCrossEntropyBackward: ({ probs, labels: { data: labels }, dloss, dlogits, n, classes }) => {
    const k = dloss / n;
    for (let i = 0; i < n; i++) {
      checkLabel(labels[i], classes);
      for (let j = 0; j < classes; j++) {
        const idx = i * classes + j;
        dlogits.data[idx] = k * (probs.data[idx] - (j === labels[i] ? 1 : 0));
      }
    }
  },

  sgdStep: ({ param, grad, momentumBuf, lr, momentum, dampening, weightDecay, nesterov, firstStep }) => {
    const p = param.data, g = grad.data, b = momentumBuf.data;
    for (let i = 0; i < p.length; i++) {
      let d = g[i] + weightDecay * p[i];
      if (momentum !== 0) {
        b[i] = firstStep ? d : momentum * b[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * b[i] : b[i];
      }
      p[i] -= lr * d;
    }
  },
};
