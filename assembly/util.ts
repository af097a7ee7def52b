// util.ts: small helpers shared by every kernel file.
//
// * `madd` is the one multiply-add of the project: a fused f32x4.relaxed_madd when the module is
//   built with relaxed SIMD (the "relaxed" variant), a separate multiply and add otherwise (the
//   "simd" variant). tools/build-wasm.mjs builds both; the loader picks one at run time.
// * `rangeStart` splits `total` work items into `nt` nearly equal contiguous parts, so that a
//   kernel called on thread `tid` of `nt` knows its share: [rangeStart(t, tid, nt), rangeStart(t, tid + 1, nt)).

/** a * b + c on four lanes. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** First item of thread `tid`'s share of `total` items split over `nt` threads. */
// @ts-ignore: decorator
@inline export function rangeStart(total: i32, tid: i32, nt: i32): i32 {
  return <i32>((<i64>total * <i64>tid) / <i64>nt);
}

/** Four zero lanes. */
// @ts-ignore: decorator
@inline export function zero4(): v128 {
  return f32x4.splat(0);
}

/** Writes the first `n` (0..4) lanes of `v` to p[0..n), adding to what is there when `add`. */
export function storeLanes(p: usize, v: v128, n: i32, add: bool): void {
  if (n <= 0) return;
  store<f32>(p, f32x4.extract_lane(v, 0) + (add ? load<f32>(p) : 0));
  if (n == 1) return;
  store<f32>(p + 4, f32x4.extract_lane(v, 1) + (add ? load<f32>(p + 4) : 0));
  if (n == 2) return;
  store<f32>(p + 8, f32x4.extract_lane(v, 2) + (add ? load<f32>(p + 8) : 0));
  if (n == 3) return;
  store<f32>(p + 12, f32x4.extract_lane(v, 3) + (add ? load<f32>(p + 12) : 0));
}

/**
 * Zeroes `bytes` bytes (a multiple of 4) at p. For the rows of padded and phase images, a few to a
 * few hundred bytes each: inline stores, where memory.fill is a call into the runtime (about 5 ns
 * a call in Node 20's V8, more than the stores of a 32-float row).
 */
// @ts-ignore: decorator
@inline export function zeroBytes(p: usize, bytes: usize): void {
  const e = p + bytes, z = zero4();
  for (; p + 16 <= e; p += 16) v128.store(p, z);
  for (; p < e; p += 4) store<f32>(p, 0);
}

/** Copies `bytes` bytes (a multiple of 4) from src to dst (not overlapping), inline as zeroBytes. */
// @ts-ignore: decorator
@inline export function copyBytes(dst: usize, src: usize, bytes: usize): void {
  const e = dst + bytes;
  for (; dst + 16 <= e; dst += 16, src += 16) v128.store(dst, v128.load(src));
  for (; dst < e; dst += 4, src += 4) store<f32>(dst, load<f32>(src));
}

/** Writes eight lanes (v0, v1) to p[0..8), adding to what is there when `add`. */
// @ts-ignore: decorator
@inline export function store8(p: usize, v0: v128, v1: v128, add: bool): void {
  if (add) {
    v0 = f32x4.add(v0, v128.load(p));
    v1 = f32x4.add(v1, v128.load(p, 16));
  }
  v128.store(p, v0);
  v128.store(p, v1, 16);
}

/** The first `n` (0..4) floats at p as lanes 0..n-1, zero in the others. */
export function loadLanes(p: usize, n: i32): v128 {
  let v = zero4();
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p + 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p + 8));
  if (n > 3) v = f32x4.replace_lane(v, 3, load<f32>(p + 12));
  return v;
}

/**
 * Address of the shared work counter (in the reserved low memory, a cache line of its own; see
 * src/kernels/wasm/memory.ts). Kernels that balance their work dynamically take items from it;
 * the host sets it to 0 before every such kernel.
 */
export const WORK_NEXT: usize = 2048;

/** Takes `count` items from the shared work counter: returns the first (may be past the end). */
// @ts-ignore: decorator
@inline export function takeWork(count: i32): i32 {
  if (ASC_FEATURE_THREADS) return atomic.add<i32>(WORK_NEXT, count);
  const v = load<i32>(WORK_NEXT);
  store<i32>(WORK_NEXT, v + count);
  return v;
}
