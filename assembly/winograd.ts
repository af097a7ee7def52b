// winograd.ts: Winograd convolution F(m×m, 3×3), m = 2 or 4, for stride-1 3×3 convolutions
// with padding 1 and dilation 1 (the forward pass, and the input gradient, which is the same
// convolution of dy with the flipped, transposed kernel; the filter gradient is at the end).
//
// With α = m + 2, the output is cut into m×m tiles; tile (ty, tx) reads the α×α input patch at
// rows m·ty - 1 .., columns m·tx - 1 .. (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015):
//     Y = Aᵀ [ Σ_ci U[co, ci] ⊙ V[ci] ] A,   U = G g Gᵀ (the filter),   V = Bᵀ d B (the patch)
// so that the α² positions p of the transformed domain are α² independent matrix multiplies
//     M[p] (cOut × tiles) = U[p] (cOut × cIn) · V[p] (cIn × tiles)
// with α²·cOut·cIn multiply-adds per tile instead of 9·m²·cOut·cIn (F(2×2): 2.25× fewer,
// F(4×4): 4× fewer). The three phases:
//   * winogradWeights: U[p] for every p, packed as gemm.ts's A panels (cached by the host);
//   * winogradForward: blocks of tiles taken from the shared work counter (part of one image, or
//     whole images when they are small); the input transform reads x in place (its vertical half
//     on whole rows, see "The forward pass's input transform") and writes V[p] of the block
//     packed as gemm.ts's B strips, α² multiplies (multiplyPosition) give M[p], the output
//     transform writes y with the epilogue.
// The transforms run on four tiles at once, one per SIMD lane. The filter gradient reads a
// zero-padded copy of the block's images (padImages), so that no tile needs a bounds check.

import { KC_MAX, MR, NR, blockCount, microTile, multiplyPacked, packedASize, panelCount, panelStart, roundUp8 } from './gemm';
import { ConvShape } from './conv';
import { copyBytes, loadLanes, madd, rangeStart, takeWork, zero4, zeroBytes } from './util';

/** Tiles per row and per column of the output. */
// @ts-ignore: decorator
@inline function tilesAcross(size: i32, m: i32): i32 { return (size + m - 1) / m; }

/** Columns of the padded input (whole tiles plus the two halo columns). */
// @ts-ignore: decorator
@inline function paddedWidth(s: ConvShape, m: i32): i32 { return tilesAcross(s.wOut, m) * m + 2; }

/** Rows of the padded input. */
// @ts-ignore: decorator
@inline function paddedHeight(s: ConvShape, m: i32): i32 { return tilesAcross(s.hOut, m) * m + 2; }

/** Floats of the transformed, packed filter: α² packed A matrices of cOut × cIn. */
export function winogradWeightsSize(cOut: i32, cIn: i32, m: i32): i32 {
  return (m + 2) * (m + 2) * packedASize(cOut, cIn);
}

/** Images per block: 1 when an image has at least `tb` tiles (blocks are then parts of it), else as many whole images as fit. */
function blockImages(s: ConvShape, m: i32, tb: i32): i32 {
  const perImage = tilesAcross(s.hOut, m) * tilesAcross(s.wOut, m);
  return max(1, tb / perImage);
}

// ---------------------------------------------------------------------------------------------
// Timing the phases (tools/winograd-phases.mjs).

/** Phases that winogradForward and winogradWeightGrad run (bits PHASE_*): all but in that tool. */
let phases: i32 = -1;
/** The padded copy of the block's images (the filter gradient; the forward pass makes none). */
const PHASE_PAD: i32 = 1;
/** The input transform (V, with the forward's band; the filter gradient: V and dM). */
const PHASE_INPUT: i32 = 2;
/** The α² multiplies. */
const PHASE_MULTIPLY: i32 = 4;
/** The output transform (the filter gradient: dw = Gᵀ dU G). */
const PHASE_OUTPUT: i32 = 8;

/**
 * Runs only the phases in `mask` (PHASE_* bits, -1: all) on this instance, to time them apart;
 * the others are skipped and leave their buffers as they were. For tools/winograd-phases.mjs only.
 */
export function winogradPhases(mask: i32): void {
  phases = mask;
}

// ---------------------------------------------------------------------------------------------
// The filter.

/** G[u, j] of F(2×2, 3×3) (4 × 3) or of F(4×4, 3×3) (6 × 3). (No tables: the module has no data.) */
// @ts-ignore: decorator
@inline function gCoef(m: i32, u: i32, j: i32): f32 {
  if (u == 0) return j == 0 ? (m == 2 ? 1.0 : 0.25) : 0;
  if (u == m + 1) return j == 2 ? 1.0 : 0;
  if (m == 2) return j == 1 && u == 2 ? -0.5 : 0.5;
  if (u <= 2) return j == 1 && u == 2 ? 1.0 / 6 : -1.0 / 6;
  if (j == 0) return 1.0 / 24;
  if (j == 2) return 1.0 / 6;
  return u == 3 ? 1.0 / 12 : -1.0 / 12;
}

/**
 * U = G g Gᵀ for every pair of channels, as α² packed A matrices (gemm.ts's row panels) of
 * R × C, U[p] at dst + p·packedASize(R, C) floats. Not flipped: the convolution of w itself,
 * R = cOut, C = cIn, g = w[r, c]. Flipped (the input gradient): R = cIn, C = cOut, g[ky, kx] =
 * w[c, r, 2-ky, 2-kx]. w: [cOut, cIn, 3, 3]. The four rows of a panel are the four lanes (one
 * vector store per matrix and column). Threads split the panels.
 */
export function winogradWeights(w: usize, cOut: i32, cIn: i32, m: i32, flipped: bool, dst: usize, tid: i32, nt: i32): void {
  const a = m + 2;
  const R = flipped ? cIn : cOut, C = flipped ? cOut : cIn;
  const pBytes = <usize>packedASize(R, C) << 2;
  const panels = panelCount(R);
  // w[row r, column c, tap k] is at w + rStep·r + cStep·c + kStep·k bytes
  const rStep = <usize>(flipped ? 9 : cIn * 9) << 2, cStep = <usize>(flipped ? cIn * 9 : 9) << 2;
  const kStep: isize = flipped ? -4 : 4, k0: usize = flipped ? 32 : 0;
  for (let pn = rangeStart(panels, tid, nt); pn < rangeStart(panels, tid + 1, nt); pn++) {
    const r0 = panelStart(R, pn), rows = min(MR, R - r0);
    for (let c = 0; c < C; c++) {
      const src = w + <usize>r0 * rStep + <usize>c * cStep + k0;
      const g00 = tapLanes(src, rStep, rows), g01 = tapLanes(src + kStep, rStep, rows), g02 = tapLanes(src + 2 * kStep, rStep, rows);
      const g10 = tapLanes(src + 3 * kStep, rStep, rows), g11 = tapLanes(src + 4 * kStep, rStep, rows), g12 = tapLanes(src + 5 * kStep, rStep, rows);
      const g20 = tapLanes(src + 6 * kStep, rStep, rows), g21 = tapLanes(src + 7 * kStep, rStep, rows), g22 = tapLanes(src + 8 * kStep, rStep, rows);
      const at = dst + (<usize>(r0 * C + c * MR) << 2);
      for (let u = 0; u < a; u++) { // row u of G g, then of (G g) Gᵀ
        const e0 = f32x4.splat(gCoef(m, u, 0)), e1 = f32x4.splat(gCoef(m, u, 1)), e2 = f32x4.splat(gCoef(m, u, 2));
        const t0 = f32x4.add(f32x4.add(f32x4.mul(e0, g00), f32x4.mul(e1, g10)), f32x4.mul(e2, g20));
        const t1 = f32x4.add(f32x4.add(f32x4.mul(e0, g01), f32x4.mul(e1, g11)), f32x4.mul(e2, g21));
        const t2 = f32x4.add(f32x4.add(f32x4.mul(e0, g02), f32x4.mul(e1, g12)), f32x4.mul(e2, g22));
        for (let v = 0; v < a; v++) {
          const val = f32x4.add(f32x4.add(f32x4.mul(t0, f32x4.splat(gCoef(m, v, 0))), f32x4.mul(t1, f32x4.splat(gCoef(m, v, 1)))),
            f32x4.mul(t2, f32x4.splat(gCoef(m, v, 2))));
          v128.store(at + <usize>(u * a + v) * pBytes, val);
        }
      }
    }
  }
}

/** The floats at p, p + step, p + 2·step, p + 3·step as four lanes (0 from lane `rows` on). */
function tapLanes(p: usize, step: usize, rows: i32): v128 {
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, rows > 1 ? load<f32>(p + step) : 0);
  v = f32x4.replace_lane(v, 2, rows > 2 ? load<f32>(p + 2 * step) : 0);
  return f32x4.replace_lane(v, 3, rows > 3 ? load<f32>(p + 3 * step) : 0);
}

// ---------------------------------------------------------------------------------------------
// The padded input.

/**
 * xp[i, c, r, q] = x[i0 + i, c, r - 1, q - 1] (0 outside x) for `images` images from i0, in the
 * padded sizes above. x: [n, cIn, h, w] with h = hOut, w = wOut.
 */
function padImages(s: ConvShape, x: usize, i0: i32, images: i32, xp: usize, m: i32): void {
  const h = s.h, w = s.w, hp = paddedHeight(s, m), wp = paddedWidth(s, m);
  const rowBytes = <usize>wp << 2;
  for (let pl = 0; pl < images * s.cIn; pl++) {
    const src = x + (<usize>((i0 * s.cIn + pl) * h * w) << 2);
    const dst = xp + (<usize>(pl * hp * wp) << 2);
    zeroBytes(dst, rowBytes);
    for (let r = 0; r < h; r++) {
      const d = dst + <usize>(r + 1) * rowBytes;
      store<f32>(d, 0);
      copyBytes(d + 4, src + (<usize>(r * w) << 2), <usize>w << 2);
      zeroBytes(d + (<usize>(w + 1) << 2), <usize>(wp - w - 1) << 2);
    }
    zeroBytes(dst + <usize>(h + 1) * rowBytes, <usize>(hp - h - 1) * rowBytes);
  }
}

// ---------------------------------------------------------------------------------------------
// One-dimensional transforms on four tiles at once: `src` holds the inputs `ss` bytes apart,
// the outputs go `ds` bytes apart from `dst`.

/** Bᵀ of F(2×2): (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */
// @ts-ignore: decorator
@inline function inputTransform2(src: usize, ss: usize, dst: usize, ds: usize): void {
  inputValues2(v128.load(src), v128.load(src + ss), v128.load(src + 2 * ss), v128.load(src + 3 * ss), dst, ds);
}

/** inputTransform2 of the four vectors d0..d3. */
// @ts-ignore: decorator
@inline function inputValues2(d0: v128, d1: v128, d2: v128, d3: v128, dst: usize, ds: usize): void {
  v128.store(dst, f32x4.sub(d0, d2));
  v128.store(dst + ds, f32x4.add(d1, d2));
  v128.store(dst + 2 * ds, f32x4.sub(d2, d1));
  v128.store(dst + 3 * ds, f32x4.sub(d1, d3));
}

/** Bᵀ of F(4×4) (interpolation points 0, ±1, ±2). */
// @ts-ignore: decorator
@inline function inputTransform4(src: usize, ss: usize, dst: usize, ds: usize): void {
  inputValues4(v128.load(src), v128.load(src + ss), v128.load(src + 2 * ss), v128.load(src + 3 * ss), v128.load(src + 4 * ss),
    v128.load(src + 5 * ss), dst, ds);
}

/** inputTransform4 of the six vectors d0..d5. */
// @ts-ignore: decorator
@inline function inputValues4(d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128, dst: usize, ds: usize): void {
  const four = f32x4.splat(4), five = f32x4.splat(5), two = f32x4.splat(2);
  const a = f32x4.sub(d4, f32x4.mul(four, d2)); // d4 - 4 d2
  const b = f32x4.sub(d3, f32x4.mul(four, d1)); // d3 - 4 d1
  const c = f32x4.sub(d4, d2);
  const e = f32x4.mul(two, f32x4.sub(d3, d1)); // 2 (d3 - d1)
  v128.store(dst, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4));
  v128.store(dst + ds, f32x4.add(a, b));
  v128.store(dst + 2 * ds, f32x4.sub(a, b));
  v128.store(dst + 3 * ds, f32x4.add(c, e));
  v128.store(dst + 4 * ds, f32x4.sub(c, e));
  v128.store(dst + 5 * ds, f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5));
}

/** Aᵀ of F(2×2): (m0 + m1 + m2, m1 - m2 - m3). */
// @ts-ignore: decorator
@inline function outputTransform2(src: usize, ss: usize, dst: usize, ds: usize): void {
  const m0 = v128.load(src), m1 = v128.load(src + ss), m2 = v128.load(src + 2 * ss), m3 = v128.load(src + 3 * ss);
  v128.store(dst, f32x4.add(f32x4.add(m0, m1), m2));
  v128.store(dst + ds, f32x4.sub(f32x4.sub(m1, m2), m3));
}

/** Aᵀ of F(4×4). */
// @ts-ignore: decorator
@inline function outputTransform4(src: usize, ss: usize, dst: usize, ds: usize): void {
  const m0 = v128.load(src), m1 = v128.load(src + ss), m2 = v128.load(src + 2 * ss);
  const m3 = v128.load(src + 3 * ss), m4 = v128.load(src + 4 * ss), m5 = v128.load(src + 5 * ss);
  const sp = f32x4.add(m1, m2), sm = f32x4.sub(m1, m2);
  const tp = f32x4.add(m3, m4), tm = f32x4.sub(m3, m4);
  v128.store(dst, f32x4.add(f32x4.add(m0, sp), tp));
  v128.store(dst + ds, f32x4.add(sm, f32x4.mul(f32x4.splat(2), tm)));
  v128.store(dst + 2 * ds, f32x4.add(sp, f32x4.mul(f32x4.splat(4), tp)));
  v128.store(dst + 3 * ds, f32x4.add(f32x4.add(sm, f32x4.mul(f32x4.splat(8), tm)), m5));
}

// ---------------------------------------------------------------------------------------------
// Gathering four tiles' patches.

/** Tile l's four floats at p + o_l as four lanes each: the 4×4 transpose (lane l of vector j = the float j of tile l) into d, d + 16, .. d + 48 (`cols` of them). */
// @ts-ignore: decorator
@inline function transposeLoads(p: usize, o1: usize, o2: usize, o3: usize, d: usize, cols: i32): void {
  const r0 = v128.load(p), r1 = v128.load(p + o1), r2 = v128.load(p + o2), r3 = v128.load(p + o3);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
  if (cols > 2) {
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
    v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
  }
}

/**
 * d[r, q] (lane l = tile l) into `tmp` (α×α v128s, row-major) for four whole tiles whose
 * patches start at p (tile 0) and p + o1, p + o2, p + o3 (tiles 1..3) in a padded plane
 * (`rowBytes` per row). On one tile row the offsets are m, 2m, 3m floats.
 */
function gatherTiles4(p: usize, o1: usize, o2: usize, o3: usize, rowBytes: usize, m: i32, tmp: usize): void {
  if (m == 2) {
    if (o1 == 8 && o2 == 16 && o3 == 24) { // one tile row: tile l column q is padded column 2l + q, even and odd lanes of two loads
      for (let r = 0; r < 4; r++) {
        const q = p + <usize>r * rowBytes, d = tmp + (<usize>r << 6);
        const l0 = v128.load(q), l1 = v128.load(q, 16), l2 = v128.load(q, 8), l3 = v128.load(q, 24);
        v128.store(d, v128.shuffle<f32>(l0, l1, 0, 2, 4, 6));
        v128.store(d, v128.shuffle<f32>(l0, l1, 1, 3, 5, 7), 16);
        v128.store(d, v128.shuffle<f32>(l2, l3, 0, 2, 4, 6), 32);
        v128.store(d, v128.shuffle<f32>(l2, l3, 1, 3, 5, 7), 48);
      }
      return;
    }
    for (let r = 0; r < 4; r++) transposeLoads(p + <usize>r * rowBytes, o1, o2, o3, tmp + (<usize>r << 6), 4);
    return;
  }
  // m = 4: a 4×4 transpose of four loads gives columns 0..3, of four more loads 4 floats on, columns 4 and 5
  if (o1 == 16 && o2 == 32 && o3 == 48) { // one tile row (constant offsets)
    for (let r = 0; r < 6; r++) {
      const q = p + <usize>r * rowBytes, d = tmp + <usize>r * 96;
      transposeLoads(q, 16, 32, 48, d, 4);
      transposeLoads(q + 16, 16, 32, 48, d + 64, 2);
    }
    return;
  }
  for (let r = 0; r < 6; r++) {
    const q = p + <usize>r * rowBytes, d = tmp + <usize>r * 96;
    transposeLoads(q, o1, o2, o3, d, 4);
    transposeLoads(q + 16, o1, o2, o3, d + 64, 2);
  }
}

/**
 * Where the patch of tile `tile` starts in channel 0 of padImages' copy of the images from
 * `first` at xp (channel ci: + ci·planeBytes).
 */
function patchAddress(s: ConvShape, m: i32, xp: usize, first: i32, tile: i32): usize {
  const tilesW = tilesAcross(s.wOut, m), perImage = tilesW * tilesAcross(s.hOut, m);
  const rowBytes = <usize>paddedWidth(s, m) << 2, planeBytes = <usize>paddedHeight(s, m) * rowBytes;
  const image = tile / perImage, rem = tile % perImage;
  return xp + <usize>((image - first) * s.cIn) * planeBytes + <usize>((rem / tilesW) * m) * rowBytes + (<usize>((rem % tilesW) * m) << 2);
}

/** Whether the four tiles tile .. tile+3 (`valid` of them in the block) are all in the block and whole inside the map. */
function groupInside(s: ConvShape, m: i32, tile: i32, valid: i32): bool {
  if (valid < 4) return false;
  const tilesW = tilesAcross(s.wOut, m), perImage = tilesW * tilesAcross(s.hOut, m);
  for (let l = 0; l < 4; l++) {
    const rem = (tile + l) % perImage;
    if ((rem / tilesW + 1) * m > s.hOut || (rem % tilesW + 1) * m > s.wOut) return false;
  }
  return true;
}

/** Where tile `tile`'s first output lies in channel 0 of y ([n, channels, hOut, wOut]). */
function outputAddress(s: ConvShape, m: i32, y: usize, channels: i32, tile: i32): usize {
  const tilesW = tilesAcross(s.wOut, m), perImage = tilesW * tilesAcross(s.hOut, m);
  const image = tile / perImage, rem = tile % perImage;
  return y + (<usize>(((image * channels) * s.hOut + (rem / tilesW) * m) * s.wOut + (rem % tilesW) * m) << 2);
}

/**
 * The α×α patches of channel ci of the four tiles tile .. tile+3 (lane l = tile + l; zeros for
 * lanes ≥ `valid`) into tmp (α×α v128s, row-major), from padImages' copy of the images
 * first .. first+images at xp. `fast` (not 0) when the four are valid: patchAddress of the
 * first, the others' at fast + o1, o2, o3 (gatherTiles4).
 */
function gatherPatches(
  s: ConvShape, m: i32, xp: usize, first: i32, images: i32, ci: i32, tile: i32, valid: i32,
  fast: usize, o1: usize, o2: usize, o3: usize, tmp: usize,
): void {
  const a = m + 2, tilesW = tilesAcross(s.wOut, m), perImage = tilesW * tilesAcross(s.hOut, m);
  const rowBytes = <usize>paddedWidth(s, m) << 2, planeBytes = <usize>paddedHeight(s, m) * rowBytes;
  if (fast != 0) {
    gatherTiles4(fast + <usize>ci * planeBytes, o1, o2, o3, rowBytes, m, tmp);
    return;
  }
  for (let l = 0; l < 4; l++) { // one tile at a time
    const tl = tile + l, inBlock = l < valid;
    const im = tl / perImage, rm = tl % perImage;
    const src = xp + <usize>((min(im, first + images - 1) - first) * s.cIn + ci) * planeBytes + <usize>((rm / tilesW) * m) * rowBytes + (<usize>((rm % tilesW) * m) << 2);
    for (let r = 0; r < a; r++) {
      for (let q = 0; q < a; q++) {
        store<f32>(tmp + (<usize>(r * a + q) << 4) + (<usize>l << 2), inBlock ? load<f32>(src + <usize>r * rowBytes + (<usize>q << 2)) : 0);
      }
    }
  }
}

/** V = Bᵀ d B of four tiles (d in tmp, from gatherPatches; tmp2: scratch): V[p] to dst + p·ds. */
function inputTransformPatch(m: i32, tmp: usize, tmp2: usize, dst: usize, ds: usize): void {
  // down the columns into tmp2, then along the rows
  const cs = <usize>(m + 2) << 4;
  if (m == 2) {
    for (let q = 0; q < 4; q++) inputTransform2(tmp + (<usize>q << 4), cs, tmp2 + (<usize>q << 4), cs);
    for (let r = 0; r < 4; r++) inputTransform2(tmp2 + <usize>r * cs, 16, dst + <usize>(r * 4) * ds, ds);
  } else {
    for (let q = 0; q < 6; q++) inputTransform4(tmp + (<usize>q << 4), cs, tmp2 + (<usize>q << 4), cs);
    for (let r = 0; r < 6; r++) inputTransform4(tmp2 + <usize>r * cs, 16, dst + <usize>(r * 6) * ds, ds);
  }
}

// ---------------------------------------------------------------------------------------------
// The forward pass's input transform, in two halves.
//
// The vertical half (Bᵀ d, down the columns) runs on x's rows as they lie in memory, four
// columns per vector, and writes the block's band: α transformed rows for every tile row that
// the block touches, over the columns its tiles read. The horizontal half (· B, along the rows)
// then takes four tiles at once, one per lane, from the band (a 4×4 transpose of loads) and
// writes V. A band row holds x's column c at column c + 4: its columns 0..3 and the four after x's
// columns rounded up to 4 are zeroed once per call (x's column -1 is column 3), the vertical half
// writes zeros in the lanes past x's last column; rows above and below x are read from a zero row. So no padded copy of x is made, and no tile needs a bounds check.

/** Floats of one band row for maps `w` columns wide: 4 zero columns, w rounded up to 4, 4 more. */
// @ts-ignore: decorator
@inline function bandRowFloats(w: i32): i32 { return ((w + 3) & ~3) + 8; }

/** Most tile rows that a block of at most `tb` consecutive tiles touches. */
// @ts-ignore: decorator
@inline function bandTileRows(s: ConvShape, m: i32, tb: i32): i32 {
  const tilesW = tilesAcross(s.wOut, m);
  return (tb + tilesW - 2) / tilesW + 1;
}

/**
 * The vertical half of tile row `ty` of `plane` (one channel of one image of x, h × w) for x's
 * columns 4·k0 .. 4·k1: its α rows into the band rows from dst (`bandBytes` apart). zero: a zero row.
 */
function bandTransform(plane: usize, h: i32, w: i32, ty: i32, m: i32, k0: i32, k1: i32, zero: usize, dst: usize, bandBytes: usize): void {
  const xRow = <usize>w << 2, r = m * ty - 1; // the patch's first row (r + α - 1 ≥ 0 and r < h)
  const p0 = r >= 0 ? plane + <usize>r * xRow : zero, p1 = plane + <usize>(r + 1) * xRow;
  const p2 = r + 2 < h ? p1 + xRow : zero, p3 = r + 3 < h ? p1 + 2 * xRow : zero;
  const full = min(k1, w >> 2);
  let k = k0;
  if (m == 2) {
    for (; k < full; k++) {
      const o = <usize>k << 4;
      inputValues2(v128.load(p0 + o), v128.load(p1 + o), v128.load(p2 + o), v128.load(p3 + o), dst + o + 16, bandBytes);
    }
    for (; k < k1; k++) { // x's last columns, zeros after them
      const o = <usize>k << 4, n = w - 4 * k;
      inputValues2(loadLanes(p0 + o, n), loadLanes(p1 + o, n), loadLanes(p2 + o, n), loadLanes(p3 + o, n), dst + o + 16, bandBytes);
    }
    return;
  }
  const p4 = r + 4 < h ? p1 + 3 * xRow : zero, p5 = r + 5 < h ? p1 + 4 * xRow : zero;
  for (; k < full; k++) {
    const o = <usize>k << 4;
    inputValues4(v128.load(p0 + o), v128.load(p1 + o), v128.load(p2 + o), v128.load(p3 + o), v128.load(p4 + o), v128.load(p5 + o),
      dst + o + 16, bandBytes);
  }
  for (; k < k1; k++) {
    const o = <usize>k << 4, n = w - 4 * k;
    inputValues4(loadLanes(p0 + o, n), loadLanes(p1 + o, n), loadLanes(p2 + o, n), loadLanes(p3 + o, n), loadLanes(p4 + o, n),
      loadLanes(p5 + o, n), dst + o + 16, bandBytes);
  }
}

/**
 * The horizontal half of four tiles, F(4×4): tile l's patch row u at q + ol + u·bandBytes (o0 = 0);
 * V[p = u·6 + v] to dst + p·ds.
 */
// @ts-ignore: decorator
@inline function bandTiles4(q: usize, o1: usize, o2: usize, o3: usize, bandBytes: usize, dst: usize, ds: usize): void {
  for (let u = 0; u < 6; u++) {
    const p = q + <usize>u * bandBytes;
    const r0 = v128.load(p), r1 = v128.load(p + o1), r2 = v128.load(p + o2), r3 = v128.load(p + o3);
    const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    const s0 = v128.load(p, 16), s1 = v128.load(p + o1, 16), s2 = v128.load(p + o2, 16), s3 = v128.load(p + o3, 16);
    const e0 = v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), e1 = v128.shuffle<f32>(s2, s3, 0, 4, 1, 5);
    inputValues4(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), v128.shuffle<f32>(t2, t3, 0, 1, 4, 5),
      v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), v128.shuffle<f32>(e0, e1, 0, 1, 4, 5), v128.shuffle<f32>(e0, e1, 2, 3, 6, 7),
      dst + <usize>(u * 6) * ds, ds);
  }
}

/** bandTiles4 for F(2×2): V[p = u·4 + v] (four band rows). */
// @ts-ignore: decorator
@inline function bandTiles2(q: usize, o1: usize, o2: usize, o3: usize, bandBytes: usize, dst: usize, ds: usize): void {
  for (let u = 0; u < 4; u++) {
    const p = q + <usize>u * bandBytes;
    if (o1 == 8 && o2 == 16 && o3 == 24) { // one tile row: tile l column v is column 2l + v, even and odd lanes of two loads
      const l0 = v128.load(p), l1 = v128.load(p, 16), l2 = v128.load(p, 8), l3 = v128.load(p, 24);
      inputValues2(v128.shuffle<f32>(l0, l1, 0, 2, 4, 6), v128.shuffle<f32>(l0, l1, 1, 3, 5, 7), v128.shuffle<f32>(l2, l3, 0, 2, 4, 6),
        v128.shuffle<f32>(l2, l3, 1, 3, 5, 7), dst + <usize>(u * 4) * ds, ds);
      continue;
    }
    const r0 = v128.load(p), r1 = v128.load(p + o1), r2 = v128.load(p + o2), r3 = v128.load(p + o3);
    const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    inputValues2(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), v128.shuffle<f32>(t2, t3, 0, 1, 4, 5),
      v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), dst + <usize>(u * 4) * ds, ds);
  }
}

// ---------------------------------------------------------------------------------------------
// The convolution.

/** Floats of the forward's M matrices per tile and position: cOut rounded up to whole A panels. */
// @ts-ignore: decorator
@inline function mRows(cOut: i32): i32 { return (cOut + MR - 1) & ~(MR - 1); }

/** Floats of per-thread scratch that winogradForward needs for blocks of at most `tb` tiles. */
export function winogradScratch(shape: usize, m: i32, tb: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const a = m + 2, a2 = a * a, row = bandRowFloats(s.wOut);
  return a2 * ((s.cIn + mRows(s.cOut)) * tb + 2 * 16) + 2 * a2 * 4 + (bandTileRows(s, m, tb) * a + 1) * row + tb + 16;
}

/**
 * y = conv(x, g) for the whole batch, as described at the top, then + bias[co] when `bias` is not
 * 0, + res (a map shaped as y) when `res` is not 0 and max(·, 0) when `relu` (conv2d's epilogue,
 * see the contract). x: [n, cIn, h, w];
 * u: winogradWeights (R = cOut, C = cIn of this shape); y: [n, cOut, hOut, wOut]; tb: most tiles
 * per block, a multiple of 8; scratch: this thread's winogradScratch floats at scratch + tid·scratchStride.
 * Every output is computed whole by one thread: the result does not depend on the split.
 */
export function winogradForward(
  shape: usize, x: usize, u: usize, y: usize, bias: usize, res: usize, relu: bool, m: i32, tb: i32,
  scratch: usize, scratchStride: i32, tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const a = m + 2, a2 = a * a, cIn = s.cIn, cOut = s.cOut, hOut = s.hOut, wOut = s.wOut;
  const tilesW = tilesAcross(wOut, m), tilesH = tilesAcross(hOut, m), perImage = tilesW * tilesH;
  // blocks: parts of `tb` tiles of one image, or `imagesPer` whole images
  const imagesPer = blockImages(s, m, tb);
  const partsPer = imagesPer > 1 ? 1 : (perImage + tb - 1) / tb;
  const blocks = imagesPer > 1 ? (s.n + imagesPer - 1) / imagesPer : s.n * partsPer;
  // bytes between positions p: a cache line more than their matrices (the transforms write all
  // positions at once, which at multiples of 4 KiB apart would fall in the same L1 cache set)
  const vStride = (<usize>(cIn * tb) << 2) + 64, mStride = (<usize>(mRows(cOut) * tb) << 2) + 64;
  const uStride = <usize>packedASize(cOut, cIn) << 2;
  const vBase = scratch + <usize>tid * <usize>scratchStride;
  const mBase = vBase + <usize>a2 * vStride;
  const tmp = mBase + <usize>a2 * mStride, tmp2 = tmp + (<usize>a2 << 4);
  // the band (tile row R of the block at band + (R - R0)·α·bandBytes), the zero row, the groups' lane offsets
  const bandBytes = <usize>bandRowFloats(wOut) << 2, bandRows = bandTileRows(s, m, tb) * a;
  const band = tmp2 + (<usize>a2 << 4), zero = band + <usize>bandRows * bandBytes, offs = zero + bandBytes;
  memory.fill(zero, 0, bandBytes);
  for (let r = 0; r < bandRows; r++) { // the zero columns left and right of x's
    v128.store(band + <usize>r * bandBytes, zero4());
    v128.store(band + <usize>r * bandBytes + (<usize>((wOut + 3) & ~3) << 2), zero4(), 16);
  }
  const kBlocks = blockCount(cIn, KC_MAX);
  const xPlane = <usize>(s.h * s.w) << 2;
  const yRow = <usize>wOut << 2, yPlane = <usize>(hOut * wOut) << 2;
  for (;;) {
    const blk = takeWork(1);
    if (blk >= blocks) break;
    const first = imagesPer > 1 ? blk * imagesPer : blk / partsPer, images = min(imagesPer, s.n - first);
    const t0 = imagesPer > 1 ? first * perImage : first * perImage + (blk % partsPer) * tb;
    const count = imagesPer > 1 ? images * perImage : min(tb, (first + 1) * perImage - t0);
    const groups = (count + 3) >> 2;
    // input transform: V[p][ci, tile] in B strips, k-block by k-block
    const R0 = t0 / tilesW, R1 = (t0 + count - 1) / tilesW; // the block's tile rows (over the images)
    for (let g = 0; g < groups; g++) { // the band offsets of the group's tiles (a lane past the block: its last tile's)
      for (let l = 0; l < 4; l++) {
        const tl = t0 + min(4 * g + l, count - 1);
        const at = <usize>(tl / tilesW - R0) * <usize>a * bandBytes + (<usize>((tl % tilesW) * m + 3) << 2);
        store<u32>(offs + (<usize>(4 * g + l) << 2), <u32>at);
      }
    }
    for (let kb = 0; kb < ((phases & PHASE_INPUT) != 0 ? kBlocks : 0); kb++) {
      const pc = rangeStart(cIn, kb, kBlocks), kc = rangeStart(cIn, kb + 1, kBlocks) - pc;
      for (let ci = pc; ci < pc + kc; ci++) {
        for (let R = R0; R <= R1; R++) { // the vertical half over the columns of the block's tiles in row R
          const ta = max(t0, R * tilesW) - R * tilesW, te = min(t0 + count, (R + 1) * tilesW) - R * tilesW;
          const plane = x + <usize>((R / tilesH) * cIn + ci) * xPlane;
          bandTransform(plane, s.h, s.w, R % tilesH, m, max(0, (m * ta - 1) >> 2), min((m * te + 4) >> 2, (s.w + 3) >> 2), zero,
            band + <usize>((R - R0) * a) * bandBytes, bandBytes);
        }
        const vc = vBase + (<usize>(pc * tb + (ci - pc) * NR) << 2); // V[0][ci, strip 0]
        for (let g = 0; g < groups; g++) { // the horizontal half, four tiles at a time
          const o = offs + (<usize>g << 4);
          const q = band + <usize>load<u32>(o);
          const o1 = <usize>load<u32>(o, 4) - <usize>load<u32>(o), o2 = <usize>load<u32>(o, 8) - <usize>load<u32>(o);
          const o3 = <usize>load<u32>(o, 12) - <usize>load<u32>(o);
          const dst = vc + (<usize>(((4 * g) >> 3) * kc * NR) << 2) + (<usize>((4 * g) & 7) << 2);
          if (m == 2) bandTiles2(q, o1, o2, o3, bandBytes, dst, vStride);
          else if (o1 == 16 && o2 == 32 && o3 == 48) bandTiles4(q, 16, 32, 48, bandBytes, dst, vStride); // one tile row
          else bandTiles4(q, o1, o2, o3, bandBytes, dst, vStride);
        }
      }
    }
    // M[p] = U[p] · V[p]
    const ncols = roundUp8(count);
    for (let p = 0; p < ((phases & PHASE_MULTIPLY) != 0 ? a2 : 0); p++) {
      const vp = vBase + <usize>p * vStride, mp = mBase + <usize>p * mStride, up = u + <usize>p * uStride;
      if (kBlocks == 1) { multiplyPosition(up, vp, mp, mRows(cOut) >> 2, ncols >> 3, cIn, <usize>tb << 2); continue; }
      for (let kb = 0; kb < kBlocks; kb++) {
        const pc = rangeStart(cIn, kb, kBlocks), kc = rangeStart(cIn, kb + 1, kBlocks) - pc;
        multiplyPacked(up, cOut, cIn, 0, cOut, pc, kc, vp + (<usize>(pc * tb) << 2), ncols, mp, tb, kb > 0);
      }
    }
    // output transform: y = Aᵀ M A
    for (let g = 0; g < ((phases & PHASE_OUTPUT) != 0 ? groups : 0); g++) {
      const tile = t0 + 4 * g;
      // four whole tiles: stored by storeTiles, tile l's outputs at y0 + yl in every channel
      const fast = groupInside(s, m, tile, count - 4 * g);
      const y0 = outputAddress(s, m, y, cOut, tile);
      const y1 = fast ? outputAddress(s, m, y, cOut, tile + 1) - y0 : 0;
      const y2 = fast ? outputAddress(s, m, y, cOut, tile + 2) - y0 : 0;
      const y3 = fast ? outputAddress(s, m, y, cOut, tile + 3) - y0 : 0;
      for (let co = 0; co < cOut; co++) {
        const src = mBase + (<usize>(co * tb + 4 * g) << 2);
        // Aᵀ M: down the columns into tmp (m × α), then along the rows (whole tiles: in storeTiles)
        const cs = <usize>a << 4;
        if (m == 2) for (let q = 0; q < 4; q++) outputTransform2(src + <usize>q * mStride, <usize>a * mStride, tmp + (<usize>q << 4), cs);
        else for (let q = 0; q < 6; q++) outputTransform4(src + <usize>q * mStride, <usize>a * mStride, tmp + (<usize>q << 4), cs);
        const b = bias != 0 ? load<f32>(bias + (<usize>co << 2)) : 0;
        if (fast) {
          const at = y0 - y + <usize>co * yPlane;
          storeTiles(tmp, m, y + at, y1, y2, y3, yRow, b, res ? res + at : 0, relu);
          continue;
        }
        if (m == 2) for (let r = 0; r < 2; r++) outputTransform2(tmp + <usize>r * cs, 16, tmp2 + (<usize>(r * 2) << 4), 16);
        else for (let r = 0; r < 4; r++) outputTransform4(tmp + <usize>r * cs, 16, tmp2 + (<usize>(r * 4) << 4), 16);
        // with a residual, it and the ReLU after it are added in the stores
        const early = relu && res == 0;
        if (bias != 0 || early) epilogue(tmp2, m * m, b, early);
        for (let l = 0; l < 4; l++) {
          if (4 * g + l >= count) break;
          const tl = tile + l, im = tl / perImage, rm = tl % perImage;
          const oy = (rm / tilesW) * m, ox = (rm % tilesW) * m;
          const plane = <usize>(im * cOut + co) * yPlane;
          for (let i = 0; i < m; i++) {
            if (oy + i >= hOut) break;
            for (let j = 0; j < m; j++) {
              if (ox + j >= wOut) break;
              const at = plane + (<usize>((oy + i) * wOut + ox + j) << 2);
              let v = load<f32>(tmp2 + (<usize>(i * m + j) << 4) + (<usize>l << 2));
              if (res) {
                v += load<f32>(res + at);
                if (relu) v = v > 0 ? v : 0; // NaN → 0, as the reference
              }
              store<f32>(y + at, v);
            }
          }
        }
      }
    }
  }
}

/**
 * M = U · V for one position when every input channel is in one k-block: U packed as gemm.ts's A
 * panels (`panels` of them, kc columns), V as its B strips (`strips` of kc × 8), M whole 4×8 tiles
 * (its rows past cOut get the zero rows of U's last panel), rows ldc bytes apart. gemm.ts's
 * micro-kernel, inlined here without its partial tiles and epilogue: with the few input
 * channels of CIFAR's layers (k = 16) the calls and their checks cost as much as the multiply-adds
 * (16@32², 1 thread: the multiplies took 8.3 ms through multiplyPacked, 8.0 calling tile4x8 per
 * tile, 6.1 inlined).
 */
function multiplyPosition(up: usize, vp: usize, mp: usize, panels: i32, strips: i32, kc: i32, ldc: usize): void {
  const panelBytes = <usize>kc << 4, stripBytes = <usize>kc << 5;
  for (let st = 0; st < strips; st++) {
    const b = vp + <usize>st * stripBytes;
    for (let r = 0; r < panels; r++) {
      microTile(kc, up + <usize>r * panelBytes, b, false, 0, mp + <usize>(4 * r) * ldc + (<usize>st << 5), ldc, false, MR, NR, 0, 0, false, false, true);
    }
  }
}

/** v + b, then max(·, 0) when `relu`, on `count` v128s at p. */
function epilogue(p: usize, count: i32, b: f32, relu: bool): void {
  const bv = f32x4.splat(b);
  for (let i = 0; i < count; i++) v128.store(p + (<usize>i << 4), withBias(v128.load(p + (<usize>i << 4)), bv, relu));
}

/** v + the four floats at `r`, then max(·, 0) when `relu`; v itself when r is 0. */
// @ts-ignore: decorator
@inline function plusResidual(v: v128, r: usize, relu: bool): v128 {
  if (!r) return v;
  const s = f32x4.add(v, v128.load(r));
  return relu ? f32x4.pmax(f32x4.splat(0), s) : s;
}

/**
 * The row half of the output transform of four whole tiles (tmp: Aᵀ M, m rows of α v128s, lane l
 * = tile l), + b, and the stores to y: tile 0's first row at out, tile l's at out + yl
 * (consecutive tiles of one row: m, 2m, 3m floats), rows yRow bytes apart. Then the ReLU, after
 * the same places of the residual map at `res` (laid out as y) are added when `res` is not 0.
 */
function storeTiles(tmp: usize, m: i32, out: usize, y1: usize, y2: usize, y3: usize, yRow: usize, b: f32, res: usize, relu: bool): void {
  const bv = f32x4.splat(b), early = relu && !res;
  if (m == 2) { // row i: o[i,0] and o[i,1] interleaved, two tiles per vector
    for (let i = 0; i < 2; i++) {
      const q = tmp + (<usize>i << 6);
      const m0 = v128.load(q), m1 = v128.load(q, 16), m2 = v128.load(q, 32), m3 = v128.load(q, 48);
      const o0 = withBias(f32x4.add(f32x4.add(m0, m1), m2), bv, early), o1 = withBias(f32x4.sub(f32x4.sub(m1, m2), m3), bv, early);
      const d = out + <usize>i * yRow, r = res ? res + <usize>i * yRow : 0;
      let v01 = v128.shuffle<f32>(o0, o1, 0, 4, 1, 5), v23 = v128.shuffle<f32>(o0, o1, 2, 6, 3, 7);
      if (y1 == 8 && y2 == 16 && y3 == 24) {
        v128.store(d, plusResidual(v01, r, relu));
        v128.store(d, plusResidual(v23, r ? r + 16 : 0, relu), 16);
        continue;
      }
      if (r) { // the residual's pairs gathered like the outputs
        const r01 = v128.shuffle<f32>(v128.load64_zero(r), v128.load64_zero(r + y1), 0, 1, 4, 5);
        const r23 = v128.shuffle<f32>(v128.load64_zero(r + y2), v128.load64_zero(r + y3), 0, 1, 4, 5);
        v01 = f32x4.add(v01, r01);
        v23 = f32x4.add(v23, r23);
        if (relu) { v01 = f32x4.pmax(f32x4.splat(0), v01); v23 = f32x4.pmax(f32x4.splat(0), v23); }
      }
      v128.store64_lane(d, v01, 0);
      v128.store64_lane(d + y1, v01, 1);
      v128.store64_lane(d + y2, v23, 0);
      v128.store64_lane(d + y3, v23, 1);
    }
    return;
  }
  if (y1 == 16 && y2 == 32 && y3 == 48) { // one tile row (constant offsets)
    for (let i = 0; i < 4; i++) storeRow4(tmp + <usize>i * 96, bv, early, out + <usize>i * yRow, 16, 32, 48, res ? res + <usize>i * yRow : 0, relu);
    return;
  }
  for (let i = 0; i < 4; i++) storeRow4(tmp + <usize>i * 96, bv, early, out + <usize>i * yRow, y1, y2, y3, res ? res + <usize>i * yRow : 0, relu);
}

/** v + bv, then max(·, 0) when `relu` (NaN → 0, as the reference). */
// @ts-ignore: decorator
@inline function withBias(v: v128, bv: v128, relu: bool): v128 {
  const s = f32x4.add(v, bv);
  return relu ? f32x4.pmax(f32x4.splat(0), s) : s;
}

/**
 * Row i of four F(4×4) tiles: the six v128s at q (Aᵀ M's row i) · A, + bv (then the ReLU when
 * `early`), transposed: tile l's four floats to d + yl (y0 = 0), plus the residual's at r + yl and
 * the ReLU when r is not 0 (plusResidual).
 */
// @ts-ignore: decorator
@inline function storeRow4(q: usize, bv: v128, early: bool, d: usize, y1: usize, y2: usize, y3: usize, r: usize, relu: bool): void {
  const m0 = v128.load(q), m1 = v128.load(q, 16), m2 = v128.load(q, 32), m3 = v128.load(q, 48), m4 = v128.load(q, 64), m5 = v128.load(q, 80);
  const sp = f32x4.add(m1, m2), sm = f32x4.sub(m1, m2), tp = f32x4.add(m3, m4), tm = f32x4.sub(m3, m4);
  const r0 = withBias(f32x4.add(f32x4.add(m0, sp), tp), bv, early);
  const r1 = withBias(f32x4.add(sm, f32x4.mul(f32x4.splat(2), tm)), bv, early);
  const r2 = withBias(f32x4.add(sp, f32x4.mul(f32x4.splat(4), tp)), bv, early);
  const r3 = withBias(f32x4.add(f32x4.add(sm, f32x4.mul(f32x4.splat(8), tm)), m5), bv, early);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(d, plusResidual(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), r, relu));
  v128.store(d + y1, plusResidual(v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), r ? r + y1 : 0, relu));
  v128.store(d + y2, plusResidual(v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), r ? r + y2 : 0, relu));
  v128.store(d + y3, plusResidual(v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), r ? r + y3 : 0, relu));
}

// ---------------------------------------------------------------------------------------------
// The filter gradient.
//
// With Y = Aᵀ [Σ_ci U ⊙ V] A per tile, the gradient of the transformed filter is
//     dU[p][co, ci] = Σ_tiles dM[p][co, tile] · V[p][ci, tile],   dM = A dY Aᵀ
// (dY: the tile's m×m block of dy, zero past the map), and dw[co, ci] = Gᵀ dU[co, ci] G: per
// position p a matrix multiply of cOut × cIn whose reduction runs over the tiles. Both operands
// come out of their transforms with four tiles in the four lanes, so the multiply takes dot
// products along the tiles (dotTiles2x4) and adds the lanes up at the end of a block. Within a
// block, V[p] is stored by quads of input channels and dM[p] by pairs of output channels, the
// quad's (pair's) four (two) vectors of the same four tiles next to each other: the dot
// products then read both operands sequentially.
//   * winogradWeightGrad: the images are cut into `chunks` fixed, contiguous ranges of blocks
//     (the forward's blocks); threads take chunks from the shared work counter; a chunk's blocks
//     are transformed (V from padded images, dM from dy) and multiplied into the thread's dU,
//     which then goes through Gᵀ · G into the chunk's own partial sum of dw;
//   * winogradGradReduce adds the partial sums in chunk order: the result does not depend on
//     which thread took which chunk.

/** A of F(2×2) (the transpose of the output transform): (d0, d0 + d1, d0 - d1, -d1). */
// @ts-ignore: decorator
@inline function gradTransform2(src: usize, ss: usize, dst: usize, ds: usize): void {
  const d0 = v128.load(src), d1 = v128.load(src + ss);
  v128.store(dst, d0);
  v128.store(dst + ds, f32x4.add(d0, d1));
  v128.store(dst + 2 * ds, f32x4.sub(d0, d1));
  v128.store(dst + 3 * ds, f32x4.neg(d1));
}

/** A of F(4×4): (d0, d0+d1+d2+d3, d0-d1+d2-d3, d0+2d1+4d2+8d3, d0-2d1+4d2-8d3, d3). */
// @ts-ignore: decorator
@inline function gradTransform4(src: usize, ss: usize, dst: usize, ds: usize): void {
  const d0 = v128.load(src), d1 = v128.load(src + ss), d2 = v128.load(src + 2 * ss), d3 = v128.load(src + 3 * ss);
  const e = f32x4.add(d0, d2), o = f32x4.add(d1, d3);
  const e4 = f32x4.add(d0, f32x4.mul(f32x4.splat(4), d2)), o4 = f32x4.mul(f32x4.splat(2), f32x4.add(d1, f32x4.mul(f32x4.splat(4), d3)));
  v128.store(dst, d0);
  v128.store(dst + ds, f32x4.add(e, o));
  v128.store(dst + 2 * ds, f32x4.sub(e, o));
  v128.store(dst + 3 * ds, f32x4.add(e4, o4));
  v128.store(dst + 4 * ds, f32x4.sub(e4, o4));
  v128.store(dst + 5 * ds, d3);
}

/** Gᵀ of F(2×2): (d0 + (d1 + d2)/2, (d1 - d2)/2, (d1 + d2)/2 + d3). */
// @ts-ignore: decorator
@inline function filterGradTransform2(src: usize, ss: usize, dst: usize, ds: usize): void {
  const d0 = v128.load(src), d1 = v128.load(src + ss), d2 = v128.load(src + 2 * ss), d3 = v128.load(src + 3 * ss);
  const half = f32x4.splat(0.5);
  const sp = f32x4.mul(half, f32x4.add(d1, d2));
  v128.store(dst, f32x4.add(d0, sp));
  v128.store(dst + ds, f32x4.mul(half, f32x4.sub(d1, d2)));
  v128.store(dst + 2 * ds, f32x4.add(sp, d3));
}

/** Gᵀ of F(4×4) (G as in gCoef). */
// @ts-ignore: decorator
@inline function filterGradTransform4(src: usize, ss: usize, dst: usize, ds: usize): void {
  const d0 = v128.load(src), d1 = v128.load(src + ss), d2 = v128.load(src + 2 * ss);
  const d3 = v128.load(src + 3 * ss), d4 = v128.load(src + 4 * ss), d5 = v128.load(src + 5 * ss);
  const sp = f32x4.add(d1, d2), sm = f32x4.sub(d2, d1), tp = f32x4.add(d3, d4), tm = f32x4.sub(d3, d4);
  const sixth = f32x4.splat(1.0 / 6);
  v128.store(dst, f32x4.add(f32x4.sub(f32x4.mul(f32x4.splat(0.25), d0), f32x4.mul(sixth, sp)), f32x4.mul(f32x4.splat(1.0 / 24), tp)));
  v128.store(dst + ds, f32x4.add(f32x4.mul(sixth, sm), f32x4.mul(f32x4.splat(1.0 / 12), tm)));
  v128.store(dst + 2 * ds, f32x4.add(f32x4.mul(sixth, f32x4.sub(tp, sp)), d5));
}

/**
 * dY of output channel co for the four tiles tile .. tile+3 (lane l = tile + l; zeros past the map
 * and for lanes ≥ `valid`) into tmp (m×m v128s, row-major). dy: [n, cOut, hOut, wOut]. `fast` (not
 * 0) when the four are valid and whole inside the map (groupInside): outputAddress of the first in
 * channel 0, the others' at fast + o1, o2, o3.
 */
function gatherDy(s: ConvShape, m: i32, dy: usize, co: i32, tile: i32, valid: i32, fast: usize, o1: usize, o2: usize, o3: usize, tmp: usize): void {
  const hOut = s.hOut, wOut = s.wOut, tilesW = tilesAcross(wOut, m), perImage = tilesW * tilesAcross(hOut, m);
  const rowBytes = <usize>wOut << 2;
  if (fast != 0) {
    const src = fast + <usize>co * <usize>(hOut * wOut) * 4;
    if (m == 2) { // row i: tile l's two values
      for (let i = 0; i < 2; i++) {
        const p = src + <usize>i * rowBytes, d = tmp + (<usize>i << 5);
        let l0: v128, l1: v128;
        if (o1 == 8 && o2 == 16 && o3 == 24) { // one tile row: the even and odd lanes of two loads
          l0 = v128.load(p); l1 = v128.load(p, 16);
        } else {
          l0 = v128.shuffle<f32>(v128.load64_zero(p), v128.load64_zero(p + o1), 0, 1, 4, 5);
          l1 = v128.shuffle<f32>(v128.load64_zero(p + o2), v128.load64_zero(p + o3), 0, 1, 4, 5);
        }
        v128.store(d, v128.shuffle<f32>(l0, l1, 0, 2, 4, 6));
        v128.store(d, v128.shuffle<f32>(l0, l1, 1, 3, 5, 7), 16);
      }
      return;
    }
    if (o1 == 16 && o2 == 32 && o3 == 48) { // one tile row (constant offsets)
      for (let i = 0; i < 4; i++) transposeLoads(src + <usize>i * rowBytes, 16, 32, 48, tmp + (<usize>i << 6), 4);
      return;
    }
    for (let i = 0; i < 4; i++) transposeLoads(src + <usize>i * rowBytes, o1, o2, o3, tmp + (<usize>i << 6), 4); // row i
    return;
  }
  for (let l = 0; l < 4; l++) { // one tile at a time
    const tl = tile + l, im = tl / perImage, rm = tl % perImage;
    const oy = (rm / tilesW) * m, ox = (rm % tilesW) * m;
    const plane = dy + (<usize>((im * s.cOut + co) * hOut * wOut) << 2);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        const inside = l < valid && oy + i < hOut && ox + j < wOut;
        store<f32>(tmp + (<usize>(i * m + j) << 4) + (<usize>l << 2), inside ? load<f32>(plane + (<usize>((oy + i) * wOut + ox + j) << 2)) : 0);
      }
    }
  }
}

/** dM = A dY Aᵀ of four tiles (dY in tmp, from gatherDy; tmp2: scratch): dM[p] to dst + p·ds. */
function gradTransformTile(m: i32, tmp: usize, tmp2: usize, dst: usize, ds: usize): void {
  // down the columns into tmp2 (α × m), then along its rows
  const cs = <usize>m << 4;
  if (m == 2) {
    for (let j = 0; j < 2; j++) gradTransform2(tmp + (<usize>j << 4), cs, tmp2 + (<usize>j << 4), cs);
    for (let u = 0; u < 4; u++) gradTransform2(tmp2 + <usize>u * cs, 16, dst + <usize>(u * 4) * ds, ds);
  } else {
    for (let j = 0; j < 4; j++) gradTransform4(tmp + (<usize>j << 4), cs, tmp2 + (<usize>j << 4), cs);
    for (let u = 0; u < 6; u++) gradTransform4(tmp2 + <usize>u * cs, 16, dst + <usize>(u * 6) * ds, ds);
  }
}

/** The four lane sums of a0, a1, a2, a3 as one vector (Σ a0, Σ a1, Σ a2, Σ a3). */
// @ts-ignore: decorator
@inline function laneSums4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}

/**
 * c[r, j] (+)= Σ_{t < kc} a_r[t] · b_j[t] for rows r = 0, 1 and j = 0..3, kc a multiple of 4: a
 * holds a_0 and a_1 four floats at a time, interleaved (a_0[0..4], a_1[0..4], a_0[4..8], ...),
 * b the four b_j likewise; c row 0 at c, row 1 at c + ldc bytes (written when `two`).
 */
function dotTiles2x4(a: usize, b: usize, kc: i32, c: usize, ldc: usize, add: bool, two: bool): void {
  let c00 = zero4(), c01 = zero4(), c02 = zero4(), c03 = zero4();
  let c10 = zero4(), c11 = zero4(), c12 = zero4(), c13 = zero4();
  for (let g = 0; g < kc; g += 4) {
    const x0 = v128.load(a), x1 = v128.load(a, 16);
    let y = v128.load(b);
    c00 = madd(x0, y, c00); c10 = madd(x1, y, c10);
    y = v128.load(b, 16);
    c01 = madd(x0, y, c01); c11 = madd(x1, y, c11);
    y = v128.load(b, 32);
    c02 = madd(x0, y, c02); c12 = madd(x1, y, c12);
    y = v128.load(b, 48);
    c03 = madd(x0, y, c03); c13 = madd(x1, y, c13);
    a += 32; b += 64;
  }
  let r0 = laneSums4(c00, c01, c02, c03);
  if (add) r0 = f32x4.add(r0, v128.load(c));
  v128.store(c, r0);
  if (!two) return;
  let r1 = laneSums4(c10, c11, c12, c13);
  if (add) r1 = f32x4.add(r1, v128.load(c + ldc));
  v128.store(c + ldc, r1);
}

/**
 * C[co, ci] (+)= Σ_{t < kc} a[co, t] · b[ci, t] for co < rows, ci < cols: a by pairs of rows,
 * b by quads (see dotTiles2x4), `tb` floats per row; C: rows of roundUp4(cols) floats, `ldc`
 * bytes apart (its columns past `cols` get what the quad's unused rows hold).
 */
function multiplyTiles(a: usize, b: usize, tb: i32, rows: i32, cols: i32, kc: i32, c: usize, ldc: usize, add: bool): void {
  const pairBytes = <usize>tb << 3, quadBytes = <usize>tb << 4;
  for (let ci = 0; ci < cols; ci += 4) {
    const bq = b + <usize>(ci >> 2) * quadBytes;
    for (let co = 0; co < rows; co += 2) {
      dotTiles2x4(a + <usize>(co >> 1) * pairBytes, bq, kc, c + <usize>co * ldc + (<usize>ci << 2), ldc, add, co + 1 < rows);
    }
  }
}

/** Images per block and blocks of the filter gradient (the forward's blocks of at most `tb` tiles). */
export function winogradBlocks(shape: usize, m: i32, tb: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const perImage = tilesAcross(s.hOut, m) * tilesAcross(s.wOut, m), imagesPer = blockImages(s, m, tb);
  return imagesPer > 1 ? (s.n + imagesPer - 1) / imagesPer : s.n * ((perImage + tb - 1) / tb);
}

/** Floats of per-thread scratch that winogradWeightGrad needs for blocks of at most `tb` tiles. */
export function winogradGradScratch(shape: usize, m: i32, tb: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const a2 = (m + 2) * (m + 2);
  const padded = blockImages(s, m, tb) * s.cIn * paddedHeight(s, m) * paddedWidth(s, m) + 16;
  const cIn4 = (s.cIn + 3) & ~3;
  return a2 * ((cIn4 + ((s.cOut + 1) & ~1)) * tb + s.cOut * cIn4 + 3 * 16) + 2 * a2 * 4 + padded + 16;
}

/**
 * dw = Σ over the images of the filter gradient of conv(x, w), by Winograd F(m×m, 3×3), as
 * described above. x: [n, cIn, h, w]; dy: [n, cOut, hOut, wOut]; dw: [cOut, cIn, 3, 3]
 * (overwritten); tb: most tiles per block, a multiple of 4; scratch: this thread's
 * winogradGradScratch floats at scratch + tid·scratchStride; partials: `chunks` sums of
 * cOut·cIn·9 floats (unused when chunks is 1: the one chunk writes dw).
 */
export function winogradWeightGrad(
  shape: usize, x: usize, dy: usize, dw: usize, m: i32, tb: i32,
  scratch: usize, scratchStride: i32, partials: usize, chunks: i32, tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const a = m + 2, a2 = a * a, cIn = s.cIn, cOut = s.cOut, cIn4 = (cIn + 3) & ~3;
  const tilesW = tilesAcross(s.wOut, m), perImage = tilesW * tilesAcross(s.hOut, m);
  const imagesPer = blockImages(s, m, tb);
  const partsPer = imagesPer > 1 ? 1 : (perImage + tb - 1) / tb;
  const blocks = winogradBlocks(shape, m, tb);
  const rowBytes = <usize>tb << 2; // floats of one channel in V[p] and dM[p]
  // bytes between positions p (a cache line more than their matrices: the transforms write all
  // positions at once, which at multiples of 4 KiB apart would fall in the same L1 cache set)
  const vStride = <usize>cIn4 * rowBytes + 64, mStride = <usize>((cOut + 1) & ~1) * rowBytes + 64;
  const ldc = <usize>cIn4 << 2, dStride = <usize>cOut * ldc + 64;
  const vBase = scratch + <usize>tid * <usize>scratchStride;
  const mBase = vBase + <usize>a2 * vStride;
  const dU = mBase + <usize>a2 * mStride;
  const tmp = dU + <usize>a2 * dStride, tmp2 = tmp + (<usize>a2 << 4);
  const xp = tmp2 + (<usize>a2 << 4);
  const partialBytes = <usize>(cOut * cIn * 9) << 2;
  for (;;) {
    const chunk = takeWork(1);
    if (chunk >= chunks) break;
    const out = chunks > 1 ? partials + <usize>chunk * partialBytes : dw;
    const b1 = rangeStart(blocks, chunk + 1, chunks);
    let paddedFirst = -1, first = true;
    for (let blk = rangeStart(blocks, chunk, chunks); blk < b1; blk++) {
      const firstImage = imagesPer > 1 ? blk * imagesPer : blk / partsPer, images = min(imagesPer, s.n - firstImage);
      const t0 = imagesPer > 1 ? firstImage * perImage : firstImage * perImage + (blk % partsPer) * tb;
      const count = imagesPer > 1 ? images * perImage : min(tb, (firstImage + 1) * perImage - t0);
      if (paddedFirst != firstImage && (phases & PHASE_PAD) != 0) { padImages(s, x, firstImage, images, xp, m); paddedFirst = firstImage; }
      const groups = (count + 3) >> 2;
      for (let g = 0; g < ((phases & PHASE_INPUT) != 0 ? groups : 0); g++) { // V[p][ci, tile] and dM[p][co, tile], four tiles at a time
        const tile = t0 + 4 * g, valid = count - 4 * g;
        const fast = valid >= 4 ? patchAddress(s, m, xp, firstImage, tile) : 0;
        const o1 = fast != 0 ? patchAddress(s, m, xp, firstImage, tile + 1) - fast : 0;
        const o2 = fast != 0 ? patchAddress(s, m, xp, firstImage, tile + 2) - fast : 0;
        const o3 = fast != 0 ? patchAddress(s, m, xp, firstImage, tile + 3) - fast : 0;
        const lane = <usize>g << 6; // the quad's vectors of these four tiles
        for (let ci = 0; ci < cIn; ci++) {
          gatherPatches(s, m, xp, firstImage, images, ci, tile, valid, fast, o1, o2, o3, tmp);
          inputTransformPatch(m, tmp, tmp2, vBase + <usize>(ci >> 2) * (rowBytes << 2) + lane + (<usize>(ci & 3) << 4), vStride);
        }
        const inside = groupInside(s, m, tile, valid);
        const d0 = inside ? outputAddress(s, m, dy, cOut, tile) : 0;
        const d1 = inside ? outputAddress(s, m, dy, cOut, tile + 1) - d0 : 0;
        const d2 = inside ? outputAddress(s, m, dy, cOut, tile + 2) - d0 : 0;
        const d3 = inside ? outputAddress(s, m, dy, cOut, tile + 3) - d0 : 0;
        for (let co = 0; co < cOut; co++) {
          gatherDy(s, m, dy, co, tile, valid, d0, d1, d2, d3, tmp);
          gradTransformTile(m, tmp, tmp2, mBase + <usize>(co >> 1) * (rowBytes << 1) + (lane >> 1) + (<usize>(co & 1) << 4), mStride);
        }
      }
      for (let p = 0; p < ((phases & PHASE_MULTIPLY) != 0 ? a2 : 0); p++) { // dU[p] (+)= dM[p] · V[p]ᵀ
        multiplyTiles(mBase + <usize>p * mStride, vBase + <usize>p * vStride, tb, cOut, cIn, groups * 4, dU + <usize>p * dStride, ldc, !first);
      }
      first = false;
    }
    if (first) { memory.fill(out, 0, partialBytes); continue; } // an empty chunk
    // dw[co, ci] = Gᵀ dU[co, ci] G, four input channels at a time
    for (let co = 0; co < ((phases & PHASE_OUTPUT) != 0 ? cOut : 0); co++) {
      for (let ci = 0; ci < cIn; ci += 4) {
        const src = dU + <usize>co * ldc + (<usize>ci << 2);
        const cs = <usize>a << 4;
        for (let p = 0; p < a2; p++) v128.store(tmp + (<usize>p << 4), v128.load(src + <usize>p * dStride));
        if (m == 2) { // down the columns into tmp2 (3 × α), then along its rows into tmp (3 × 3)
          for (let v = 0; v < 4; v++) filterGradTransform2(tmp + (<usize>v << 4), cs, tmp2 + (<usize>v << 4), cs);
          for (let i = 0; i < 3; i++) filterGradTransform2(tmp2 + <usize>i * cs, 16, tmp + (<usize>(i * 3) << 4), 16);
        } else {
          for (let v = 0; v < 6; v++) filterGradTransform4(tmp + (<usize>v << 4), cs, tmp2 + (<usize>v << 4), cs);
          for (let i = 0; i < 3; i++) filterGradTransform4(tmp2 + <usize>i * cs, 16, tmp + (<usize>(i * 3) << 4), 16);
        }
        const lanes = min(4, cIn - ci);
        for (let l = 0; l < lanes; l++) {
          const d = out + (<usize>((co * cIn + ci + l) * 9) << 2);
          for (let k = 0; k < 9; k++) store<f32>(d + (<usize>k << 2), load<f32>(tmp + (<usize>k << 4) + (<usize>l << 2)));
        }
      }
    }
  }
}

/**
 * Second phase of winogradWeightGrad with `chunks` > 1: dw[i] = Σ over the chunks, in order, of
 * their partial sums (len floats each). Threads split the elements.
 */
export function winogradGradReduce(dw: usize, partials: usize, len: i32, chunks: i32, tid: i32, nt: i32): void {
  const i0 = rangeStart(len >> 2, tid, nt) << 2;
  const i1 = tid + 1 == nt ? len : rangeStart(len >> 2, tid + 1, nt) << 2;
  const step = <usize>len << 2;
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const at = <usize>i << 2;
    let v = v128.load(partials + at);
    for (let c = 1; c < chunks; c++) v = f32x4.add(v, v128.load(partials + <usize>c * step + at));
    v128.store(dw + at, v);
  }
  for (; i < i1; i++) {
    const at = <usize>i << 2;
    let v = load<f32>(partials + at);
    for (let c = 1; c < chunks; c++) v += load<f32>(partials + <usize>c * step + at);
    store<f32>(dw + at, v);
  }
}
