// gemm.ts: the packed, register-blocked matrix multiply under every heavy kernel.
//
// C (+)= A · B is computed in three layers, after BLIS:
//   * A is packed once into row panels of MR = 4 rows. The panel that starts at row r0 holds
//     A[r0 .. r0+MR, 0 .. K] as K groups of MR floats (k-major) at dst[r0*K ..]; only the last
//     panel is zero-padded past row M.
//   * B is packed per k-block into strips of NR = 8 columns: strip s holds
//     B[pc .. pc+kc, 8s .. 8s+8] as kc groups of 8 floats, zero-padded past the last column.
//   * a micro-kernel multiplies one A panel by one B strip into a 4×8 tile of C kept in
//     registers (8 f32x4 accumulators), with fused multiply-add in the relaxed-SIMD build.
// Convolutions (conv.ts) reuse the A panels and the micro-kernels with their own B packers, and
// add their epilogue (bias per output channel, a residual map, ReLU) in the micro-kernel's stores of
// the last k-block.
//
// All pointers are byte addresses in the shared memory; all sizes are counts of floats.

import { loadLanes, madd, rangeStart, storeLanes, zero4 } from './util';

/** Rows of an A panel and of a micro-tile. */
export const MR: i32 = 4;
/** Columns of a B strip and of a micro-tile. */
export const NR: i32 = 8;
/** Longest k-block: a 6×KC A slice and a KC×8 B strip stay in L1. */
export const KC_MAX: i32 = 320;
/** Rows of A multiplied against one B strip before moving on (an L2-sized block of A). */
export const MC_MAX: i32 = 120;
/** Columns of B packed at once (one work item of the plain matrix multiply). */
export const NC_MAX: i32 = 256;

/**
 * Height of the next row panel when `rem` rows are left: always MR = 4. (A 6×8 tile, 12
 * accumulators, was measured at half the speed of 4×8 on Node 20's V8: x64 has 16 vector
 * registers, V8 keeps one as scratch, and the tile then spills in its inner loop.)
 */
export function panelHeight(rem: i32): i32 {
  return MR;
}

/** Number of row panels of an m-row matrix. */
export function panelCount(m: i32): i32 {
  let r = 0, p = 0;
  while (r < m) { r += panelHeight(m - r); p++; }
  return p;
}

/** First row of panel `p` (p may equal panelCount(m), giving m). */
export function panelStart(m: i32, p: i32): i32 {
  let r = 0;
  for (let i = 0; i < p && r < m; i++) r += panelHeight(m - r);
  return min(r, m);
}

/** Floats written by packA for an m × k matrix. */
export function packedASize(m: i32, k: i32): i32 {
  return (m + MR - 1) * k;
}

/** n rounded up to a multiple of 8. */
// @ts-ignore: decorator
@inline export function roundUp8(n: i32): i32 {
  return (n + 7) & ~7;
}

/** Splits k into nearly equal blocks of at most `most`: the number of blocks. */
// @ts-ignore: decorator
@inline export function blockCount(k: i32, most: i32): i32 {
  return max(1, (k + most - 1) / most);
}

// ---------------------------------------------------------------------------------------------
// Micro-kernels.
// a: packed A slice, kc groups of MR floats; b: packed B strip, kc groups of 8 floats;
// c: the tile's first element in C, rows `ldc` bytes apart. Writes rows < `rows`, columns < `cols`,
// adding to C when `add`, overwriting it otherwise; then, when `bias` is not 0, adds bias[i] (the
// f32 at bias + 4i) to row i, when `res` is not 0, adds the tile of a residual map laid out as C
// (its first element at `res`, rows `ldc` bytes apart), and when `relu`, takes max(·, 0) (a
// convolution's epilogue, passed for its last k-block only).

/** v + the first `n` floats at q (four when n ≥ 4, none when n ≤ 0). */
// @ts-ignore: decorator
@inline function plusFloats(v: v128, q: usize, n: i32): v128 {
  return f32x4.add(v, n >= 4 ? v128.load(q) : loadLanes(q, n));
}

/**
 * The end of one tile row: v0, v1 (+ C when add) (+ the f32 at `bias`) (+ the row at `res`) (ReLU)
 * into the first `cols` of p[0..8).
 */
// @ts-ignore: decorator
@inline function storeRow(p: usize, v0: v128, v1: v128, cols: i32, add: bool, bias: usize, res: usize, relu: bool): void {
  if (add) {
    v0 = plusFloats(v0, p, cols);
    v1 = plusFloats(v1, p + 16, cols - 4);
  }
  if (bias) {
    const b = v128.load32_splat(bias);
    v0 = f32x4.add(v0, b);
    v1 = f32x4.add(v1, b);
  }
  if (res) {
    v0 = plusFloats(v0, res, cols);
    v1 = plusFloats(v1, res + 16, cols - 4);
  }
  if (relu) {
    v0 = f32x4.pmax(zero4(), v0);
    v1 = f32x4.pmax(zero4(), v1);
  }
  if (cols >= NR) {
    v128.store(p, v0);
    v128.store(p, v1, 16);
  } else {
    storeLanes(p, v0, min(cols, 4), false);
    storeLanes(p + 16, v1, cols - 4, false);
  }
}

/**
 * Stores a 4×8 tile with its epilogue: full tiles inline, partial ones (rows < 4 or cols < 8) by
 * a call (storeTileRows), which keeps the micro-kernels small (inlined whole, it slowed them).
 */
// @ts-ignore: decorator
@inline function storeTile4(
  c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
): void {
  if (rows < MR || cols < NR) {
    storeTileRows(c, ldc, add, rows, cols, bias, res, relu, c00, c01, c10, c11, c20, c21, c30, c31);
    return;
  }
  if (add) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + ldc)); c11 = f32x4.add(c11, v128.load(c + ldc, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * ldc)); c21 = f32x4.add(c21, v128.load(c + 2 * ldc, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * ldc)); c31 = f32x4.add(c31, v128.load(c + 3 * ldc, 16));
  }
  if (bias) {
    let b = v128.load32_splat(bias);
    c00 = f32x4.add(c00, b); c01 = f32x4.add(c01, b);
    b = v128.load32_splat(bias, 4);
    c10 = f32x4.add(c10, b); c11 = f32x4.add(c11, b);
    b = v128.load32_splat(bias, 8);
    c20 = f32x4.add(c20, b); c21 = f32x4.add(c21, b);
    b = v128.load32_splat(bias, 12);
    c30 = f32x4.add(c30, b); c31 = f32x4.add(c31, b);
  }
  if (res) {
    c00 = f32x4.add(c00, v128.load(res)); c01 = f32x4.add(c01, v128.load(res, 16));
    c10 = f32x4.add(c10, v128.load(res + ldc)); c11 = f32x4.add(c11, v128.load(res + ldc, 16));
    c20 = f32x4.add(c20, v128.load(res + 2 * ldc)); c21 = f32x4.add(c21, v128.load(res + 2 * ldc, 16));
    c30 = f32x4.add(c30, v128.load(res + 3 * ldc)); c31 = f32x4.add(c31, v128.load(res + 3 * ldc, 16));
  }
  if (relu) {
    const z = zero4();
    c00 = f32x4.pmax(z, c00); c01 = f32x4.pmax(z, c01); c10 = f32x4.pmax(z, c10); c11 = f32x4.pmax(z, c11);
    c20 = f32x4.pmax(z, c20); c21 = f32x4.pmax(z, c21); c30 = f32x4.pmax(z, c30); c31 = f32x4.pmax(z, c31);
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
}

/** The rows < `rows` of a 4×8 tile, `cols` columns each, with storeRow. */
function storeTileRows(
  c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
): void {
  storeRow(c, c00, c01, cols, add, bias, res, relu);
  if (rows > 1) storeRow(c + ldc, c10, c11, cols, add, bias ? bias + 4 : 0, res ? res + ldc : 0, relu);
  if (rows > 2) storeRow(c + 2 * ldc, c20, c21, cols, add, bias ? bias + 8 : 0, res ? res + 2 * ldc : 0, relu);
  if (rows > 3) storeRow(c + 3 * ldc, c30, c31, cols, add, bias ? bias + 12 : 0, res ? res + 3 * ldc : 0, relu);
}

/**
 * One column of a transposed tile: v's first `n` lanes (+ C when add) (+ the f32 at `bias`) (+ the
 * residual's floats at `res`) (ReLU) into p[0..n).
 */
// @ts-ignore: decorator
@inline function storeColumn(p: usize, v: v128, n: i32, add: bool, bias: usize, res: usize, relu: bool): void {
  if (add) v = f32x4.add(v, n >= 4 ? v128.load(p) : loadLanes(p, n));
  if (bias) v = f32x4.add(v, v128.load32_splat(bias));
  if (res) v = f32x4.add(v, n >= 4 ? v128.load(res) : loadLanes(res, n));
  if (relu) v = f32x4.pmax(zero4(), v);
  if (n >= 4) v128.store(p, v);
  else storeLanes(p, v, n, false);
}

/**
 * Stores a 4×8 tile transposed: column j of the tile (rows < `rows`) goes to the row at c + j·ldc
 * bytes, for columns j < `cols`, with the epilogue per column (bias[j], the f32 at bias + 4j; the
 * residual laid out as C from `res`). (Pixels as the tile's rows and output channels as its
 * columns: see conv.ts, small maps.)
 */
function storeTile4T(
  c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128,
): void {
  storeHalfT(c, ldc, add, rows, cols, bias, res, relu, c00, c10, c20, c30);
  if (cols > 4) storeHalfT(c + 4 * ldc, ldc, add, rows, cols - 4, bias ? bias + 16 : 0, res ? res + 4 * ldc : 0, relu, c01, c11, c21, c31);
}

/** Columns 0..4 of a transposed tile (rows r0..r3, `cols` of them kept) for storeTile4T. */
// @ts-ignore: decorator
@inline function storeHalfT(
  c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool, r0: v128, r1: v128, r2: v128, r3: v128,
): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  storeColumn(c, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), rows, add, bias, res, relu);
  if (cols > 1) storeColumn(c + ldc, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), rows, add, bias ? bias + 4 : 0, res ? res + ldc : 0, relu);
  if (cols > 2) storeColumn(c + 2 * ldc, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), rows, add, bias ? bias + 8 : 0, res ? res + 2 * ldc : 0, relu);
  if (cols > 3) storeColumn(c + 3 * ldc, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), rows, add, bias ? bias + 12 : 0, res ? res + 3 * ldc : 0, relu);
}

/**
 * The micro-kernel: C[0..4, 0..8] (+)= A[0..4, 0..kc] · B[0..kc, 0..8], then the epilogue. a: a
 * packed A panel (kc groups of 4 floats); B's row k is the 8 floats at b + 32k, or, when `direct`,
 * at b + offs[k] (offs: kc i32 byte offsets: a convolution's input rows read in place, see conv.ts).
 * `transposed`: C is stored transposed (storeTile4T); `plain`: C is a whole tile stored as it is,
 * with no partial tile, adding or epilogue (Winograd's multiplies). Inlined into each caller with
 * constant flags, which the optimizer folds away, so that every caller runs the same loop.
 */
// @ts-ignore: decorator
@inline export function microTile(
  kc: i32, a: usize, b: usize, direct: bool, offs: usize, c: usize, ldc: usize, add: bool, rows: i32, cols: i32,
  bias: usize, res: usize, relu: bool, transposed: bool, plain: bool,
): void {
  let c00 = zero4(), c01 = zero4(), c10 = zero4(), c11 = zero4();
  let c20 = zero4(), c21 = zero4(), c30 = zero4(), c31 = zero4();
  for (let k = 0; k < kc; k++) {
    const p = direct ? b + <usize>load<i32>(offs) : b;
    const b0 = v128.load(p), b1 = v128.load(p, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 16;
    if (direct) offs += 4;
    else b += 32;
  }
  if (plain) {
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
    v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
    v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
  } else if (transposed) storeTile4T(c, ldc, add, rows, cols, bias, res, relu, c00, c01, c10, c11, c20, c21, c30, c31);
  else storeTile4(c, ldc, add, rows, cols, bias, res, relu, c00, c01, c10, c11, c20, c21, c30, c31);
}

/** microTile on a packed B strip (row k: the 8 floats at b + 32k); `transposed`: C stored transposed. */
export function tile4x8(
  kc: i32, a: usize, b: usize, c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool,
  transposed: bool = false,
): void {
  microTile(kc, a, b, false, 0, c, ldc, add, rows, cols, bias, res, relu, transposed, false);
}

/**
 * tile4x8 for a strip of 2 to 4 columns (B's strip row k: its first 4 floats): even and odd k
 * go to separate accumulators, which halves the dependent chains of the half-width tile (ResNet-50's
 * 14×14 maps: 196 pixels, the last strip 4 wide).
 */
function tile4x4(
  kc: i32, a: usize, b: usize, c: usize, ldc: usize, add: bool, rows: i32, cols: i32, bias: usize, res: usize, relu: bool,
): void {
  let e0 = zero4(), e1 = zero4(), e2 = zero4(), e3 = zero4();
  let o0 = zero4(), o1 = zero4(), o2 = zero4(), o3 = zero4();
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    const be = v128.load(b), bo = v128.load(b, 32);
    e0 = madd(v128.load32_splat(a), be, e0); o0 = madd(v128.load32_splat(a, 16), bo, o0);
    e1 = madd(v128.load32_splat(a, 4), be, e1); o1 = madd(v128.load32_splat(a, 20), bo, o1);
    e2 = madd(v128.load32_splat(a, 8), be, e2); o2 = madd(v128.load32_splat(a, 24), bo, o2);
    e3 = madd(v128.load32_splat(a, 12), be, e3); o3 = madd(v128.load32_splat(a, 28), bo, o3);
    a += 32; b += 64;
  }
  if (k < kc) {
    const be = v128.load(b);
    e0 = madd(v128.load32_splat(a), be, e0); e1 = madd(v128.load32_splat(a, 4), be, e1);
    e2 = madd(v128.load32_splat(a, 8), be, e2); e3 = madd(v128.load32_splat(a, 12), be, e3);
  }
  const z = zero4();
  storeTile4(c, ldc, add, rows, cols, bias, res, relu, f32x4.add(e0, o0), z, f32x4.add(e1, o1), z, f32x4.add(e2, o2), z, f32x4.add(e3, o3), z);
}

/**
 * tile4x8 for a strip of one column (B's strip row k: its first float): the panel's 4 rows times
 * B[k, 0], summed in four accumulators by k mod 4 (ResNet-50's 7×7 maps: 49 pixels, the last strip
 * one wide; the 8-wide tile would spend 8 columns' time on it).
 */
function tile4x1(kc: i32, a: usize, b: usize, c: usize, ldc: usize, add: bool, rows: i32, bias: usize, res: usize, relu: bool): void {
  let s0 = zero4(), s1 = zero4(), s2 = zero4(), s3 = zero4();
  let k = 0;
  for (; k + 4 <= kc; k += 4) {
    s0 = madd(v128.load(a), v128.load32_splat(b), s0);
    s1 = madd(v128.load(a, 16), v128.load32_splat(b, 32), s1);
    s2 = madd(v128.load(a, 32), v128.load32_splat(b, 64), s2);
    s3 = madd(v128.load(a, 48), v128.load32_splat(b, 96), s3);
    a += 64; b += 128;
  }
  for (; k < kc; k++) {
    s0 = madd(v128.load(a), v128.load32_splat(b), s0);
    a += 16; b += 32;
  }
  const v = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)); // lane i: C[i, 0]
  const z = zero4();
  storeTile4(c, ldc, add, rows, 1, bias, res, relu, v128.shuffle<f32>(v, v, 0, 0, 0, 0), z, v128.shuffle<f32>(v, v, 1, 1, 1, 1), z,
    v128.shuffle<f32>(v, v, 2, 2, 2, 2), z, v128.shuffle<f32>(v, v, 3, 3, 3, 3), z);
}

/**
 * C[r0..r1, 0..ncols] (+)= A[r0..r1, pc..pc+kc] · B[pc..pc+kc, 0..ncols], then the epilogue
 * (see Micro-kernels; bias: the address of bias[r0], or 0; res: the address of the residual's
 * element that goes with C[r0, 0], rows `ldc` floats apart, or 0).
 * ap: packed A of the whole m × kTot matrix (r0 and r1 start panels, or r1 = m);
 * bp: packed B block, ceil(ncols/8) strips of kc × 8 floats;
 * c: the address of C[r0, 0], rows `ldc` floats apart. Overwrites C unless `add`. A last strip
 * of at most 4 columns takes a narrower micro-kernel (tile4x4, tile4x1).
 */
export function multiplyBlock(
  ap: usize, m: i32, kTot: i32, r0: i32, r1: i32, pc: i32, kc: i32,
  bp: usize, ncols: i32, c: usize, ldc: i32, add: bool, bias: usize, res: usize, relu: bool,
): void {
  const ldcBytes = <usize>ldc << 2;
  const strips = (ncols + NR - 1) / NR;
  let g0 = r0;
  while (g0 < r1) {
    let g1 = g0; // the row group [g0, g1): whole panels, about MC_MAX rows
    while (g1 < r1 && g1 - g0 < MC_MAX) g1 += panelHeight(m - g1);
    for (let s = 0; s < strips; s++) {
      const b = bp + (<usize>(s * kc * NR) << 2);
      const cols = min(NR, ncols - s * NR);
      let r = g0;
      while (r < g1) {
        const mr = panelHeight(m - r);
        const a = ap + (<usize>(r * kTot + pc * mr) << 2);
        const ct = c + <usize>(r - r0) * ldcBytes + (<usize>(s * NR) << 2);
        const rows = min(mr, m - r);
        const bt = bias ? bias + (<usize>(r - r0) << 2) : 0, rt = res ? res + (ct - c) : 0;
        if (cols > 4) tile4x8(kc, a, b, ct, ldcBytes, add, rows, cols, bt, rt, relu);
        else if (cols > 1) tile4x4(kc, a, b, ct, ldcBytes, add, rows, cols, bt, rt, relu);
        else tile4x1(kc, a, b, ct, ldcBytes, add, rows, bt, rt, relu);
        r += mr;
      }
    }
    g0 = g1;
  }
}

/** multiplyBlock with no epilogue. */
export function multiplyPacked(
  ap: usize, m: i32, kTot: i32, r0: i32, r1: i32, pc: i32, kc: i32,
  bp: usize, ncols: i32, c: usize, ldc: i32, add: bool,
): void {
  multiplyBlock(ap, m, kTot, r0, r1, pc, kc, bp, ncols, c, ldc, add, 0, 0, false);
}

/** microTile with full columns and B read in place: row k of the B strip at bBase + offs[k] bytes. */
function tile4x8Direct(
  kc: i32, a: usize, bBase: usize, offs: usize, c: usize, ldc: usize, add: bool, rows: i32, bias: usize, res: usize, relu: bool,
): void {
  microTile(kc, a, bBase, true, offs, c, ldc, add, rows, NR, bias, res, relu, false, false);
}

/**
 * C[r0..r1, 0..8·strips] (+)= A[r0..r1, pc..pc+kc] · B, then the epilogue (bias, res: as in
 * multiplyBlock), where column block s of B (8 columns)
 * has row k at bases[s] + offs[k] bytes. ap: packed A (m × kTot); bases: `strips` i32 addresses;
 * offs: the kc byte offsets of this k-block; c: the address of C[r0, 0], rows `ldc` floats apart.
 */
export function multiplyDirect(
  ap: usize, m: i32, kTot: i32, r0: i32, r1: i32, pc: i32, kc: i32,
  bases: usize, strips: i32, offs: usize, c: usize, ldc: i32, add: bool, bias: usize, res: usize, relu: bool,
): void {
  const ldcBytes = <usize>ldc << 2;
  for (let s = 0; s < strips; s++) {
    const bBase = <usize>load<i32>(bases + (<usize>s << 2));
    for (let r = r0; r < r1; r += MR) {
      const a = ap + (<usize>(r * kTot + pc * MR) << 2);
      const ct = c + <usize>(r - r0) * ldcBytes + (<usize>(s * NR) << 2);
      tile4x8Direct(kc, a, bBase, offs, ct, ldcBytes, add, min(MR, m - r), bias ? bias + (<usize>(r - r0) << 2) : 0,
        res ? res + (ct - c) : 0, relu);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Packing plain matrices.

/** Packs one panel: rows r0..r0+mr of op(A) (see packA) into dst (k groups of mr floats). */
function packAPanel(a: usize, lda: i32, trans: bool, m: i32, k: i32, r0: i32, mr: i32, dst: usize): void {
  const dStep = <usize>mr << 2;
  if (trans) { // op(A)[i, j] = a[j*lda + i]: row j of the stored matrix gives mr consecutive values
    const valid = min(mr, m - r0);
    for (let j = 0; j < k; j++) {
      const src = a + (<usize>(j * lda + r0) << 2);
      const d = dst + <usize>j * dStep;
      for (let i = 0; i < mr; i++) store<f32>(d + (<usize>i << 2), i < valid ? load<f32>(src + (<usize>i << 2)) : 0);
    }
    return;
  }
  for (let i = 0; i < mr; i++) {
    let d = dst + (<usize>i << 2);
    if (r0 + i >= m) {
      for (let j = 0; j < k; j++) { store<f32>(d, 0); d += dStep; }
      continue;
    }
    let src = a + (<usize>((r0 + i) * lda) << 2);
    for (let j = 0; j < k; j++) { store<f32>(d, load<f32>(src)); src += 4; d += dStep; }
  }
}

/**
 * Packs op(A), m × k, into row panels (layout at the top of this file).
 * op(A)[i, j] = trans ? a[j*lda + i] : a[i*lda + j]; dst: packedASize(m, k) floats.
 * Threads split the panels.
 */
export function packA(a: usize, lda: i32, trans: bool, m: i32, k: i32, dst: usize, tid: i32, nt: i32): void {
  const panels = panelCount(m);
  const p0 = rangeStart(panels, tid, nt), p1 = rangeStart(panels, tid + 1, nt);
  let r = panelStart(m, p0);
  for (let p = p0; p < p1; p++) {
    const mr = panelHeight(m - r);
    packAPanel(a, lda, trans, m, k, r, mr, dst + (<usize>(r * k) << 2));
    r += mr;
  }
}

/**
 * Packs op(B)[pc..pc+kc, j0..j0+ncols] into strips of 8 columns (kc × 8 floats each).
 * op(B)[i, j] = trans ? b[j*ldb + i] : b[i*ldb + j]; dst: ceil(ncols/8) · kc · 8 floats.
 */
export function packB(b: usize, ldb: i32, trans: bool, pc: i32, kc: i32, j0: i32, ncols: i32, dst: usize): void {
  const strips = (ncols + NR - 1) / NR;
  for (let s = 0; s < strips; s++) {
    const cols = min(NR, ncols - s * NR);
    const d = dst + (<usize>(s * kc * NR) << 2);
    const jc = j0 + s * NR;
    if (!trans) {
      let src = b + (<usize>(pc * ldb + jc) << 2);
      const sStep = <usize>ldb << 2;
      if (cols == NR) {
        for (let i = 0; i < kc; i++) {
          const p = d + (<usize>i << 5);
          v128.store(p, v128.load(src));
          v128.store(p, v128.load(src, 16), 16);
          src += sStep;
        }
      } else {
        for (let i = 0; i < kc; i++) {
          const p = d + (<usize>i << 5);
          for (let t = 0; t < NR; t++) store<f32>(p + (<usize>t << 2), t < cols ? load<f32>(src + (<usize>t << 2)) : 0);
          src += sStep;
        }
      }
    } else {
      for (let t = 0; t < NR; t++) {
        let p = d + (<usize>t << 2);
        if (t >= cols) {
          for (let i = 0; i < kc; i++) { store<f32>(p, 0); p += 32; }
          continue;
        }
        let src = b + (<usize>((jc + t) * ldb + pc) << 2);
        for (let i = 0; i < kc; i++) { store<f32>(p, load<f32>(src)); src += 4; p += 32; }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The plain matrix multiply: c[m, n] = beta·c + op(a)·op(b), op(a) m × k, op(b) k × n.
// The host first runs packA over op(a) into `ap` (all threads), then matmulPacked.

/** Floats of per-thread scratch that matmulPacked needs. */
export function matmulScratch(): i32 {
  return KC_MAX * NC_MAX;
}

/**
 * Second phase of the matrix multiply. Work items are blocks of NC_MAX columns (and, when there
 * are fewer of them than threads, row parts of whole panels); each thread packs its own B blocks.
 * ap: packA(op(a)) (m × k); b: stored [k, n], or [n, k] when transB; c: [m, n];
 * scratch: this thread's matmulScratch() floats is at scratch + tid·scratchStride bytes.
 */
export function matmulPacked(
  ap: usize, b: usize, c: usize, m: i32, n: i32, k: i32, transB: bool, beta: i32,
  scratch: usize, scratchStride: i32, tid: i32, nt: i32,
): void {
  const bp = scratch + <usize>tid * <usize>scratchStride;
  const ldb = transB ? k : n;
  const colBlocks = blockCount(n, NC_MAX);
  const blockCols = roundUp8((n + colBlocks - 1) / colBlocks);
  const panels = panelCount(m);
  const rowParts = colBlocks >= nt ? 1 : min(panels, (nt + colBlocks - 1) / colBlocks);
  const items = colBlocks * rowParts;
  const kBlocks = blockCount(k, KC_MAX);
  const i1 = rangeStart(items, tid + 1, nt);
  for (let it = rangeStart(items, tid, nt); it < i1; it++) {
    const cb = it / rowParts, rp = it % rowParts;
    const j0 = cb * blockCols, ncols = min(blockCols, n - j0);
    const r0 = panelStart(m, rangeStart(panels, rp, rowParts));
    const r1 = panelStart(m, rangeStart(panels, rp + 1, rowParts));
    if (r0 >= r1 || ncols <= 0) continue;
    for (let kb = 0; kb < kBlocks; kb++) {
      const pc = rangeStart(k, kb, kBlocks), kc = rangeStart(k, kb + 1, kBlocks) - pc;
      packB(b, ldb, transB, pc, kc, j0, ncols, bp);
      multiplyPacked(ap, m, k, r0, r1, pc, kc, bp, ncols, c + (<usize>(r0 * n + j0) << 2), n, beta != 0 || kb > 0);
    }
  }
}

/**
 * c[m, n] = beta·c + a[m, k] · bᵀ, b stored [n, k], for fewer than MR rows of a (a classifier at
 * batch 1): dot products of a's rows with b's rows, both read in place. (The packed multiply
 * would copy all of b, transposed, into strips on every call for one row of a.) Every c[i, j]
 * sums k in four lanes (k ≡ 0..3 mod 4), then the lanes pairwise, then the k % 4 last products.
 * Threads split the columns of c.
 */
export function matmulFewRowsTransB(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, beta: i32, tid: i32, nt: i32): void {
  const j0 = rangeStart(n, tid, nt), j1 = rangeStart(n, tid + 1, nt);
  const rowBytes = <usize>k << 2, k4 = k & ~3;
  for (let i = 0; i < m; i++) {
    const ai = a + <usize>i * rowBytes;
    const ci = c + (<usize>(i * n) << 2);
    let j = j0;
    for (; j + 4 <= j1; j += 4) { // four rows of b at a time
      const b0 = b + <usize>j * rowBytes, b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes;
      let s0 = zero4(), s1 = zero4(), s2 = zero4(), s3 = zero4();
      for (let o: usize = 0; o < (<usize>k4 << 2); o += 16) {
        const av = v128.load(ai + o);
        s0 = madd(av, v128.load(b0 + o), s0);
        s1 = madd(av, v128.load(b1 + o), s1);
        s2 = madd(av, v128.load(b2 + o), s2);
        s3 = madd(av, v128.load(b3 + o), s3);
      }
      // lane sums of s0..s3 as one vector: (l0 + l1) + (l2 + l3) of each
      const t01 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 2, 4, 6), v128.shuffle<f32>(s0, s1, 1, 3, 5, 7));
      const t23 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 2, 4, 6), v128.shuffle<f32>(s2, s3, 1, 3, 5, 7));
      let v = f32x4.add(v128.shuffle<f32>(t01, t23, 0, 2, 4, 6), v128.shuffle<f32>(t01, t23, 1, 3, 5, 7));
      for (let kk = k4; kk < k; kk++) {
        const o = <usize>kk << 2, x = load<f32>(ai + o);
        v = f32x4.add(v, f32x4(x * load<f32>(b0 + o), x * load<f32>(b1 + o), x * load<f32>(b2 + o), x * load<f32>(b3 + o)));
      }
      const p = ci + (<usize>j << 2);
      if (beta != 0) v = f32x4.add(v, v128.load(p));
      v128.store(p, v);
    }
    for (; j < j1; j++) { // the last rows of b one at a time, summed in the same order
      const bj = b + <usize>j * rowBytes;
      let s = zero4();
      for (let o: usize = 0; o < (<usize>k4 << 2); o += 16) s = madd(v128.load(ai + o), v128.load(bj + o), s);
      let v = (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
      for (let kk = k4; kk < k; kk++) v += load<f32>(ai + (<usize>kk << 2)) * load<f32>(bj + (<usize>kk << 2));
      const p = ci + (<usize>j << 2);
      store<f32>(p, beta != 0 ? v + load<f32>(p) : v);
    }
  }
}
