// norm.ts: batch normalization over N, H, W for each channel (x is [n, c, hw] in memory).
//
// Training forward and backward split the channels over threads (each channel's statistics
// need the whole batch); eval mode splits the (image, channel) planes and can fuse a ReLU.
// Sums are taken in f32 lanes per plane and added up in f64.

import { madd, rangeStart, zero4 } from './util';

/** Σ x[i] over one plane. x: [hw] */
function planeSum(x: usize, hw: i32): f64 {
  let acc = zero4();
  let i = 0;
  for (; i + 4 <= hw; i += 4) acc = f32x4.add(acc, v128.load(x + (<usize>i << 2)));
  let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1)
    + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
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
  let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1)
    + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
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
 * Training mode. x, y, residual: [n, c, hw]; gamma, beta, mean, invStd, runningMean, runningVar: [c].
 * Saves the batch mean and 1/sqrt(var + eps) (biased variance); updates the running statistics
 * with `momentum` and the unbiased variance. y = max(bn(x) + residual, 0): residual (0 for none)
 * and the ReLU are optional.
 */
export function batchNormTrain(
  x: usize, gamma: usize, beta: usize, y: usize, mean: usize, invStd: usize,
  runningMean: usize, runningVar: usize, n: i32, c: i32, hw: i32, eps: f64, momentum: f64,
  residual: usize, relu: bool, tid: i32, nt: i32,
): void {
  const count = <f64>n * <f64>hw;
  const c1 = rangeStart(c, tid + 1, nt);
  for (let ch = rangeStart(c, tid, nt); ch < c1; ch++) {
    let s: f64 = 0;
    for (let i = 0; i < n; i++) s += planeSum(x + (<usize>((i * c + ch) * hw) << 2), hw);
    const mu = s / count;
    let q: f64 = 0;
    for (let i = 0; i < n; i++) q += planeSquares(x + (<usize>((i * c + ch) * hw) << 2), hw, <f32>mu);
    const variance = q / count;
    const inv = 1 / Math.sqrt(variance + eps);
    const o = <usize>ch << 2;
    store<f32>(mean + o, <f32>mu);
    store<f32>(invStd + o, <f32>inv);
    const unbiased = count > 1 ? variance * count / (count - 1) : variance;
    store<f32>(runningMean + o, <f32>((1 - momentum) * <f64>load<f32>(runningMean + o) + momentum * mu));
    store<f32>(runningVar + o, <f32>((1 - momentum) * <f64>load<f32>(runningVar + o) + momentum * unbiased));
    const a = <f64>load<f32>(gamma + o) * inv;
    const b = <f64>load<f32>(beta + o) - mu * a;
    for (let i = 0; i < n; i++) {
      const p = <usize>((i * c + ch) * hw) << 2;
      planeAffine(x + p, residual ? residual + p : 0, y + p, hw, <f32>a, <f32>b, relu);
    }
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

/**
 * Training-mode backward. x, dy, dx, y, dresidual: [n, c, hw]; gamma, mean, invStd, dgamma, dbeta: [c].
 * With y (the output of a fused ReLU; 0 for none) the gradient g is dy where y > 0, else dy itself;
 * dresidual (0 for none) receives g. dbeta = Σ g; dgamma = Σ g·x̂;
 * dx = gamma·invStd·(g - dbeta/N - x̂·dgamma/N), x̂ = (x - mean)·invStd.
 * The first pass sums and, through a ReLU, writes g out (to dresidual, else to dx, which the
 * second pass then overwrites in place), so the second pass reads g alone as without one.
 */
export function batchNormBackward(
  x: usize, dy: usize, gamma: usize, mean: usize, invStd: usize, dx: usize, dgamma: usize, dbeta: usize,
  y: usize, dresidual: usize, n: i32, c: i32, hw: i32, tid: i32, nt: i32,
): void {
  const count = <f64>n * <f64>hw;
  const gOut = dresidual ? dresidual : (y ? dx : 0); // where the first pass writes g
  const gIn = y ? gOut : dy; // where the second pass reads it
  const c1 = rangeStart(c, tid + 1, nt);
  for (let ch = rangeStart(c, tid, nt); ch < c1; ch++) {
    const o = <usize>ch << 2;
    const mu = load<f32>(mean + o), inv = <f64>load<f32>(invStd + o);
    const muv = f32x4.splat(mu);
    let sdy: f64 = 0, sdyx: f64 = 0;
    for (let i = 0; i < n; i++) {
      const p = <usize>((i * c + ch) * hw) << 2;
      let a1 = zero4(), a2 = zero4();
      let j = 0;
      if (y) {
        const z = zero4();
        for (; j + 4 <= hw; j += 4) {
          const q = p + (<usize>j << 2);
          const g = v128.and(v128.load(dy + q), f32x4.gt(v128.load(y + q), z));
          v128.store(gOut + q, g);
          a1 = f32x4.add(a1, g);
          a2 = madd(g, f32x4.sub(v128.load(x + q), muv), a2);
        }
      } else {
        for (; j + 4 <= hw; j += 4) {
          const q = p + (<usize>j << 2);
          const g = v128.load(dy + q);
          if (gOut) v128.store(gOut + q, g);
          a1 = f32x4.add(a1, g);
          a2 = madd(g, f32x4.sub(v128.load(x + q), muv), a2);
        }
      }
      sdy += <f64>f32x4.extract_lane(a1, 0) + <f64>f32x4.extract_lane(a1, 1) + <f64>f32x4.extract_lane(a1, 2) + <f64>f32x4.extract_lane(a1, 3);
      sdyx += <f64>f32x4.extract_lane(a2, 0) + <f64>f32x4.extract_lane(a2, 1) + <f64>f32x4.extract_lane(a2, 2) + <f64>f32x4.extract_lane(a2, 3);
      for (; j < hw; j++) {
        const q = p + (<usize>j << 2);
        const g1: f32 = y && !(load<f32>(y + q) > 0) ? 0 : load<f32>(dy + q);
        if (gOut) store<f32>(gOut + q, g1);
        const g = <f64>g1;
        sdy += g;
        sdyx += g * <f64>(load<f32>(x + q) - mu);
      }
    }
    const dg = sdyx * inv;
    store<f32>(dbeta + o, <f32>sdy);
    store<f32>(dgamma + o, <f32>dg);
    // dx = a·g + b·(x - mean) + k
    const a = <f64>load<f32>(gamma + o) * inv;
    const b = -a * inv * dg / count;
    const k = -a * sdy / count;
    const av = f32x4.splat(<f32>a), bv = f32x4.splat(<f32>b), kv = f32x4.splat(<f32>k);
    for (let i = 0; i < n; i++) {
      const p = <usize>((i * c + ch) * hw) << 2;
      let j = 0;
      for (; j + 4 <= hw; j += 4) {
        const q = p + (<usize>j << 2);
        const v = madd(av, v128.load(gIn + q), madd(bv, f32x4.sub(v128.load(x + q), muv), kv));
        v128.store(dx + q, v);
      }
      for (; j < hw; j++) {
        const q = p + (<usize>j << 2);
        store<f32>(dx + q, <f32>a * load<f32>(gIn + q) + <f32>b * (load<f32>(x + q) - mu) + <f32>k);
      }
    }
  }
}

// ---- the training-mode backward split over (image, channel) planes ----
//
// Each thread takes a contiguous range of the n·c planes (contiguous memory, every thread busy
// whatever the channel count) and writes each plane's partial sums to `stats` ([n·c] pairs of
// f64); one thread then adds them up per channel in image order (batchNormBackwardStats), so the
// result does not depend on the number of threads (and equals batchNormBackward's); a last pass,
// again over planes, applies the per-channel coefficients (`coef`: [3, c] f32).

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
    let sdy: f64 = <f64>f32x4.extract_lane(a1, 0) + <f64>f32x4.extract_lane(a1, 1) + <f64>f32x4.extract_lane(a1, 2) + <f64>f32x4.extract_lane(a1, 3);
    let sdyx: f64 = <f64>f32x4.extract_lane(a2, 0) + <f64>f32x4.extract_lane(a2, 1) + <f64>f32x4.extract_lane(a2, 2) + <f64>f32x4.extract_lane(a2, 3);
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
    const a = load<f32>(coef + (<usize>ch << 2)), b = load<f32>(coef + (<usize>(c + ch) << 2)), k = load<f32>(coef + (<usize>(2 * c + ch) << 2));
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
