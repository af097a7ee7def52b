// The kernel contract: what every kernel set implements.
//
// Kernels know no tensors and no autograd. They take buffers owned by their own
// set and named shape fields, and write their results into buffers that the
// caller allocated. Gradients are written once, in src/ops/, on top of these
// kernels, so a kernel set that implements this interface trains.
//
// Layouts: activations are NCHW, convolution weights OIHW, linear weights
// [out, in], all row-major. Every kernel must support float32 buffers; the
// reference set also supports float64 (used by finite-difference checks).

export type DType = 'float32' | 'float64';
export type HostArray = Float32Array | Float64Array;

/** A flat array of numbers owned by a kernel set. */
export interface Buffer {
  readonly length: number;
  readonly dtype: DType;
}

/** A flat array of int32 indices owned by a kernel set: pooling's argmax, a batch's labels. */
export interface IndexBuffer {
  readonly length: number;
  readonly dtype: 'int32';
}

/** How long a buffer lives: until the end of the training step, or until dropped. */
export type Lifetime = 'step' | 'persistent';

export interface Conv2dShape {
  n: number; cIn: number; h: number; w: number; // input  x: [n, cIn, h, w]
  cOut: number; kh: number; kw: number; //         weight w: [cOut, cIn, kh, kw]
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilationH: number; dilationW: number;
  hOut: number; wOut: number; //                   output y: [n, cOut, hOut, wOut]
}

export interface Pool2dShape {
  n: number; c: number; h: number; w: number; // x: [n, c, h, w]
  k: number; stride: number; pad: number;
  hOut: number; wOut: number; //                 y: [n, c, hOut, wOut]
}

/** Batch norm over N, H, W for each of C channels: x is [n, c, hw] in memory. */
export interface BatchNormShape {
  n: number; c: number; hw: number;
  eps: number;
}

/** Option-A shortcut: subsample by `stride`, then append zero channels after the identity ones. */
export interface ShortcutAShape {
  n: number; cIn: number; h: number; w: number; // x: [n, cIn, h, w]
  cOut: number; stride: number; hOut: number; wOut: number; // y: [n, cOut, hOut, wOut]
}

export interface KernelSet<B extends Buffer = Buffer, I extends IndexBuffer = IndexBuffer> {
  readonly name: string;
  /** The float types this set computes in. */
  readonly dtypes: readonly DType[];

  // ---- memory ----
  alloc(length: number, dtype: DType, lifetime: Lifetime): B;
  /** Copies host data into a buffer of the same length. */
  write(dst: B, src: ArrayLike<number>): void;
  /** Copies a buffer out to a new host array of its dtype. */
  read(src: B): HostArray;
  /** Ends a training step: every 'step' buffer allocated since the last call may be reused. */
  endStep(): void;
  /**
   * Frees a buffer now: a persistent one for good; a step one for the rest of its step, whose later
   * allocations may reuse its memory (inference and the backward pass release each map once read).
   * Optional for the user: step buffers all go at endStep(). A buffer must not be used after free().
   */
  free(buf: B): void;
  /** An index buffer (its contents are undefined until written). */
  allocIndices(length: number, lifetime: Lifetime): I;
  /** Copies host integers into an index buffer of the same length. */
  writeIndices(dst: I, src: ArrayLike<number>): void;
  /** Copies an index buffer out to a new Int32Array. */
  readIndices(src: I): Int32Array;

  // ---- element-wise ----
  fill(p: { y: B; value: number }): void;
  copy(p: { x: B; y: B }): void;
  /** y = a + b */
  add(p: { a: B; b: B; y: B }): void;
  /** y += alpha * x (gradient accumulation, weight decay) */
  axpy(p: { x: B; y: B; alpha: number }): void;
  /** y = alpha * x */
  scale(p: { x: B; y: B; alpha: number }): void;
  /** y = a * b, element-wise */
  mul(p: { a: B; b: B; y: B }): void;
  /** y = max(x, 0) */
  relu(p: { x: B; y: B }): void;
  /** dx = dy where y > 0, else 0 (y is the ReLU output) */
  reluBackward(p: { y: B; dy: B; dx: B }): void;
  /** out[0] = sum of x */
  sum(p: { x: B; out: B }): void;

  // ---- matrix multiply ----
  /**
   * c[m, n] = beta * c + op(a) · op(b), where op(a) is [m, k] and op(b) is [k, n].
   * a is stored [m, k] (or [k, m] when transA), b is stored [k, n] (or [n, k] when transB).
   */
  matmul(p: { a: B; b: B; c: B; m: number; n: number; k: number; transA: boolean; transB: boolean; beta: 0 | 1 }): void;
  /** y[i, j] += bias[j] for y: [rows, cols] */
  addBiasRows(p: { y: B; bias: B; rows: number; cols: number }): void;
  /** db[j] = sum over rows of dy[i, j] for dy: [rows, cols] */
  sumRows(p: { dy: B; db: B; rows: number; cols: number }): void;

  // ---- convolution ----
  /**
   * y = conv(x, weight), then + bias[c] on every pixel of output channel c when `bias` ([cOut]) is
   * given, then + `residual` (same shape as y) when given, then max(·, 0) when `relu` (eval mode
   * folds batch norm, a block's shortcut and its ReLU into these; ResNet convs have no bias of
   * their own). `residual` must not be y itself. The weight buffer is named `weight` because `w`
   * is the input width.
   */
  conv2d(p: Conv2dShape & { x: B; weight: B; y: B; bias?: B; residual?: B; relu?: boolean }): void;
  /** dx = conv_transpose(dy, w); overwrites dx */
  conv2dBackwardInput(p: Conv2dShape & { dy: B; weight: B; dx: B }): void;
  /** dw = correlation of x with dy; overwrites dw */
  conv2dBackwardWeight(p: Conv2dShape & { dy: B; x: B; dw: B }): void;

  // ---- batch norm ----
  // Each BN kernel can end a residual block in one pass: y = max(bn(x) + residual, 0), with
  // `residual` (same shape as x) and the ReLU both optional.
  /**
   * Training mode: normalize with the batch mean and biased variance; save mean and
   * invStd = 1/sqrt(var + eps) for the backward pass; update the running statistics
   * in place with `momentum` using the unbiased variance (PyTorch's rule); then add
   * `residual` and apply a ReLU when given.
   * x, y, residual: [n, c, hw]; gamma, beta, mean, invStd, runningMean, runningVar: [c].
   */
  batchNormTrain(p: BatchNormShape & {
    x: B; gamma: B; beta: B; y: B; mean: B; invStd: B;
    runningMean: B; runningVar: B; momentum: number; residual?: B; relu?: boolean;
  }): void;
  /** Eval mode with the running statistics; then + `residual` when given, then ReLU when `relu`. */
  batchNormEval(p: BatchNormShape & {
    x: B; gamma: B; beta: B; y: B; runningMean: B; runningVar: B; relu: boolean; residual?: B;
  }): void;
  /**
   * Training-mode backward; overwrites dx, dgamma, dbeta. With `y` (the output of a fused ReLU),
   * dy counts only where y > 0; `dresidual`, when given, receives that gradient as it reaches the
   * residual (dy, or dy + dy2 when given, masked by the ReLU, or as it is without one). With `dy2`, the gradient of y is
   * dy + dy2 (y feeds two ops).
   */
  batchNormBackward(p: BatchNormShape & {
    x: B; dy: B; gamma: B; mean: B; invStd: B; dx: B; dgamma: B; dbeta: B; y?: B; dresidual?: B; dy2?: B;
  }): void;

  // ---- pooling ----
  /** Max pool; argmax[i] is the flat input index (within its n, c plane) of y[i]. */
  maxPool2d(p: Pool2dShape & { x: B; y: B; argmax: I }): void;
  /** Overwrites dx. */
  maxPool2dBackward(p: Pool2dShape & { dy: B; argmax: I; dx: B }): void;
  /** y[n, c] = mean over h, w of x[n, c, h, w]; x: [n, c, hw] */
  globalAvgPool(p: { x: B; y: B; n: number; c: number; hw: number }): void;
  /** dx[n, c, i] = dy[n, c] / hw; overwrites dx */
  globalAvgPoolBackward(p: { dy: B; dx: B; n: number; c: number; hw: number }): void;

  // ---- option-A shortcut ----
  shortcutA(p: ShortcutAShape & { x: B; y: B }): void;
  /** Overwrites dx. */
  shortcutABackward(p: ShortcutAShape & { dy: B; dx: B }): void;

  // ---- loss ----
  /**
   * Mean softmax cross-entropy over n rows of `classes` logits. Writes loss[0]
   * and the softmax probabilities (kept for the backward pass).
   */
  softmaxCrossEntropy(p: { logits: B; labels: I; probs: B; loss: B; n: number; classes: number }): void;
  /** dlogits = (probs - onehot(labels)) * dloss / n */
  softmaxCrossEntropyBackward(p: { probs: B; labels: I; dloss: number; dlogits: B; n: number; classes: number }): void;

  // ---- optimizer ----
  /**
   * SGD with PyTorch semantics: g = grad + weightDecay * param;
   * buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);
   * g = nesterov ? g + momentum * buf : buf; param -= lr * g.
   */
  sgdStep(p: {
    param: B; grad: B; momentumBuf: B; lr: number; momentum: number;
    dampening: number; weightDecay: number; nesterov: boolean; firstStep: boolean;
  }): void;
}

/** Output size of a convolution or pooling window along one axis (PyTorch's formula). */
export function outSize(inSize: number, k: number, stride: number, pad: number, dilation = 1): number {
  return Math.floor((inSize + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
}
