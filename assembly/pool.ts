// pool.ts: max pooling, global average pooling and the option-A shortcut, forward and backward.
//
// Threads split the (image, channel) planes.

import { rangeStart, zero4 } from './util';

/**
 * Max pool with padding (padded cells never win). x: [planes, h, w]; y, argmax: [planes, hOut, wOut];
 * argmax holds i32 flat indices iy·w + ix within the plane; ties keep the first in row-major order.
 * The 3×3 stride-2 pool (ResNet's stem) takes four outputs at a time where the windows lie inside
 * the row (poolRow3s2), the others one at a time (poolOne). Threads split the planes.
 */
export function maxPool2d(
  x: usize, y: usize, argmax: usize, planes: i32, h: i32, w: i32, k: i32, stride: i32, pad: i32,
  hOut: i32, wOut: i32, tid: i32, nt: i32,
): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  const fast = k == 3 && stride == 2;
  const v0 = (pad + 1) >> 1; // the first output whose window starts inside the row
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const xp = x + (<usize>(pl * h * w) << 2);
    let o = <usize>(pl * hOut * wOut) << 2;
    for (let oy = 0; oy < hOut; oy++) {
      const y0 = max(0, oy * stride - pad), y1 = min(h, oy * stride - pad + k);
      let ox = 0;
      if (fast && y0 < y1) {
        for (; ox < min(v0, wOut); ox++) poolOne(xp, y + o + (<usize>ox << 2), argmax + o + (<usize>ox << 2), w, y0, y1, ox, k, stride, pad);
        for (; ox + 4 <= wOut && 2 * ox - pad + 9 < w; ox += 4) { // reads columns 2ox - pad .. + 9
          poolRow3s2(xp, y + o + (<usize>ox << 2), argmax + o + (<usize>ox << 2), w, y0, y1, 2 * ox - pad);
        }
      }
      for (; ox < wOut; ox++) poolOne(xp, y + o + (<usize>ox << 2), argmax + o + (<usize>ox << 2), w, y0, y1, ox, k, stride, pad);
      o += <usize>wOut << 2;
    }
  }
}

/** One output of maxPool2d: the window of rows [y0, y1) at output column ox. */
// @ts-ignore: decorator
@inline function poolOne(xp: usize, yo: usize, ao: usize, w: i32, y0: i32, y1: i32, ox: i32, k: i32, stride: i32, pad: i32): void {
  const x0 = max(0, ox * stride - pad), x1 = min(w, ox * stride - pad + k);
  let best = -Infinity as f32, at = -1;
  for (let iy = y0; iy < y1; iy++) {
    for (let ix = x0; ix < x1; ix++) {
      const v = load<f32>(xp + (<usize>(iy * w + ix) << 2));
      if (v > best || at < 0) { best = v; at = iy * w + ix; }
    }
  }
  store<f32>(yo, best);
  store<i32>(ao, at);
}

/**
 * Four outputs of a 3×3 stride-2 max pool: the windows of rows [y0, y1) (at least one) starting at
 * columns c, c + 2, c + 4, c + 6, all inside the row, as are the columns up to c + 9 that it reads.
 * Candidates go in row-major order; a later one wins only when greater (the first of ties stays).
 */
function poolRow3s2(xp: usize, yo: usize, ao: usize, w: i32, y0: i32, y1: i32, c: i32): void {
  let best = zero4(), at = zero4();
  const steps = i32x4(0, 2, 4, 6);
  for (let iy = y0; iy < y1; iy++) {
    const row = xp + (<usize>(iy * w + c) << 2);
    const l0 = v128.load(row), l1 = v128.load(row, 16), m0 = v128.load(row, 8), m1 = v128.load(row, 24);
    const left = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6), mid = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
    const right = v128.shuffle<f32>(m0, m1, 0, 2, 4, 6);
    const i0 = i32x4.add(i32x4.splat(iy * w + c), steps);
    if (iy == y0) {
      best = left; at = i0;
    } else {
      const gt = f32x4.gt(left, best);
      best = v128.bitselect(left, best, gt); at = v128.bitselect(i0, at, gt);
    }
    let gt = f32x4.gt(mid, best);
    best = v128.bitselect(mid, best, gt); at = v128.bitselect(i32x4.add(i0, i32x4.splat(1)), at, gt);
    gt = f32x4.gt(right, best);
    best = v128.bitselect(right, best, gt); at = v128.bitselect(i32x4.add(i0, i32x4.splat(2)), at, gt);
  }
  v128.store(yo, best);
  v128.store(ao, at);
}

/** dx[argmax[i]] += dy[i] within each plane; dx is zeroed first. dy, argmax: [planes, hOut·wOut]; dx: [planes, hw] */
export function maxPool2dBackward(dy: usize, argmax: usize, dx: usize, planes: i32, hw: i32, hwOut: i32, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const dxp = dx + (<usize>(pl * hw) << 2);
    memory.fill(dxp, 0, <usize>hw << 2);
    const o = <usize>(pl * hwOut) << 2;
    for (let i = 0; i < hwOut; i++) {
      const at = load<i32>(argmax + o + (<usize>i << 2));
      if (at < 0) continue;
      const p = dxp + (<usize>at << 2);
      store<f32>(p, load<f32>(p) + load<f32>(dy + o + (<usize>i << 2)));
    }
  }
}

/** y[p] = mean of x[p, 0..hw). x: [planes, hw]; y: [planes] */
export function globalAvgPool(x: usize, y: usize, planes: i32, hw: i32, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const xp = x + (<usize>(pl * hw) << 2);
    let acc = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= hw; i += 4) acc = f32x4.add(acc, v128.load(xp + (<usize>i << 2)));
    let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1)
      + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
    for (; i < hw; i++) s += <f64>load<f32>(xp + (<usize>i << 2));
    store<f32>(y + (<usize>pl << 2), <f32>(s / <f64>hw));
  }
}

/** dx[p, i] = dy[p] / hw. dy: [planes]; dx: [planes, hw] */
export function globalAvgPoolBackward(dy: usize, dx: usize, planes: i32, hw: i32, tid: i32, nt: i32): void {
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const v = <f32>(<f64>load<f32>(dy + (<usize>pl << 2)) / <f64>hw);
    const vv = f32x4.splat(v);
    const dxp = dx + (<usize>(pl * hw) << 2);
    let i = 0;
    for (; i + 4 <= hw; i += 4) v128.store(dxp + (<usize>i << 2), vv);
    for (; i < hw; i++) store<f32>(dxp + (<usize>i << 2), v);
  }
}

/**
 * Option-A shortcut: y[i, co, oy, ox] = x[i, co, oy·stride, ox·stride] for co < cIn, else 0.
 * x: [n, cIn, h, w]; y: [n, cOut, hOut, wOut]. Threads split the output planes.
 */
export function shortcutA(
  x: usize, y: usize, n: i32, cIn: i32, h: i32, w: i32, cOut: i32, stride: i32, hOut: i32, wOut: i32,
  tid: i32, nt: i32,
): void {
  const planes = n * cOut;
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const i = pl / cOut, co = pl % cOut;
    const yp = y + (<usize>(pl * hOut * wOut) << 2);
    if (co >= cIn) {
      memory.fill(yp, 0, <usize>(hOut * wOut) << 2);
      continue;
    }
    const xp = x + (<usize>((i * cIn + co) * h * w) << 2);
    for (let oy = 0; oy < hOut; oy++) {
      const iy = oy * stride;
      const src = xp + (<usize>(iy * w) << 2), dst = yp + (<usize>(oy * wOut) << 2);
      let ox = 0;
      if (stride == 2 && iy < h) { // four outputs from the even lanes of two loads
        for (; ox + 4 <= wOut && 2 * ox + 8 <= w; ox += 4) {
          const s = src + (<usize>(2 * ox) << 2);
          v128.store(dst + (<usize>ox << 2), v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
        }
      }
      for (; ox < wOut; ox++) {
        const ix = ox * stride;
        store<f32>(dst + (<usize>ox << 2), iy < h && ix < w ? load<f32>(src + (<usize>ix << 2)) : 0);
      }
    }
  }
}

/**
 * Backward of shortcutA: dx[i, ci, oy·stride, ox·stride] = dy[i, ci, oy, ox] (oy < hOut, ox < wOut), 0 elsewhere. Threads
 * split the input planes; each row of dx is written once (stride 2: four gradients and their zero
 * neighbours at a time).
 */
export function shortcutABackward(
  dy: usize, dx: usize, n: i32, cIn: i32, h: i32, w: i32, cOut: i32, stride: i32, hOut: i32, wOut: i32,
  tid: i32, nt: i32,
): void {
  const planes = n * cIn;
  const z = f32x4.splat(0);
  const p1 = rangeStart(planes, tid + 1, nt);
  for (let pl = rangeStart(planes, tid, nt); pl < p1; pl++) {
    const i = pl / cIn, ci = pl % cIn;
    const dxp = dx + (<usize>(pl * h * w) << 2);
    const dyp = dy + (<usize>((i * cOut + ci) * hOut * wOut) << 2);
    for (let iy = 0; iy < h; iy++) {
      const xr = dxp + (<usize>(iy * w) << 2);
      if (iy % stride != 0 || iy / stride >= hOut) {
        let j = 0;
        for (; j + 4 <= w; j += 4) v128.store(xr + (<usize>j << 2), z);
        for (; j < w; j++) store<f32>(xr + (<usize>j << 2), 0);
        continue;
      }
      const yr = dyp + (<usize>(iy / stride * wOut) << 2);
      let ix = 0;
      if (stride == 2) {
        for (; ix + 8 <= w && (ix >> 1) + 4 <= wOut; ix += 8) {
          const d = v128.load(yr + (<usize>(ix >> 1) << 2));
          v128.store(xr + (<usize>ix << 2), v128.shuffle<f32>(d, z, 0, 4, 1, 5));
          v128.store(xr + (<usize>ix << 2), v128.shuffle<f32>(d, z, 2, 6, 3, 7), 16);
        }
      }
      for (; ix < w; ix++) store<f32>(xr + (<usize>ix << 2), ix % stride == 0 && ix / stride < wOut ? load<f32>(yr + (<usize>(ix / stride) << 2)) : 0);
    }
  }
}
