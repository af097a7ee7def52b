// elementwise.ts: SIMD element-wise kernels, row reductions and the SGD step.
//
// Every kernel here takes `n` floats and the thread's (tid, nt); threads split the range in
// chunks of 16 floats. Outputs may alias inputs (each element is read before it is written).

import { madd, rangeStart, zero4 } from './util';

/** Thread `tid`'s part [start, end) of n floats, in whole 16-float chunks. */
// @ts-ignore: decorator
@inline function partStart(n: i32, tid: i32, nt: i32): i32 {
  return min(n, rangeStart((n + 15) >> 4, tid, nt) << 4);
}

/** y[i] = value. y: [n] */
export function fill(y: usize, n: i32, value: f32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const v = f32x4.splat(value);
  let i = i0;
  for (; i + 4 <= i1; i += 4) v128.store(y + (<usize>i << 2), v);
  for (; i < i1; i++) store<f32>(y + (<usize>i << 2), value);
}

/** y[i] = x[i]. x, y: [n] */
export function copy(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  memory.copy(y + (<usize>i0 << 2), x + (<usize>i0 << 2), <usize>(i1 - i0) << 2);
}

/** y = a + b. a, b, y: [n] */
export function add(a: usize, b: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** y = a * b. a, b, y: [n] */
export function mul(a: usize, b: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

/** y += alpha * x. x, y: [n] */
export function axpy(x: usize, y: usize, n: i32, alpha: f32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const av = f32x4.splat(alpha);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(av, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** y = alpha * x. x, y: [n] */
export function scale(x: usize, y: usize, n: i32, alpha: f32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const av = f32x4.splat(alpha);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(av, v128.load(x + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, alpha * load<f32>(x + o));
  }
}

/** y = max(x, 0) (NaN and -0 give 0). x, y: [n] */
export function relu(x: usize, y: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const z = zero4();
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.pmax(z, v128.load(x + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : 0);
  }
}

/**
 * y[p, i] = y[p, i] + bias[p % c], then max(·, 0) when `relu`, over `planes` planes of `hw` floats
 * (a convolution's epilogue: y is [n, c, hw]; bias is [c], or 0 for none). Threads split the planes.
 */
export function channelBiasRelu(y: usize, bias: usize, planes: i32, c: i32, hw: i32, relu: bool, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  const z = zero4();
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const b: f32 = bias ? load<f32>(bias + (<usize>(pl % c) << 2)) : 0;
    const bv = f32x4.splat(b);
    const row = y + (<usize>pl * <usize>hw << 2);
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const o = <usize>i << 2;
      let v = f32x4.add(v128.load(row + o), bv);
      if (relu) v = f32x4.pmax(z, v);
      v128.store(row + o, v);
    }
    for (; i < hw; i++) {
      const o = <usize>i << 2;
      let v = load<f32>(row + o) + b;
      if (relu && !(v > 0)) v = 0;
      store<f32>(row + o, v);
    }
  }
}

/** dx = y > 0 ? dy : 0. y, dy, dx: [n] */
export function reluBackward(y: usize, dy: usize, dx: usize, n: i32, tid: i32, nt: i32): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const z = zero4();
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), z)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

/** Sum of x[0..n), four f32 lanes per block of 1024 floats, blocks added in f64. x: [n] */
export function sumRange(x: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let b = 0; b < n; b += 1024) {
    const e = min(n, b + 1024);
    let acc = zero4();
    let i = b;
    for (; i + 4 <= e; i += 4) acc = f32x4.add(acc, v128.load(x + (<usize>i << 2)));
    let part: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1)
      + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
    for (; i < e; i++) part += <f64>load<f32>(x + (<usize>i << 2));
    total += part;
  }
  return total;
}

/** out[0] = sum of x. x: [n]; out: [1]. One thread. */
export function sum(x: usize, n: i32, out: usize): void {
  store<f32>(out, <f32>sumRange(x, n));
}

/** y[i, j] += bias[j]. y: [rows, cols]; bias: [cols]. Threads split the rows. */
export function addBiasRows(y: usize, bias: usize, rows: i32, cols: i32, tid: i32, nt: i32): void {
  const r1 = rangeStart(rows, tid + 1, nt);
  for (let r = rangeStart(rows, tid, nt); r < r1; r++) {
    const row = y + (<usize>(r * cols) << 2);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(bias + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, load<f32>(row + o) + load<f32>(bias + o));
    }
  }
}

/** db[j] = Σ_i dy[i, j]. dy: [rows, cols]; db: [cols]. Threads split the columns. */
export function sumRows(dy: usize, db: usize, rows: i32, cols: i32, tid: i32, nt: i32): void {
  const j1 = partStart(cols, tid + 1, nt);
  let j = partStart(cols, tid, nt);
  for (; j + 4 <= j1; j += 4) {
    let acc = zero4();
    let p = dy + (<usize>j << 2);
    for (let r = 0; r < rows; r++) { acc = f32x4.add(acc, v128.load(p)); p += <usize>cols << 2; }
    v128.store(db + (<usize>j << 2), acc);
  }
  for (; j < j1; j++) {
    let acc: f32 = 0;
    for (let r = 0; r < rows; r++) acc += load<f32>(dy + (<usize>(r * cols + j) << 2));
    store<f32>(db + (<usize>j << 2), acc);
  }
}

/**
 * SGD with PyTorch semantics: g = grad + weightDecay·param; buf = momentum·buf + (1 - dampening)·g
 * (buf = g on the first step); g = nesterov ? g + momentum·buf : buf; param -= lr·g.
 * param, grad, buf: [n]. With momentum 0 the buffer is not touched. Four lanes at a time, each
 * with the same separate multiplies and adds as one at a time (no fused multiply-add).
 */
export function sgdStep(
  param: usize, grad: usize, buf: usize, n: i32, lr: f32, momentum: f32, dampening: f32,
  weightDecay: f32, nesterov: bool, firstStep: bool, tid: i32, nt: i32,
): void {
  const i0 = partStart(n, tid, nt), i1 = partStart(n, tid + 1, nt);
  const lrv = f32x4.splat(lr), mv = f32x4.splat(momentum), dv = f32x4.splat(1 - dampening), wv = f32x4.splat(weightDecay);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const p = v128.load(param + o);
    let g = f32x4.add(v128.load(grad + o), f32x4.mul(wv, p));
    if (momentum != 0) {
      const b = firstStep ? g : f32x4.add(f32x4.mul(mv, v128.load(buf + o)), f32x4.mul(dv, g));
      v128.store(buf + o, b);
      g = nesterov ? f32x4.add(g, f32x4.mul(mv, b)) : b;
    }
    v128.store(param + o, f32x4.sub(p, f32x4.mul(lrv, g)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const p = load<f32>(param + o);
    let g = load<f32>(grad + o) + weightDecay * p;
    if (momentum != 0) {
      const b: f32 = firstStep ? g : momentum * load<f32>(buf + o) + (1 - dampening) * g;
      store<f32>(buf + o, b);
      g = nesterov ? g + momentum * b : b;
    }
    store<f32>(param + o, p - lr * g);
  }
}
