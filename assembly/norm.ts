// norm.ts: batch normalization over N, H, W for each channel (x is [n, c, hw] in memory).
//
// Every kernel splits the (image, channel) planes over threads. In training mode a channel's
// statistics need the whole batch: the planes' partial sums go to a scratch array and one thread
// adds them up per channel between passes (see below). Sums are taken in f32 lanes per plane and
// added up in f64.

import { madd, rangeStart, zero4 } from './util';

/** The four lanes of v added in f64, in lane order. */
// @ts-ignore: decorator
@inline function laneSumF64(v: v128): f64 {
  return <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)
    + <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
}

/** Σ x[i] over one plane. x: [hw] */
function planeSum(x: usize, hw: i32): f64 {
  let acc = zero4();
  let i = 0;
  for (; i + 4 <= hw; i += 4) acc = f32x4.add(acc, v128.load(x + (<usize>i << 2)));
  let s: f64 = laneSumF64(acc);
  for (; i < hw; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}

/** Σ (x[i] - mean)² over one plane. x: [hw] */
function planeSquares(x: usize, hw: i32, mean: f32): f64 {
  const m = f32x4.splat(mean);
  let acc = zero4();
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>i << 2)), m);
    acc = madd(d, d, acc);
  }
  let s: f64 = laneSumF64(acc);
  for (; i < hw; i++) {
    const d = load<f32>(x + (<usize>i << 2)) - mean;
    s += <f64>(d * d);
  }
  return s;
}

/** y = x·a + b (+ r) over one plane, then max(·, 0) when `relu`. x, y, r: [hw]; r = 0 for none. */
function planeAffine(x: usize, r: usize, y: usize, hw: i32, a: f32, b: f32, relu: bool): void {
  const av = f32x4.splat(a), bv = f32x4.splat(b), z = zero4();
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    const o = <usize>i << 2;
    let v = madd(v128.load(x + o), av, bv);
    if (r) v = f32x4.add(v, v128.load(r + o));
    if (relu) v = f32x4.pmax(z, v);
    v128.store(y + o, v);
  }
  for (; i < hw; i++) {
    const o = <usize>i << 2;
    let v = load<f32>(x + o) * a + b;
    if (r) v += load<f32>(r + o);
    if (relu && !(v > 0)) v = 0;
    store<f32>(y + o, v);
  }
}

/**
 * Eval mode: y = (x - runningMean)/sqrt(runningVar + eps)·gamma + beta, + residual when given (not
 * 0), then ReLU when `relu`.
 */
export function batchNormEval(
  x: usize, gamma: usize, beta: usize, y: usize, runningMean: usize, runningVar: usize,
  n: i32, c: i32, hw: i32, eps: f64, relu: bool, residual: usize, tid: i32, nt: i32,
): void {
  const planes = n * c;
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const o = <usize>(pl % c) << 2;
    const a = <f64>load<f32>(gamma + o) / Math.sqrt(<f64>load<f32>(runningVar + o) + eps);
    const b = <f64>load<f32>(beta + o) - <f64>load<f32>(runningMean + o) * a;
    const p = <usize>(pl * hw) << 2;
    planeAffine(x + p, residual ? residual + p : 0, y + p, hw, <f32>a, <f32>b, relu);
  }
}

// ---- training mode split over (image, channel) planes ----
//
// Each thread takes a contiguous range of the n·c planes (contiguous memory, every thread busy
// whatever the channel count) and writes each plane's partial sums to `stats` ([n·c] f64, or
// pairs of f64); one thread then adds them up per channel in image order, so that the result does
// not depend on the number of threads (and equals, bit for bit, that of the earlier kernels that
// walked each channel across the batch on one thread: the same sums in the same order). A last pass, again over planes, applies the
// per-channel coefficients (`coef`: f32 [k, c], after the f64 means where the forward keeps them).

/** coef[row, ch] of a [k, c] f32 array. */
// @ts-ignore: decorator
@inline function coefAt(coef: usize, c: i32, row: i32, ch: i32): f32 {
  return load<f32>(coef + (<usize>(row * c + ch) << 2));
}

/** stats[p] = Σ x over plane p (f64). x: [n·c, hw] */
export function batchNormPlaneSums(x: usize, stats: usize, planes: i32, hw: i32, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    store<f64>(stats + (<usize>pl << 3), planeSum(x + (<usize>pl * <usize>hw << 2), hw));
  }
}

/** One thread: mean[ch] = Σ plane sums / N (f32), and the f64 means at coef + 8·c bytes (f32 index 2c). */
export function batchNormMeans(stats: usize, mean: usize, coef: usize, n: i32, c: i32, hw: i32): void {
  const count = <f64>n * <f64>hw;
  for (let ch = 0; ch < c; ch++) {
    let s: f64 = 0;
    for (let i = 0; i < n; i++) s += load<f64>(stats + (<usize>(i * c + ch) << 3));
    const mu = s / count;
    store<f32>(mean + (<usize>ch << 2), <f32>mu);
    store<f64>(coef + (<usize>(2 * c) << 2) + (<usize>ch << 3), mu);
  }
}

/** stats[p] = Σ (x - mean[ch])² over plane p (f64). */
export function batchNormPlaneSquares(x: usize, mean: usize, stats: usize, planes: i32, c: i32, hw: i32, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const mu = load<f32>(mean + (<usize>(pl % c) << 2));
    store<f64>(stats + (<usize>pl << 3), planeSquares(x + (<usize>pl * <usize>hw << 2), hw, mu));
  }
}

/**
 * One thread, after batchNormMeans and batchNormPlaneSquares: the variance per channel, invStd,
 * the running statistics, and coef = [a, b] (f32) with y = x·a + b.
 */
export function batchNormVariances(
  stats: usize, gamma: usize, beta: usize, invStd: usize, runningMean: usize, runningVar: usize, coef: usize,
  n: i32, c: i32, hw: i32, eps: f64, momentum: f64,
): void {
  const count = <f64>n * <f64>hw;
  for (let ch = 0; ch < c; ch++) {
    let q: f64 = 0;
    for (let i = 0; i < n; i++) q += load<f64>(stats + (<usize>(i * c + ch) << 3));
    const mu = load<f64>(coef + (<usize>(2 * c) << 2) + (<usize>ch << 3));
    const variance = q / count;
    const inv = 1 / Math.sqrt(variance + eps);
    const o = <usize>ch << 2;
    store<f32>(invStd + o, <f32>inv);
    const unbiased = count > 1 ? variance * count / (count - 1) : variance;
    store<f32>(runningMean + o, <f32>((1 - momentum) * <f64>load<f32>(runningMean + o) + momentum * mu));
    store<f32>(runningVar + o, <f32>((1 - momentum) * <f64>load<f32>(runningVar + o) + momentum * unbiased));
    const a = <f64>load<f32>(gamma + o) * inv;
    store<f32>(coef + o, <f32>a);
    store<f32>(coef + (<usize>(c + ch) << 2), <f32>(<f64>load<f32>(beta + o) - mu * a));
  }
}

/** y = x·a[ch] + b[ch] (+ residual when not 0), then ReLU when `relu`, per plane. coef: [a: c, b: c]. */
export function batchNormApply(
  x: usize, residual: usize, y: usize, coef: usize, planes: i32, c: i32, hw: i32, relu: bool, tid: i32, nt: i32,
): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const p = <usize>pl * <usize>hw << 2;
    planeAffine(x + p, residual ? residual + p : 0, y + p, hw, coefAt(coef, c, 0, pl % c), coefAt(coef, c, 1, pl % c), relu);
  }
}

// The backward, the same way:

/**
 * Per plane: Σg and Σg·(x - mean[ch]) into stats ([n·c, 2] f64), g = dy (+ dy2 when dy2 is not 0),
 * and through a fused ReLU (y, its output, not 0) only where y > 0; g is written to gOut when gOut
 * is not 0.
 */
export function batchNormBackwardPlanes(
  x: usize, dy: usize, dy2: usize, y: usize, gOut: usize, mean: usize, stats: usize, planes: i32, c: i32, hw: i32,
  tid: i32, nt: i32,
): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  const z = zero4();
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const mu = load<f32>(mean + (<usize>(pl % c) << 2));
    const muv = f32x4.splat(mu);
    const p = <usize>pl * <usize>hw << 2;
    let a1 = zero4(), a2 = zero4();
    let j = 0;
    for (; j + 4 <= hw; j += 4) {
      const q = p + (<usize>j << 2);
      let g = v128.load(dy + q);
      if (dy2) g = f32x4.add(g, v128.load(dy2 + q));
      if (y) g = v128.and(g, f32x4.gt(v128.load(y + q), z));
      if (gOut) v128.store(gOut + q, g);
      a1 = f32x4.add(a1, g);
      a2 = madd(g, f32x4.sub(v128.load(x + q), muv), a2);
    }
    let sdy: f64 = laneSumF64(a1);
    let sdyx: f64 = laneSumF64(a2);
    for (; j < hw; j++) {
      const q = p + (<usize>j << 2);
      let g1: f32 = load<f32>(dy + q);
      if (dy2) g1 += load<f32>(dy2 + q);
      if (y && !(load<f32>(y + q) > 0)) g1 = 0;
      if (gOut) store<f32>(gOut + q, g1);
      sdy += <f64>g1;
      sdyx += <f64>g1 * <f64>(load<f32>(x + q) - mu);
    }
    const o = stats + (<usize>pl << 4);
    store<f64>(o, sdy);
    store<f64>(o, sdyx, 8);
  }
}

/**
 * One thread: dbeta = Σg, dgamma = Σg·x̂ per channel from the planes' sums (in image order), and
 * coef = [a, b, k] with dx = a·g + b·(x - mean) + k.
 */
export function batchNormBackwardStats(
  stats: usize, gamma: usize, invStd: usize, dgamma: usize, dbeta: usize, coef: usize, n: i32, c: i32, hw: i32,
): void {
  const count = <f64>n * <f64>hw;
  for (let ch = 0; ch < c; ch++) {
    let sdy: f64 = 0, sdyx: f64 = 0;
    for (let i = 0; i < n; i++) {
      const o = stats + (<usize>(i * c + ch) << 4);
      sdy += load<f64>(o);
      sdyx += load<f64>(o, 8);
    }
    const o = <usize>ch << 2;
    const inv = <f64>load<f32>(invStd + o);
    const dg = sdyx * inv;
    store<f32>(dbeta + o, <f32>sdy);
    store<f32>(dgamma + o, <f32>dg);
    const a = <f64>load<f32>(gamma + o) * inv;
    store<f32>(coef + o, <f32>a);
    store<f32>(coef + (<usize>(c + ch) << 2), <f32>(-a * inv * dg / count));
    store<f32>(coef + (<usize>(2 * c + ch) << 2), <f32>(-a * sdy / count));
  }
}

/** dx = a·g + b·(x - mean) + k per plane (coef: [a: c, b: c, k: c]); g may be dx itself. */
export function batchNormBackwardApply(
  x: usize, g: usize, mean: usize, dx: usize, coef: usize, planes: i32, c: i32, hw: i32, tid: i32, nt: i32,
): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const ch = pl % c;
    const mu = load<f32>(mean + (<usize>ch << 2));
    const a = coefAt(coef, c, 0, ch), b = coefAt(coef, c, 1, ch), k = coefAt(coef, c, 2, ch);
    const av = f32x4.splat(a), bv = f32x4.splat(b), kv = f32x4.splat(k), muv = f32x4.splat(mu);
    const p = <usize>pl * <usize>hw << 2;
    let j = 0;
    for (; j + 4 <= hw; j += 4) {
      const q = p + (<usize>j << 2);
      v128.store(dx + q, madd(av, v128.load(g + q), madd(bv, f32x4.sub(v128.load(x + q), muv), kv)));
    }
    for (; j < hw; j++) {
      const q = p + (<usize>j << 2);
      store<f32>(dx + q, a * load<f32>(g + q) + b * (load<f32>(x + q) - mu) + k);
    }
  }
}
