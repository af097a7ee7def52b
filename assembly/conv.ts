// conv.ts: 2-D convolution forward and backward as matrix multiplies (gemm.ts).
//
// For one image, with K = cIn·kh·kw and P = hOut·wOut output pixels:
//   forward          y[cOut, P]  = W[cOut, K] · col[K, P]             (implicit GEMM: im2col is
//                    folded into the packing of B, so the K×P matrix never exists in memory;
//                    1×1 stride-1 unpadded convolutions pack x itself as B). Both modes below
//                    read the image's "phase image": its zero-padded copy split by the residues
//                    of rows and columns mod the strides (phaseImage), in which the eight outputs
//                    of one output row read eight consecutive floats for every tap at any stride
//                    (a stride-2 convolution becomes four stride-1 ones of the phase planes with
//                    parts of the kernel); at stride 1 it is the padded copy, and without padding
//                    x itself (no copy: each thread would otherwise copy the whole image at batch
//                    1). Convolutions whose output rows hold whole 8-pixel strips (but the 1×1
//                    stride-1 ones, which pack x) skip packing B:
//                    the micro-kernel reads 8 consecutive pixels of the phase image through a
//                    table of per-k offsets ("direct" mode); other convolutions pack B from it
//                    (two vector loads per 8 outputs of one row, no bounds checks)
//   backward input   stride 1: a forward convolution of dy with the flipped, transposed weights
//                    (padding d·(k-1) - p); other strides, dilation 1: each phase of dx (rows
//                    and columns mod the strides) is a stride-1 correlation of dy with part of
//                    the flipped kernel, computed as the direct mode does and interleaved into dx
//                    ("by phases of dx"); dilated strided ones: dcol[K, P] = Wᵀ · dy[cOut, P]
//                    one column block at a time, scattered (col2im) into a zero-padded copy of
//                    dx (no bounds checks) that is copied out at the end
//   backward weight  dWᵀ[K, cOut] += col[K, P] · dyᵀ[P, cOut], summed over the images: the
//                    micro-kernel broadcasts col values read in place from a padded copy of the
//                    image (four taps at a time), and only dy (K times smaller) is packed
// Shapes come in a ConvShape block written by the host (src/kernels/wasm/index.ts).

import {
  KC_MAX, MR, NC_MAX, NR, blockCount, multiplyBlock, multiplyDirect, multiplyPacked, packA, packB, packedASize,
  panelCount, panelHeight, panelStart, roundUp8, tile4x8,
} from './gemm';
import { copyBytes, madd, rangeStart, store8, takeWork, zero4, zeroBytes } from './util';

/**
 * The contract's Conv2dShape as i32s in this order. tools/build-wasm.mjs reads the fields from
 * here into src/kernels/wasm/abi.ts, from which the host writes them (the names must be the
 * contract's: the build fails otherwise).
 */
@unmanaged export class ConvShape {
  n: i32; cIn: i32; h: i32; w: i32;
  cOut: i32; kh: i32; kw: i32;
  strideH: i32; strideW: i32; padH: i32; padW: i32; dilationH: i32; dilationW: i32;
  hOut: i32; wOut: i32;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/**
 * Stores the transpose of the 4×4 block whose rows are r0..r3: lane i of every row goes to
 * dst + i·32 bytes (dst is 4 consecutive packed-B rows, this strip's 4 columns at the start).
 */
function storeTransposed4(dst: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // r0[0] r1[0] r0[1] r1[1]
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
  v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
  v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
}

// ---------------------------------------------------------------------------------------------
// Forward.

/**
 * Columns per work item of the forward kernel: whole 8-column strips, at most NC_MAX. With one
 * image (`images` 1) and several blocks, they come in a multiple of `nt`, so that no thread waits
 * on the others' last item (ResNet-50's 56×56 maps: 14 blocks of 224 rather than 13 of 248; one
 * block stays one, split by output channels instead); `nt` 1 gives the widest blocks (the scratch
 * size).
 */
function forwardBlockCols(pixels: i32, images: i32, nt: i32): i32 {
  let blocks = blockCount(pixels, NC_MAX);
  if (images == 1 && blocks > 1) blocks = (blocks + nt - 1) / nt * nt;
  return roundUp8((pixels + blocks - 1) / blocks);
}

/**
 * Whether the forward kernel runs in direct mode: output rows of whole 8-pixel strips, read from
 * the phase image (any stride) or, at stride 1 without padding, from x itself; except the 1×1
 * convolutions that pack x as B (isPointwise): their strips would be read in place from K rows of
 * x a whole map apart, and packing them once per block was measured faster.
 */
function isDirect(s: ConvShape): bool {
  return s.wOut % NR == 0 && !isPointwise(s);
}

/** Rows and columns of the zero-padded image that the taps read (backward kernels' padded copies). */
// @ts-ignore: decorator
@inline function paddedRows(s: ConvShape): i32 { return (s.hOut - 1) * s.strideH + (s.kh - 1) * s.dilationH + 1; }
// @ts-ignore: decorator
@inline function paddedCols(s: ConvShape): i32 { return (s.wOut - 1) * s.strideW + (s.kw - 1) * s.dilationW + 1; }

/**
 * The forward kernel's phase image (phaseImage): row phases (residues mod the stride that the
 * taps' rows take: 1 at stride 1), column phases, and the rows and columns of each phase plane.
 */
// @ts-ignore: decorator
@inline function phasesH(s: ConvShape): i32 { return min(s.strideH, (s.kh - 1) * s.dilationH + 1); }
// @ts-ignore: decorator
@inline function phasesW(s: ConvShape): i32 { return min(s.strideW, (s.kw - 1) * s.dilationW + 1); }
// @ts-ignore: decorator
@inline function planeRows(s: ConvShape): i32 { return s.hOut + (s.kh - 1) * s.dilationH / s.strideH; }
// @ts-ignore: decorator
@inline function planeCols(s: ConvShape): i32 { return s.wOut + (s.kw - 1) * s.dilationW / s.strideW; }

/**
 * Whether the forward kernel reads x in place instead of a phase image: at stride 1 without
 * padding the rows and columns that the taps read are the first ones of x's own.
 */
function readsInPlace(s: ConvShape): bool {
  return s.padH == 0 && s.padW == 0 && s.strideH == 1 && s.strideW == 1;
}

/** Floats of the phase image in conv2dForward's scratch (0 when it reads x in place). */
function phaseCopySize(s: ConvShape): i32 {
  return readsInPlace(s) ? 0 : s.cIn * phasesH(s) * phasesW(s) * planeRows(s) * planeCols(s) + 16;
}

/** Floats of per-thread scratch that conv2dForward needs. */
export function conv2dForwardScratch(shape: usize): i32 {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw;
  const blockCols = forwardBlockCols(s.hOut * s.wOut, 1, 1);
  if (isDirect(s)) return phaseCopySize(s) + K + blockCols / NR;
  if (isPointwise(s)) return KC_MAX * blockCols;
  return KC_MAX * blockCols + phaseCopySize(s) + K;
}

/** Whether the forward kernel packs x itself as B (1×1, stride 1, no padding). */
function isPointwise(s: ConvShape): bool {
  return s.kh == 1 && s.kw == 1 && s.strideH == 1 && s.strideW == 1 && s.padH == 0 && s.padW == 0;
}

/**
 * Packs an im2col block of one image into strips of 8 columns, reading the phase image
 * (phaseImage) or, at stride 1 without padding, x itself, so that no tap needs a bounds check:
 * B[k, j] = xq[offs[k] bytes + (oy·wq + ox) floats] for rows k in [pc, pc+kc) (offs: tapOffsets
 * from pc on) and columns j = oy·wOut + ox in [j0, j0+ncols). Eight outputs of one output row are
 * eight consecutive floats at any stride (two vector loads); so are eight outputs on two rows
 * when the planes are as wide as the output (wq = wOut: 1×1 taps, and 2×2 ones at stride 2).
 * wOut: the output's width; xq: planes wq floats wide.
 */
function packPhaseB(wOut: i32, xq: usize, offs: usize, wq: i32, kc: i32, j0: i32, ncols: i32, dst: usize): void {
  const flat = wq == wOut;
  const strips = (ncols + NR - 1) / NR;
  const stripBytes = <usize>(kc * NR) << 2;
  const rowStep = <usize>wq << 2;
  for (let k = 0; k < kc; k++) {
    const base = xq + <usize>load<i32>(offs + (<usize>k << 2));
    let oy = j0 / wOut, ox = j0 % wOut;
    let d = dst + (<usize>k << 5);
    for (let st = 0; st < strips; st++) {
      const cols = min(NR, ncols - st * NR);
      if (cols == NR && (flat || ox + NR <= wOut)) {
        const src = base + <usize>oy * rowStep + (<usize>ox << 2);
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
        ox += NR;
        while (ox >= wOut) { ox -= wOut; oy++; }
      } else {
        for (let t = 0; t < NR; t++) {
          let v: f32 = 0;
          if (t < cols) {
            v = load<f32>(base + <usize>oy * rowStep + (<usize>ox << 2));
            if (++ox == wOut) { ox = 0; oy++; }
          }
          store<f32>(d + (<usize>t << 2), v);
        }
      }
      d += stripBytes;
    }
  }
}

/**
 * x[c0·sw + b - pw .., every sw-th float] of one row into dst[c0..c1) (the columns of a phase row
 * that come from x; src: the address of the row's float 0).
 */
function gatherColumns(src: usize, dst: usize, c0: i32, c1: i32, sw: i32, b: i32, pw: i32): void {
  if (sw == 1) {
    copyBytes(dst + (<usize>c0 << 2), src + (<usize>(c0 + b - pw) << 2), <usize>(c1 - c0) << 2);
    return;
  }
  let c = c0;
  if (sw == 2) { // four outputs from floats 0, 2, 4, 6 of two loads (the second ends at float 6)
    for (; c + 4 <= c1; c += 4) {
      const p = src + (<usize>(2 * c + b - pw) << 2);
      v128.store(dst + (<usize>c << 2), v128.shuffle<f32>(v128.load(p), v128.load(p, 12), 0, 2, 5, 7));
    }
  }
  for (; c < c1; c++) store<f32>(dst + (<usize>c << 2), load<f32>(src + (<usize>(c * sw + b - pw) << 2)));
}

/**
 * The phase image of one image: its zero-padded copy xp[ci, R, C] = x[ci, R - ph, C - pw] (0
 * outside x) split by the residues of the rows and columns mod the strides,
 * xq[ci, a, b, r, c] = xp[ci, r·sh + a, c·sw + b] (a < phasesH, b < phasesW; planes of
 * planeRows × planeCols). Tap (ky, kx) of output (oy, ox) is then
 * xq[ci, dh·ky % sh, dw·kx % sw, oy + dh·ky / sh, ox + dw·kx / sw] (tapOffsets), so that eight
 * outputs of one row are eight consecutive floats at any stride (at stride 1 there is one phase:
 * the padded copy). x: one image [cIn, h, w].
 */
function phaseImage(s: ConvShape, x: usize, xq: usize): void {
  const h = s.h, w = s.w, ph = s.padH, pw = s.padW, sh = s.strideH, sw = s.strideW;
  const pa = phasesH(s), pb = phasesW(s), hq = planeRows(s), wq = planeCols(s);
  const rowBytes = <usize>wq << 2;
  let dst = xq;
  for (let ci = 0; ci < s.cIn; ci++) {
    for (let a = 0; a < pa; a++) {
      for (let b = 0; b < pb; b++) {
        // columns c of the plane with 0 ≤ c·sw + b - pw < w come from x
        const c0 = min(wq, max(0, (pw - b + sw - 1) / sw)), last = w - 1 + pw - b;
        const c1 = last < 0 ? c0 : max(c0, min(wq, last / sw + 1));
        for (let r = 0; r < hq; r++) {
          const row = r * sh + a - ph;
          if (<u32>row >= <u32>h || c0 >= c1) {
            zeroBytes(dst, rowBytes);
          } else {
            if (c0 > 0) zeroBytes(dst, <usize>c0 << 2);
            gatherColumns(x + (<usize>((ci * h + row) * w) << 2), dst, c0, c1, sw, b, pw);
            if (c1 < wq) zeroBytes(dst + (<usize>c1 << 2), <usize>(wq - c1) << 2);
          }
          dst += rowBytes;
        }
      }
    }
  }
}

/**
 * A zero-padded copy of `channels` planes: dst[c, r, col] = src[c, r - top, col - left] (0 outside
 * src). src: [channels, h, w]; dst: [channels, hp, wp].
 */
function padPlanes(src: usize, channels: i32, h: i32, w: i32, top: i32, left: i32, hp: i32, wp: i32, dst: usize): void {
  const c0 = max(0, left), c1 = min(wp, w + left); // columns of dst that come from src
  for (let ci = 0; ci < channels; ci++) {
    for (let r = 0; r < hp; r++) {
      const d = dst + (<usize>((ci * hp + r) * wp) << 2);
      const row = r - top;
      if (<u32>row >= <u32>h || c0 >= c1) {
        zeroBytes(d, <usize>wp << 2);
        continue;
      }
      if (c0 > 0) zeroBytes(d, <usize>c0 << 2);
      copyBytes(d + (<usize>c0 << 2), src + (<usize>((ci * h + row) * w + c0 - left) << 2), <usize>(c1 - c0) << 2);
      if (c1 < wp) zeroBytes(d + (<usize>c1 << 2), <usize>(wp - c1) << 2);
    }
  }
}

/**
 * The zero-padded copy of one image for the backward weight: xp[ci, r, c] = x[ci, r - ph, c - pw]
 * (0 outside x). x: one image [cIn, h, w]; xp: [cIn, paddedRows, paddedCols].
 */
function padImage(s: ConvShape, x: usize, xp: usize): void {
  padPlanes(x, s.cIn, s.h, s.w, s.padH, s.padW, paddedRows(s), paddedCols(s), xp);
}

/**
 * offs[k] = byte offset of tap k = (ci·kh + ky)·kw + kx in a phase image of pa × pb phases of
 * hp × wp floats per channel (phaseImage, strides sh, sw); with strides 1 (one phase) in a padded
 * image [cIn, hp, wp]. offs: [K] i32.
 */
function tapOffsets(s: ConvShape, sh: i32, sw: i32, pa: i32, pb: i32, hp: i32, wp: i32, offs: usize): void {
  let k = 0;
  for (let ci = 0; ci < s.cIn; ci++) {
    for (let ky = 0; ky < s.kh; ky++) {
      const ry = ky * s.dilationH;
      for (let kx = 0; kx < s.kw; kx++) {
        const rx = kx * s.dilationW;
        store<i32>(offs + (<usize>k << 2), ((((ci * pa + ry % sh) * pb + rx % sw) * hp + ry / sh) * wp + rx / sw) << 2);
        k++;
      }
    }
  }
}

/**
 * y = conv(x, w) for the whole batch, then + bias[co] when `bias` is not 0, + res (a map shaped as
 * y) when `res` is not 0 and max(·, 0) when `relu` (conv2d's epilogue, in the stores of the last
 * k-block). x: [n, cIn, h, w]; ap: packA of the weights [cOut, K]; y: [n, cOut, hOut, wOut]. Work items are (image, block of output
 * pixels), and when there are fewer of them than threads also parts of the output channels.
 */
export function conv2dForward(
  shape: usize, x: usize, ap: usize, bias: usize, res: usize, relu: bool, y: usize, scratch: usize, scratchStride: i32,
  tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, M = s.cOut, pixels = s.hOut * s.wOut;
  const pointwise = isPointwise(s);
  const direct = isDirect(s);
  const blockCols = forwardBlockCols(pixels, s.n, nt);
  const colBlocks = (pixels + blockCols - 1) / blockCols;
  const units = s.n * colBlocks;
  const panels = panelCount(M);
  const rowParts = units >= nt ? 1 : min(panels, (nt + units - 1) / units);
  const items = units * rowParts;
  const kBlocks = blockCount(K, KC_MAX);
  const xImage = <usize>(s.cIn * s.h * s.w) << 2, yImage = <usize>(M * pixels) << 2;
  const bp = scratch + <usize>tid * <usize>scratchStride;
  const inPlace = readsInPlace(s);
  const sh = inPlace ? 1 : s.strideH, sw = inPlace ? 1 : s.strideW;
  const pa = inPlace ? 1 : phasesH(s), pb = inPlace ? 1 : phasesW(s);
  const hq = inPlace ? s.h : planeRows(s), wq = inPlace ? s.w : planeCols(s);
  // scratch: (direct) phase image, tap offsets, strip bases; (packed) packed B block, phase image,
  // tap offsets; the phase image is x itself at stride 1 without padding (readsInPlace)
  const xq = direct ? bp : bp + (<usize>(KC_MAX * blockCols) << 2);
  const offs = xq + (<usize>phaseCopySize(s) << 2), bases = offs + (<usize>K << 2);
  if (direct || !pointwise) tapOffsets(s, sh, sw, pa, pb, hq, wq, offs);
  let phased = -1; // the image in xq
  // Threads take chunks of items (about an image's worth) from the shared counter, so that a
  // thread that started late or runs slower does less; each output is still computed whole by
  // one thread, so the result does not depend on the split.
  const chunk = max(1, min(colBlocks * rowParts, items / (4 * nt)));
  let it = 0, chunkEnd = 0;
  for (;;) {
    if (it >= chunkEnd) {
      it = takeWork(chunk);
      if (it >= items) break;
      chunkEnd = min(items, it + chunk);
    }
    const unit = it / rowParts, rp = it % rowParts;
    it++;
    const image = unit / colBlocks, j0 = (unit % colBlocks) * blockCols;
    const ncols = min(blockCols, pixels - j0);
    const r0 = panelStart(M, rangeStart(panels, rp, rowParts));
    const r1 = panelStart(M, rangeStart(panels, rp + 1, rowParts));
    if (r0 >= r1) continue;
    const xi = x + <usize>image * xImage, yi = y + <usize>image * yImage;
    const c = yi + (<usize>(r0 * pixels + j0) << 2);
    const b0 = bias ? bias + (<usize>r0 << 2) : 0, rc = res ? res + (c - y) : 0;
    if (!inPlace && phased != image) { phaseImage(s, xi, xq); phased = image; }
    const xp = inPlace ? xi : xq;
    if (direct) {
      const strips = ncols / NR;
      for (let st = 0; st < strips; st++) {
        const j = j0 + st * NR;
        store<i32>(bases + (<usize>st << 2), <i32>xp + (((j / s.wOut) * wq + j % s.wOut) << 2));
      }
      for (let kb = 0; kb < kBlocks; kb++) {
        const pc = rangeStart(K, kb, kBlocks), kc = rangeStart(K, kb + 1, kBlocks) - pc;
        const last = kb == kBlocks - 1;
        multiplyDirect(ap, M, K, r0, r1, pc, kc, bases, strips, offs + (<usize>pc << 2), c, pixels, kb > 0, last ? b0 : 0, last ? rc : 0, last && relu);
      }
      continue;
    }
    // other convolutions: B packed from the phase image (or x), or from x itself (pointwise)
    for (let kb = 0; kb < kBlocks; kb++) {
      const pc = rangeStart(K, kb, kBlocks), kc = rangeStart(K, kb + 1, kBlocks) - pc;
      if (pointwise) packB(xi, pixels, false, pc, kc, j0, ncols, bp);
      else packPhaseB(s.wOut, xp, offs + (<usize>pc << 2), wq, kc, j0, ncols, bp);
      const last = kb == kBlocks - 1;
      multiplyBlock(ap, M, K, r0, r1, pc, kc, bp, ncols, c, pixels, kb > 0, last ? b0 : 0, last ? rc : 0, last && relu);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward of 1×1 convolutions on one image's smaller maps: B packed once, shared by the threads.
//
// At batch 1 conv2dForward has one (image, pixel block) unit on maps of at most NC_MAX pixels
// (ImageNet's 14×14 and 7×7), and splits the output channels between the threads, each of which
// packs the same B for its part; with as many parts as threads, a thread that another process
// slows down holds up the call. Here (the host decides, src/kernels/wasm/index.ts) the
// threads first pack B, i.e. x, once (conv2dPackPointwise), then take parts of the output
// channels (conv2dForwardPointwise), several per thread, none packing; both phases take their
// work from the shared counter.

/** Floats of conv2dPackPointwise's packed x (one image): cIn rows of the pixels rounded up to a strip. */
export function pointwisePackedSize(shape: usize): i32 {
  const s = changetype<ConvShape>(shape);
  return s.cIn * roundUp8(s.hOut * s.wOut);
}

/**
 * Packs one image's x [cIn, P] as B for conv2dForwardPointwise: k-block [pc, pc+kc) (conv2dForward's
 * k-blocks) at dst + pc·roundUp8(P) floats, as packB's strips of kc × 8 floats. Threads take groups
 * of strips from the shared work counter (about four per thread: a thread slowed down by another
 * process leaves its share to the others).
 */
export function conv2dPackPointwise(shape: usize, x: usize, dst: usize, tid: i32, nt: i32): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn, P = s.hOut * s.wOut, pPad = roundUp8(P), strips = pPad / NR, groups = min(strips, 4 * nt);
  const kBlocks = blockCount(K, KC_MAX);
  for (;;) {
    const g = takeWork(1);
    if (g >= groups) break;
    const s0 = rangeStart(strips, g, groups), s1 = rangeStart(strips, g + 1, groups);
    for (let kb = 0; kb < kBlocks; kb++) {
      const pc = rangeStart(K, kb, kBlocks), kc = rangeStart(K, kb + 1, kBlocks) - pc;
      packB(x, P, false, pc, kc, s0 * NR, min(P, s1 * NR) - s0 * NR, dst + (<usize>(pc * pPad + s0 * kc * NR) << 2));
    }
  }
}

/** Parts of the output channels that conv2dForwardPointwise makes: about 4 per thread, of 16 panels or more. */
function pointwiseParts(panels: i32, nt: i32): i32 {
  return min(panels, max(nt, min(4 * nt, panels / 16)));
}

/**
 * y = conv(x, w) (+ bias[co]) (+ res) (ReLU) for one image of a 1×1 stride-1 unpadded convolution,
 * from conv2dPackPointwise's packed x `bp` and packA of the weights `ap`; the threads take parts of
 * the output channels from the shared work counter. y: [cOut, P]; res: 0, or a map laid out as y.
 */
export function conv2dForwardPointwise(
  shape: usize, bp: usize, ap: usize, bias: usize, res: usize, relu: bool, y: usize, tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn, M = s.cOut, P = s.hOut * s.wOut, pPad = roundUp8(P);
  const panels = panelCount(M), parts = pointwiseParts(panels, nt);
  const kBlocks = blockCount(K, KC_MAX);
  for (;;) {
    const part = takeWork(1);
    if (part >= parts) break;
    const r0 = panelStart(M, rangeStart(panels, part, parts)), r1 = panelStart(M, rangeStart(panels, part + 1, parts));
    if (r0 >= r1) continue;
    const c = y + (<usize>(r0 * P) << 2);
    for (let kb = 0; kb < kBlocks; kb++) {
      const pc = rangeStart(K, kb, kBlocks), kc = rangeStart(K, kb + 1, kBlocks) - pc;
      const last = kb == kBlocks - 1;
      multiplyBlock(ap, M, K, r0, r1, pc, kc, bp + (<usize>(pc * pPad) << 2), P, c, P, kb > 0,
        last && bias ? bias + (<usize>r0 << 2) : 0, last && res ? res + (c - y) : 0, last && relu);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward on small maps (one image, few pixels): pixels as rows.
//
// With fewer images than threads and at most 256 output pixels (ImageNet's 14×14 and 7×7 maps at
// batch 1; the host decides, src/kernels/wasm/index.ts) the threads of
// conv2dForward would split the output channels and each pack the same B, and 7×7 maps fill their
// last 8-pixel strip with one pixel (56 columns for 49). Here the product is transposed:
// Yᵀ[P, cOut] = colᵀ[P, K] · Wᵀ[K, cOut]. The threads first pack colᵀ once, in row panels of 4
// pixels (conv2dPackPixels: 52 rows for 49 pixels), then take groups of the 8-channel strips of Wᵀ from the work counter (packed
// once per weight buffer, packWeightsTransposed) and store each 4×8 tile transposed into y.
// The host takes this path for the 3×3 and strided convolutions only (src/kernels/wasm/index.ts:
// on the plain 1×1 ones, whose B is a plain copy of x, it was not faster).

/** Floats of conv2dPackPixels' panels: every image's pixels in panels of 4, K · 4 floats each. */
export function pixelPanelsSize(shape: usize): i32 {
  const s = changetype<ConvShape>(shape);
  return s.n * ((s.hOut * s.wOut + MR - 1) / MR) * MR * s.cIn * s.kh * s.kw;
}

/** x[ci, iy, ix] of one image [cIn, h, w], 0 outside it. */
// @ts-ignore: decorator
@inline function inputAt(s: ConvShape, xi: usize, ci: i32, iy: i32, ix: i32): f32 {
  return <u32>iy < <u32>s.h && <u32>ix < <u32>s.w ? load<f32>(xi + (<usize>((ci * s.h + iy) * s.w + ix) << 2)) : 0;
}

/**
 * colᵀ of every image as row panels (gemm.ts's layout): panel q of image i holds, for every tap
 * k = (ci·kh + ky)·kw + kx, the inputs of output pixels 4q .. 4q+3, x[i, ci, oy·sh − ph + ky·dh,
 * ox·sw − pw + kx·dw] (0 outside x and past the last pixel), at dst + ((i·panels + q)·K + k)·4
 * floats. x: [n, cIn, h, w]; dst: pixelPanelsSize floats. Threads split the panels.
 */
export function conv2dPackPixels(shape: usize, x: usize, dst: usize, tid: i32, nt: i32): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, P = s.hOut * s.wOut, panels = (P + MR - 1) / MR;
  const total = s.n * panels, g1 = rangeStart(total, tid + 1, nt);
  const xImage = <usize>(s.cIn * s.h * s.w) << 2;
  for (let g = rangeStart(total, tid, nt); g < g1; g++) {
    const xi = x + <usize>(g / panels) * xImage, p0 = (g % panels) * MR, valid = min(MR, P - p0);
    let d = dst + (<usize>(g * K * MR) << 2);
    // the input row and column of tap (0, 0) for each pixel; pixels past the last read nothing
    const p1 = p0 + 1, p2 = p0 + 2, p3 = p0 + 3;
    const y0 = (p0 / s.wOut) * s.strideH - s.padH, x0 = (p0 % s.wOut) * s.strideW - s.padW;
    const y1 = valid > 1 ? (p1 / s.wOut) * s.strideH - s.padH : -1 << 20, x1 = (p1 % s.wOut) * s.strideW - s.padW;
    const y2 = valid > 2 ? (p2 / s.wOut) * s.strideH - s.padH : -1 << 20, x2 = (p2 % s.wOut) * s.strideW - s.padW;
    const y3 = valid > 3 ? (p3 / s.wOut) * s.strideH - s.padH : -1 << 20, x3 = (p3 % s.wOut) * s.strideW - s.padW;
    for (let ci = 0; ci < s.cIn; ci++) {
      for (let ky = 0; ky < s.kh; ky++) {
        const dy = ky * s.dilationH;
        for (let kx = 0; kx < s.kw; kx++) {
          const dx = kx * s.dilationW;
          v128.store(d, f32x4(
            inputAt(s, xi, ci, y0 + dy, x0 + dx), inputAt(s, xi, ci, y1 + dy, x1 + dx),
            inputAt(s, xi, ci, y2 + dy, x2 + dx), inputAt(s, xi, ci, y3 + dy, x3 + dx)));
          d += 16;
        }
      }
    }
  }
}

/**
 * Packs Wᵀ for conv2dForwardPixels: strip t (output channels 8t .. 8t+8) holds w[8t + j, k] as
 * K groups of 8 floats (0 past cOut). w: [cOut, K]; dst: ceil(cOut/8)·8·K floats. Threads split
 * the strips.
 */
export function packWeightsTransposed(w: usize, cOut: i32, K: i32, dst: usize, tid: i32, nt: i32): void {
  const strips = (cOut + NR - 1) / NR;
  const t0 = rangeStart(strips, tid, nt), t1 = rangeStart(strips, tid + 1, nt);
  if (t0 >= t1) return;
  packB(w, K, true, 0, K, t0 * NR, min(cOut, t1 * NR) - t0 * NR, dst + (<usize>(t0 * K * NR) << 2));
}

/**
 * y = conv(x, w) (+ bias[co]) (+ res) (ReLU) from conv2dPackPixels' panels `ap` of x and
 * packWeightsTransposed's strips `wt` of w: 4-pixel × 8-channel tiles of Yᵀ stored transposed
 * into y [n, cOut, hOut, wOut], the epilogue in the stores of the last k-block (res: 0, or a
 * residual map laid out as y). Threads take items of (image, group of channel strips) from the
 * shared work counter, about four per thread, so that a thread slowed down by another process
 * leaves its share to the others; within an item the k-blocks go outermost, so that each k-block
 * of the panels is read once from L2 for all the item's strips.
 */
export function conv2dForwardPixels(
  shape: usize, ap: usize, wt: usize, bias: usize, res: usize, relu: bool, y: usize, tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, P = s.hOut * s.wOut, panels = (P + MR - 1) / MR, cOut = s.cOut;
  const strips = (cOut + NR - 1) / NR, groups = min(strips, 4 * nt);
  const kBlocks = blockCount(K, KC_MAX);
  const ldy = <usize>P << 2;
  for (;;) {
    const it = takeWork(1);
    if (it >= s.n * groups) break;
    const image = it / groups, g = it % groups;
    const t0 = rangeStart(strips, g, groups), t1 = rangeStart(strips, g + 1, groups);
    const ai = ap + (<usize>(image * panels * K * MR) << 2);
    for (let kb = 0; kb < kBlocks; kb++) {
      const pc = rangeStart(K, kb, kBlocks), kc = rangeStart(K, kb + 1, kBlocks) - pc;
      const last = kb == kBlocks - 1;
      for (let t = t0; t < t1; t++) {
        const b = wt + (<usize>((t * K + pc) * NR) << 2);
        const co = t * NR, cols = min(NR, cOut - co);
        const bt = last && bias ? bias + (<usize>co << 2) : 0;
        for (let q = 0; q < panels; q++) {
          const o = <usize>(image * cOut + co) * ldy + (<usize>(q * MR) << 2); // y[image, co, 4q]
          tile4x8(kc, ai + (<usize>((q * K + pc) * MR) << 2), b, y + o, ldy,
            kb > 0, min(MR, P - q * MR), cols, bt, last && res ? res + o : 0, last && relu, true);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward input.

/**
 * Packs the weights of the stride-1 backward-input convolution: A[ci, (co·kh + ky)·kw + kx] =
 * w[co, ci, kh-1-ky, kw-1-kx], i.e. the transposed kernel rotated by 180°, as row panels
 * (cIn rows, cOut·kh·kw columns). w: [cOut, cIn, kh, kw]; dst: packedASize(cIn, cOut·kh·kw) floats.
 */
export function packFlippedWeights(w: usize, cOut: i32, cIn: i32, kh: i32, kw: i32, dst: usize, tid: i32, nt: i32): void {
  const K = cOut * kh * kw, khkw = kh * kw;
  const panels = panelCount(cIn);
  const p0 = rangeStart(panels, tid, nt), p1 = rangeStart(panels, tid + 1, nt);
  let r0 = panelStart(cIn, p0);
  for (let p = p0; p < p1; p++) {
    const mr = panelHeight(cIn - r0);
    let d = dst + (<usize>(r0 * K) << 2);
    for (let co = 0; co < cOut; co++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          const tap = (kh - 1 - ky) * kw + (kw - 1 - kx);
          for (let i = 0; i < mr; i++) {
            const ci = r0 + i;
            store<f32>(d, ci < cIn ? load<f32>(w + (<usize>((co * cIn + ci) * khkw + tap) << 2)) : 0);
            d += 4;
          }
        }
      }
    }
    r0 += mr;
  }
}

/** Channel parts per image for the col2im backward input (more than one only for tiny batches). */
function col2imParts(s: ConvShape, nt: i32): i32 {
  return s.n >= nt ? 1 : min(s.cIn, (nt + s.n - 1) / s.n);
}

/** Output pixels per dcol block of the col2im backward input (scratch ≈ 256K floats). */
function col2imBlockCols(s: ConvShape, rows: i32): i32 {
  const pixels = s.hOut * s.wOut;
  const most = max(NR, min(NC_MAX, ((1 << 18) / max(rows, 1)) & ~7));
  return roundUp8((pixels + blockCount(pixels, most) - 1) / blockCount(pixels, most));
}

/** Largest number of dcol rows (channels·kh·kw) one thread handles. */
function col2imMaxRows(s: ConvShape, nt: i32): i32 {
  const parts = col2imParts(s, nt);
  return ((s.cIn + parts - 1) / parts) * s.kh * s.kw;
}

/** Floats of per-thread scratch that conv2dBackwardInputCol2im needs. */
export function conv2dBackwardInputScratch(shape: usize, nt: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const rows = col2imMaxRows(s, nt);
  const cols = col2imBlockCols(s, rows);
  return packedASize(rows, s.cOut) + KC_MAX * cols + rows * cols + (rows / (s.kh * s.kw)) * paddedRows(s) * paddedCols(s) + 16;
}

/**
 * dxp[ci - c0, oy·sh + ky·dh, ox·sw + kx·dw] += dcol[r, j] for the dcol rows
 * r = ((ci - c0)·kh + ky)·kw + kx and the output pixels j0 .. j0+ncols: col2im into a zero-padded
 * image (padImage's layout, channels c0..), so that no tap needs a bounds check.
 */
function col2imPadded(s: ConvShape, dcol: usize, rows: i32, j0: i32, ncols: i32, dxp: usize): void {
  const kh = s.kh, kw = s.kw, wOut = s.wOut, hp = paddedRows(s), wp = paddedCols(s);
  const rowStep = <usize>(s.strideH * wp) << 2, colStep = <usize>s.strideW << 2;
  for (let r = 0; r < rows; r++) {
    const cl = r / (kh * kw), ky = (r / kw) % kh, kx = r % kw;
    const base = dxp + (<usize>((cl * hp + ky * s.dilationH) * wp + kx * s.dilationW) << 2);
    let src = dcol + (<usize>(r * ncols) << 2);
    let oy = j0 / wOut, ox = j0 % wOut;
    let j = 0;
    while (j < ncols) { // one output row at a time
      const run = min(wOut - ox, ncols - j);
      let p = base + <usize>oy * rowStep + <usize>ox * colStep;
      for (let t = 0; t < run; t++) {
        store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>t << 2)));
        p += colStep;
      }
      src += <usize>run << 2;
      j += run; ox = 0; oy++;
    }
  }
}

/** dx[ci, iy, ix] = dxp[ci - c0, iy + ph, ix + pw] (0 where the padded image does not reach). */
function unpadImage(s: ConvShape, dxp: usize, c0: i32, c1: i32, dx: usize): void {
  const h = s.h, w = s.w, ph = s.padH, pw = s.padW, hp = paddedRows(s), wp = paddedCols(s);
  const x0 = max(0, -pw), x1 = min(w, wp - pw); // columns of dx that the padded image holds
  for (let ci = c0; ci < c1; ci++) {
    for (let iy = 0; iy < h; iy++) {
      const dst = dx + (<usize>((ci * h + iy) * w) << 2);
      const r = iy + ph;
      if (<u32>r >= <u32>hp || x0 >= x1) { zeroBytes(dst, <usize>w << 2); continue; }
      if (x0 > 0) zeroBytes(dst, <usize>x0 << 2);
      copyBytes(dst + (<usize>x0 << 2), dxp + (<usize>(((ci - c0) * hp + r) * wp + x0 + pw) << 2), <usize>(x1 - x0) << 2);
      if (x1 < w) zeroBytes(dst + (<usize>x1 << 2), <usize>(w - x1) << 2);
    }
  }
}

/**
 * dx = conv_transpose(dy, w) for any stride and dilation, by dcol = Wᵀ·dy and col2im (the host
 * takes it for the dilated strided convolutions; conv2dBackwardInputPhases for the others).
 * w: [cOut, cIn, kh, kw]; dy: [n, cOut, hOut, wOut]; dx: [n, cIn, h, w] (overwritten).
 * Work items are (image, part of the input channels); each thread packs its own rows of Wᵀ.
 */
export function conv2dBackwardInputCol2im(shape: usize, w: usize, dy: usize, dx: usize, scratch: usize, scratchStride: i32, tid: i32, nt: i32): void {
  const s = changetype<ConvShape>(shape);
  const khkw = s.kh * s.kw, K = s.cIn * khkw, pixels = s.hOut * s.wOut, cOut = s.cOut;
  const parts = col2imParts(s, nt);
  const maxRows = col2imMaxRows(s, nt);
  const blockCols = col2imBlockCols(s, maxRows);
  const ap = scratch + <usize>tid * <usize>scratchStride;
  const bp = ap + (<usize>packedASize(maxRows, cOut) << 2);
  const dcol = bp + (<usize>(KC_MAX * blockCols) << 2);
  const dxp = dcol + (<usize>(maxRows * blockCols) << 2); // the zero-padded dx of this item's channels
  const planeP = paddedRows(s) * paddedCols(s);
  const items = s.n * parts;
  const kBlocks = blockCount(cOut, KC_MAX);
  let packedC0 = -1;
  // Threads take items one at a time from the shared counter (see conv2dForward).
  for (;;) {
    const it = takeWork(1);
    if (it >= items) break;
    const image = it / parts, part = it % parts;
    const c0 = rangeStart(s.cIn, part, parts), c1 = rangeStart(s.cIn, part + 1, parts);
    const rows = (c1 - c0) * khkw;
    if (rows == 0) continue;
    if (packedC0 != c0) { // Wᵀ[r, co] = w[co, c0·kh·kw + r]
      packA(w + (<usize>(c0 * khkw) << 2), K, true, rows, cOut, ap, 0, 1);
      packedC0 = c0;
    }
    const dxi = dx + (<usize>(image * s.cIn * s.h * s.w) << 2);
    memory.fill(dxp, 0, <usize>((c1 - c0) * planeP) << 2);
    const dyi = dy + (<usize>(image * cOut * pixels) << 2);
    for (let j0 = 0; j0 < pixels; j0 += blockCols) {
      const ncols = min(blockCols, pixels - j0);
      for (let kb = 0; kb < kBlocks; kb++) {
        const pc = rangeStart(cOut, kb, kBlocks), kc = rangeStart(cOut, kb + 1, kBlocks) - pc;
        packB(dyi, pixels, false, pc, kc, j0, ncols, bp);
        multiplyPacked(ap, rows, cOut, 0, rows, pc, kc, bp, ncols, dcol, ncols, kb > 0);
      }
      col2imPadded(s, dcol, rows, j0, ncols, dxp);
    }
    unpadImage(s, dxp, c0, c1, dxi);
  }
}

// ---------------------------------------------------------------------------------------------
// Backward input of strided convolutions, by phases of dx.
//
// Along one dimension (stride s, padding p, kernel size k, dilation 1), the rows iy = s·t + e of
// dx (phase e < s) take only the taps ky = f + s·i (f = (e + p) mod s, i < n = ceil((k - f)/s)),
// from dy's rows t + q - i (q = floor((e + p)/s)). So each phase of dx (of its rows and columns)
// is a stride-1 correlation of dy with a part of the flipped kernel: at stride 2 a 3×3 kernel
// gives dx's four phases by 2×2, 2×1, 1×2 and 1×1 kernels, 9 taps in all as the forward has. Each
// phase is computed as the forward's direct mode computes a convolution (8 consecutive pixels of
// a zero-padded copy of dy per tap, through a table of tap offsets; packed B when a phase's rows
// are not whole 8-pixel strips) into a block of rows, and the phases are interleaved into dx:
// no dcol matrix and no col2im scatter.

/** First tap, number of taps and dy shift of phase e along one dimension (see above). */
// @ts-ignore: decorator
@inline function phaseFirst(e: i32, p: i32, s: i32): i32 { return (e + p) % s; }
// @ts-ignore: decorator
@inline function phaseTaps(e: i32, k: i32, p: i32, s: i32): i32 { const f = (e + p) % s; return f < k ? (k - f + s - 1) / s : 0; }
// @ts-ignore: decorator
@inline function phaseShift(e: i32, p: i32, s: i32): i32 { return (e + p) / s; }
/** Rows (columns) of phase e of a dx dimension of size n. */
// @ts-ignore: decorator
@inline function phaseSize(e: i32, n: i32, s: i32): i32 { return e < n ? (n - e + s - 1) / s : 0; }

/** Zero rows (columns) before dy in its padded copy: enough for every phase's first tap. */
function dyPadBefore(k: i32, p: i32, s: i32): i32 {
  let m = 0;
  for (let e = 0; e < s; e++) m = max(m, phaseTaps(e, k, p, s) - 1 - phaseShift(e, p, s));
  return m;
}

/** Rows (columns) of dy's padded copy: dy and every row that a phase's last output reads. */
function dyPadExtent(n: i32, nOut: i32, k: i32, p: i32, s: i32): i32 {
  let m = nOut;
  for (let e = 0; e < s; e++) m = max(m, phaseSize(e, n, s) + phaseShift(e, p, s));
  return dyPadBefore(k, p, s) + m;
}

/** Columns per block of a phase's product: whole 8-column strips, at most NC_MAX. */
function phaseBlockCols(s: ConvShape): i32 {
  return forwardBlockCols(phaseSize(0, s.h, s.strideH) * phaseSize(0, s.w, s.strideW), 1, 1);
}

/** Floats of the packed weights of every phase for `rows` input channels. */
function phaseWeightsSize(s: ConvShape, rows: i32): i32 {
  let n = 0;
  for (let ey = 0; ey < s.strideH; ey++) {
    for (let ex = 0; ex < s.strideW; ex++) {
      n += packedASize(rows, s.cOut * phaseTaps(ey, s.kh, s.padH, s.strideH) * phaseTaps(ex, s.kw, s.padW, s.strideW));
    }
  }
  return n;
}

/** Floats of per-thread scratch that conv2dBackwardInputPhases needs. */
export function conv2dBackwardInputPhasesScratch(shape: usize, nt: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const parts = col2imParts(s, nt), rows = (s.cIn + parts - 1) / parts;
  const hd = dyPadExtent(s.h, s.hOut, s.kh, s.padH, s.strideH), wd = dyPadExtent(s.w, s.wOut, s.kw, s.padW, s.strideW);
  const plane = phaseSize(0, s.h, s.strideH) * phaseSize(0, s.w, s.strideW), blockCols = phaseBlockCols(s);
  return s.cOut * hd * wd + 16 + phaseWeightsSize(s, rows) + KC_MAX * blockCols + s.strideW * rows * plane
    + s.cOut * s.kh * s.kw + blockCols / NR;
}

/**
 * Packs the weights of phase (ey, ex) for the input channels c0..c0+rows as A (packA's panels),
 * tap by tap: A[ci - c0, (i·tx + j)·cOut + co] = w[co, ci, fy + sh·i, fx + sw·j].
 */
function packPhaseWeights(s: ConvShape, w: usize, c0: i32, rows: i32, fy: i32, ty: i32, fx: i32, tx: i32, dst: usize): void {
  const khkw = s.kh * s.kw, K = s.cOut * ty * tx, step = <usize>khkw << 2;
  for (let r = 0; r < rows; r += MR) {
    let d = dst + (<usize>(r * K) << 2);
    for (let i = 0; i < ty; i++) {
      for (let j = 0; j < tx; j++) {
        const tap = (fy + s.strideH * i) * s.kw + fx + s.strideW * j;
        for (let co = 0; co < s.cOut; co++) {
          const src = w + (<usize>((co * s.cIn + c0 + r) * khkw + tap) << 2);
          for (let m = 0; m < MR; m++) {
            store<f32>(d, r + m < rows ? load<f32>(src + <usize>m * step) : 0);
            d += 4;
          }
        }
      }
    }
  }
}

/**
 * C[0..rows, 0..te·fe] = A · B for one phase of `taps` taps: B[t·cOut + co, y·fe + u] =
 * dyp[offs[k] bytes + (y·wd + u) floats] (dy's padded copy, planes wd floats wide). ap: the
 * phase's packed weights (K = taps·cOut); c: rows te·fe floats apart. The k-blocks are the taps
 * (and blocks of at most KC_MAX channels each), so that C is the sum over the taps, in order, of
 * each tap's sum over the output channels: the sums that col2im adds up, in its order.
 */
function phaseProduct(
  ap: usize, rows: i32, taps: i32, cOut: i32, dyp: usize, offs: usize, wd: i32, te: i32, fe: i32, blockCols: i32, bp: usize, bases: usize, c: usize,
): void {
  const P = te * fe, direct = fe % NR == 0, K = taps * cOut, chBlocks = blockCount(cOut, KC_MAX);
  for (let j0 = 0; j0 < P; j0 += blockCols) {
    const ncols = min(blockCols, P - j0), strips = ncols / NR;
    if (direct) {
      for (let st = 0; st < strips; st++) {
        const j = j0 + st * NR;
        store<i32>(bases + (<usize>st << 2), <i32>dyp + (((j / fe) * wd + j % fe) << 2));
      }
    }
    for (let kb = 0; kb < taps * chBlocks; kb++) {
      const t = kb / chBlocks, cb = kb % chBlocks;
      const pc = t * cOut + rangeStart(cOut, cb, chBlocks), kc = rangeStart(cOut, cb + 1, chBlocks) - rangeStart(cOut, cb, chBlocks);
      if (direct) {
        multiplyDirect(ap, rows, K, 0, rows, pc, kc, bases, strips, offs + (<usize>pc << 2), c + (<usize>j0 << 2), P, kb > 0, 0, 0, false);
      } else {
        packPhaseB(fe, dyp, offs + (<usize>pc << 2), wd, kc, j0, ncols, bp);
        multiplyPacked(ap, rows, K, 0, rows, pc, kc, bp, ncols, c + (<usize>j0 << 2), P, kb > 0);
      }
    }
  }
}

/**
 * Row t of row phase ey of channels c0..c1 into dx: dx[ci, sh·t + ey, sw·u + ex] = C_ex[ci - c0,
 * t·fe_ex + u] for every column phase ex (0 where it has no taps). cs: the column phases' C blocks,
 * `cStride` bytes apart; dxi: one image of dx.
 */
function interleavePhases(s: ConvShape, cs: usize, cStride: usize, c0: i32, c1: i32, ey: i32, te: i32, dxi: usize): void {
  const sw = s.strideW, w = s.w;
  const fe0 = phaseSize(0, w, sw), fe1 = phaseSize(1, w, sw);
  // stride 2 with both column phases as wide and computed: two rows zipped four floats at a time
  const zip = sw == 2 && fe0 == fe1 && phaseTaps(0, s.kw, s.padW, 2) > 0 && phaseTaps(1, s.kw, s.padW, 2) > 0;
  for (let ci = c0; ci < c1; ci++) {
    for (let t = 0; t < te; t++) {
      const dst = dxi + (<usize>((ci * s.h + s.strideH * t + ey) * w) << 2);
      if (zip) {
        const r0 = cs + (<usize>(((ci - c0) * te + t) * fe0) << 2), r1 = r0 + cStride;
        let u = 0;
        for (; u + 4 <= fe0; u += 4) {
          const a = v128.load(r0 + (<usize>u << 2)), b = v128.load(r1 + (<usize>u << 2));
          v128.store(dst + (<usize>u << 3), v128.shuffle<f32>(a, b, 0, 4, 1, 5));
          v128.store(dst + (<usize>u << 3), v128.shuffle<f32>(a, b, 2, 6, 3, 7), 16);
        }
        for (; u < fe0; u++) {
          store<f32>(dst + (<usize>u << 3), load<f32>(r0 + (<usize>u << 2)));
          store<f32>(dst + (<usize>u << 3), load<f32>(r1 + (<usize>u << 2)), 4);
        }
        continue;
      }
      for (let ex = 0; ex < sw; ex++) {
        const fe = phaseSize(ex, w, sw);
        const none = phaseTaps(ex, s.kw, s.padW, sw) == 0;
        const row = cs + <usize>ex * cStride + (<usize>(((ci - c0) * te + t) * fe) << 2);
        for (let u = 0; u < fe; u++) store<f32>(dst + (<usize>(sw * u + ex) << 2), none ? 0 : load<f32>(row + (<usize>u << 2)));
      }
    }
  }
}

/**
 * dx = conv_transpose(dy, w) for strided convolutions of dilation 1, by phases of dx (see above).
 * w: [cOut, cIn, kh, kw]; dy: [n, cOut, hOut, wOut]; dx: [n, cIn, h, w] (overwritten). Work items
 * are (image, part of the input channels) as in conv2dBackwardInputCol2im; each thread packs its
 * own rows of every phase's weights and pads each image's dy once.
 */
export function conv2dBackwardInputPhases(shape: usize, w: usize, dy: usize, dx: usize, scratch: usize, scratchStride: i32, tid: i32, nt: i32): void {
  const s = changetype<ConvShape>(shape);
  const sh = s.strideH, sw = s.strideW, cOut = s.cOut;
  const parts = col2imParts(s, nt), maxRows = (s.cIn + parts - 1) / parts;
  const top = dyPadBefore(s.kh, s.padH, sh), left = dyPadBefore(s.kw, s.padW, sw);
  const hd = dyPadExtent(s.h, s.hOut, s.kh, s.padH, sh), wd = dyPadExtent(s.w, s.wOut, s.kw, s.padW, sw);
  const plane = phaseSize(0, s.h, sh) * phaseSize(0, s.w, sw), blockCols = phaseBlockCols(s);
  // scratch: dy's padded copy, every phase's packed weights, packed B block, the column phases'
  // products, every phase's tap offsets, strip bases
  const dyp = scratch + <usize>tid * <usize>scratchStride;
  const ap = dyp + (<usize>(cOut * hd * wd + 16) << 2);
  const bp = ap + (<usize>phaseWeightsSize(s, maxRows) << 2);
  const cs = bp + (<usize>(KC_MAX * blockCols) << 2), cStride = <usize>(maxRows * plane) << 2;
  const offs = cs + <usize>sw * cStride, bases = offs + (<usize>(cOut * s.kh * s.kw) << 2);
  // tap offsets of phase after phase, tap by tap: dyp[co, y + top + qy - i, u + left + qx - j]
  let o = offs;
  for (let ey = 0; ey < sh; ey++) {
    const ty = phaseTaps(ey, s.kh, s.padH, sh), dr = top + phaseShift(ey, s.padH, sh);
    for (let ex = 0; ex < sw; ex++) {
      const tx = phaseTaps(ex, s.kw, s.padW, sw), dc = left + phaseShift(ex, s.padW, sw);
      for (let i = 0; i < ty; i++) {
        for (let j = 0; j < tx; j++) {
          for (let co = 0; co < cOut; co++) {
            store<i32>(o, ((co * hd + dr - i) * wd + dc - j) << 2);
            o += 4;
          }
        }
      }
    }
  }
  const items = s.n * parts;
  const dyImage = <usize>(cOut * s.hOut * s.wOut) << 2, dxImage = <usize>(s.cIn * s.h * s.w) << 2;
  let packedC0 = -1, padded = -1;
  for (;;) {
    const it = takeWork(1);
    if (it >= items) break;
    const image = it / parts, part = it % parts;
    const c0 = rangeStart(s.cIn, part, parts), c1 = rangeStart(s.cIn, part + 1, parts);
    const rows = c1 - c0;
    if (rows == 0) continue;
    if (packedC0 != c0) {
      let a = ap;
      for (let ey = 0; ey < sh; ey++) {
        const fy = phaseFirst(ey, s.padH, sh), ty = phaseTaps(ey, s.kh, s.padH, sh);
        for (let ex = 0; ex < sw; ex++) {
          const fx = phaseFirst(ex, s.padW, sw), tx = phaseTaps(ex, s.kw, s.padW, sw);
          packPhaseWeights(s, w, c0, rows, fy, ty, fx, tx, a);
          a += <usize>packedASize(maxRows, cOut * ty * tx) << 2;
        }
      }
      packedC0 = c0;
    }
    if (padded != image) {
      padPlanes(dy + <usize>image * dyImage, cOut, s.hOut, s.wOut, top, left, hd, wd, dyp);
      padded = image;
    }
    let a = ap, ph = offs;
    for (let ey = 0; ey < sh; ey++) {
      const ty = phaseTaps(ey, s.kh, s.padH, sh), te = phaseSize(ey, s.h, sh);
      for (let ex = 0; ex < sw; ex++) {
        const tx = phaseTaps(ex, s.kw, s.padW, sw), fe = phaseSize(ex, s.w, sw), K = cOut * ty * tx;
        if (K > 0 && te > 0 && fe > 0) phaseProduct(a, rows, ty * tx, cOut, dyp, ph, wd, te, fe, blockCols, bp, bases, cs + <usize>ex * cStride);
        a += <usize>packedASize(maxRows, K) << 2;
        ph += <usize>K << 2;
      }
      if (te > 0) {
        if (ty == 0) { // no tap reaches these rows of dx
          for (let ci = c0; ci < c1; ci++) {
            for (let t = 0; t < te; t++) zeroBytes(dx + <usize>image * dxImage + (<usize>((ci * s.h + sh * t + ey) * s.w) << 2), <usize>s.w << 2);
          }
        } else {
          interleavePhases(s, cs, cStride, c0, c1, ey, te, dx + <usize>image * dxImage);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward weight.

/** Output pixels per block of the backward-weight kernel (a packed dyᵀ strip is 8 KiB). */
const BW_PIXELS: i32 = 256;

/** Rows of dWᵀ each thread accumulates: every tap, rounded up to a multiple of 4. */
// @ts-ignore: decorator
@inline function weightTapRows(K: i32): i32 {
  return (K + 3) & ~3;
}

/** Output rows per block of the backward-weight kernel (whole rows, about BW_PIXELS pixels). */
function weightBlockRows(s: ConvShape): i32 {
  return max(1, BW_PIXELS / s.wOut);
}

/** Images per block: small maps are taken several images at a time. */
function weightBlockImages(s: ConvShape): i32 {
  return max(1, min(s.n, weightBlockRows(s) / s.hOut));
}

/** Floats of per-thread scratch that conv2dBackwardWeight needs. */
export function conv2dBackwardWeightScratch(shape: usize, nt: i32): i32 {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, mPad = roundUp8(s.cOut);
  const images = weightBlockImages(s), rows = max(weightBlockRows(s), images * s.hOut);
  return images * s.cIn * paddedRows(s) * paddedCols(s) + K + rows + mPad * rows * s.wOut + 16;
}

/** Floats of one partial sum of dWᵀ (conv2dBackwardWeight's `partials` holds `chunks` of them). */
export function conv2dBackwardWeightPartial(shape: usize): i32 {
  const s = changetype<ConvShape>(shape);
  return weightTapRows(s.cIn * s.kh * s.kw) * roundUp8(s.cOut);
}

/**
 * Packs dyᵀ for `count` output pixels from p0 of one image into strips of 8 channels:
 * bt[s][q + p][t] = dy[8s + t, p0 + p] (0 for channels ≥ cOut), strips `stripPixels` pixels apart.
 * dy: one image [cOut, P]; bt: ceil(cOut/8) strips of stripPixels × 8 floats.
 */
function packDyT(dy: usize, cOut: i32, P: i32, p0: i32, count: i32, bt: usize, q: i32, stripPixels: i32): void {
  const strips = (cOut + NR - 1) / NR;
  for (let st = 0; st < strips; st++) {
    const d = bt + (<usize>((st * stripPixels + q) * NR) << 2);
    for (let half = 0; half < 2; half++) {
      const co = st * NR + half * 4;
      const r0 = dy + (<usize>(co * P + p0) << 2), rowBytes = <usize>P << 2;
      let p = 0;
      for (; p + 4 <= count; p += 4) {
        const o = <usize>p << 2;
        storeTransposed4(d + (<usize>p << 5) + (<usize>half << 4),
          co < cOut ? v128.load(r0 + o) : zero4(),
          co + 1 < cOut ? v128.load(r0 + rowBytes + o) : zero4(),
          co + 2 < cOut ? v128.load(r0 + 2 * rowBytes + o) : zero4(),
          co + 3 < cOut ? v128.load(r0 + 3 * rowBytes + o) : zero4());
      }
      for (; p < count; p++) {
        for (let t = 0; t < 4; t++) {
          const v: f32 = co + t < cOut ? load<f32>(r0 + <usize>t * rowBytes + (<usize>p << 2)) : 0;
          store<f32>(d + (<usize>p << 5) + (<usize>(half * 4 + t) << 2), v);
        }
      }
    }
  }
}

/**
 * C[0..4, 0..8] (+)= Σ over the pixels of `rows` output rows of col[tap i, p] · bt[p, 0..8].
 * t0..t3: the four taps' addresses in the padded images for output pixel (0, 0) of the first
 * image; rowTab: `rows` i32 byte offsets, one per output row (image and row), so that tap i of
 * pixel ox on row r is at t_i + rowTab[r] + ox·colBytes; bt: packed dyᵀ strip (8 floats per
 * pixel); c: the tile in dWᵀ, rows ldc bytes apart; writes rows < `valid`.
 */
function tileTaps4x8(
  t0: usize, t1: usize, t2: usize, t3: usize, rowTab: usize, rows: i32, wOut: i32, colBytes: usize,
  bt: usize, c: usize, ldc: usize, add: bool, valid: i32,
): void {
  let c00 = zero4(), c01 = zero4(), c10 = zero4(), c11 = zero4();
  let c20 = zero4(), c21 = zero4(), c30 = zero4(), c31 = zero4();
  for (let r = 0; r < rows; r++) {
    let o = <usize>load<i32>(rowTab + (<usize>r << 2));
    for (let ox = 0; ox < wOut; ox++) {
      const b0 = v128.load(bt), b1 = v128.load(bt, 16);
      let av = v128.load32_splat(t0 + o);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(t1 + o);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(t2 + o);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(t3 + o);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      o += colBytes; bt += 32;
    }
  }
  store8(c, c00, c01, add);
  if (valid > 1) store8(c + ldc, c10, c11, add);
  if (valid > 2) store8(c + 2 * ldc, c20, c21, add);
  if (valid > 3) store8(c + 3 * ldc, c30, c31, add);
}

/**
 * dw = Σ over images of dy · colᵀ. x: [n, cIn, h, w]; dy: [n, cOut, hOut, wOut];
 * dw: [cOut, K] (overwritten). The image groups are cut into `chunks` fixed, contiguous ranges;
 * threads take chunks from the shared work counter (so that a late or slow thread does less),
 * pad and pack only the images of their chunks, and sum every tap (row of dWᵀ) over a chunk's
 * images into that chunk's partial sum in `partials` (conv2dBackwardWeightPartial floats each).
 * With one chunk its sum is written transposed into dw at the end; with several the host then
 * runs conv2dBackwardWeightReduce, which adds the partial sums in chunk order: the result does not
 * depend on which thread took which chunk. Pixels go in blocks of whole output rows: part of
 * one image, or several whole images when the maps are small.
 */
export function conv2dBackwardWeight(
  shape: usize, x: usize, dy: usize, dw: usize, scratch: usize, scratchStride: i32, partials: usize, chunks: i32, tid: i32, nt: i32,
): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, M = s.cOut, P = s.hOut * s.wOut, mPad = roundUp8(M);
  const groupImages = weightBlockImages(s), blockRows = groupImages > 1 ? groupImages * s.hOut : weightBlockRows(s);
  const groups = (s.n + groupImages - 1) / groupImages;
  // scratch: padded images, tap offsets, row table, packed dyᵀ block
  const paddedBytes = <usize>(s.cIn * paddedRows(s) * paddedCols(s)) << 2;
  const xp = scratch + <usize>tid * <usize>scratchStride;
  const offs = xp + <usize>groupImages * paddedBytes;
  const rowTab = offs + (<usize>K << 2);
  const bt = rowTab + (<usize>blockRows << 2);
  const partialBytes = <usize>(weightTapRows(K) * mPad) << 2;
  tapOffsets(s, 1, 1, 1, 1, paddedRows(s), paddedCols(s), offs);
  const rowBytes = <usize>(s.strideH * paddedCols(s)) << 2, colBytes = <usize>s.strideW << 2;
  const ldc = <usize>mPad << 2, strips = mPad / NR;
  const xImage = <usize>(s.cIn * s.h * s.w) << 2, dyImage = <usize>(M * P) << 2;
  for (;;) {
    const chunk = takeWork(1);
    if (chunk >= chunks) break;
    const dwt = partials + <usize>chunk * partialBytes;
    const g1 = rangeStart(groups, chunk + 1, chunks);
    let first = true;
    for (let grp = rangeStart(groups, chunk, chunks); grp < g1; grp++) {
      const i0 = grp * groupImages;
      const images = min(groupImages, s.n - i0);
      for (let g = 0; g < images; g++) padImage(s, x + <usize>(i0 + g) * xImage, xp + <usize>g * paddedBytes);
      for (let oy0 = 0; oy0 < s.hOut; oy0 += blockRows) { // one block: rows of one image, or whole images
        const rows = images > 1 ? images * s.hOut : min(blockRows, s.hOut - oy0);
        const count = rows * s.wOut;
        for (let r = 0; r < rows; r++) {
          const g = images > 1 ? r / s.hOut : 0, oy = images > 1 ? r % s.hOut : oy0 + r;
          store<i32>(rowTab + (<usize>r << 2), <i32>(<usize>g * paddedBytes + <usize>oy * rowBytes));
        }
        for (let g = 0; g < images; g++) {
          const q = g * P, p0 = images > 1 ? 0 : oy0 * s.wOut;
          packDyT(dy + <usize>(i0 + g) * dyImage, M, P, p0, images > 1 ? P : count, bt, q, count);
        }
        for (let k = 0; k < K; k += 4) {
          const tap0 = xp + <usize>load<i32>(offs + (<usize>k << 2));
          const tap1 = k + 1 < K ? xp + <usize>load<i32>(offs + (<usize>(k + 1) << 2)) : tap0;
          const tap2 = k + 2 < K ? xp + <usize>load<i32>(offs + (<usize>(k + 2) << 2)) : tap0;
          const tap3 = k + 3 < K ? xp + <usize>load<i32>(offs + (<usize>(k + 3) << 2)) : tap0;
          const c = dwt + <usize>k * ldc;
          for (let st = 0; st < strips; st++) {
            tileTaps4x8(tap0, tap1, tap2, tap3, rowTab, rows, s.wOut, colBytes,
              bt + (<usize>(st * count * NR) << 2), c + (<usize>(st * NR) << 2), ldc, !first, min(4, K - k));
          }
        }
        first = false;
        if (images > 1) break;
      }
    }
    if (first) memory.fill(dwt, 0, partialBytes); // an empty chunk
    if (chunks > 1) continue;
    for (let k = 0; k < K; k++) { // dw[co, k] = dWᵀ[k, co]
      const row = dwt + <usize>k * ldc;
      for (let co = 0; co < M; co++) store<f32>(dw + (<usize>(co * K + k) << 2), load<f32>(row + (<usize>co << 2)));
    }
  }
}

/**
 * Second phase of conv2dBackwardWeight with `chunks` > 1: dw[co, k] = Σ over the chunks, in
 * order, of their partial dWᵀ[k, co]. Threads split the output channels.
 */
export function conv2dBackwardWeightReduce(shape: usize, dw: usize, partials: usize, chunks: i32, tid: i32, nt: i32): void {
  const s = changetype<ConvShape>(shape);
  const K = s.cIn * s.kh * s.kw, M = s.cOut, ldc = <usize>roundUp8(M) << 2;
  const partialBytes = <usize>(weightTapRows(K) * roundUp8(M)) << 2;
  const c1 = rangeStart(M, tid + 1, nt);
  for (let co = rangeStart(M, tid, nt); co < c1; co++) {
    const col = partials + (<usize>co << 2);
    const out = dw + (<usize>(co * K) << 2);
    for (let k = 0; k < K; k++) {
      const o = <usize>k * ldc;
      let v = load<f32>(col + o);
      for (let t = 1; t < chunks; t++) v += load<f32>(col + <usize>t * partialBytes + o);
      store<f32>(out + (<usize>k << 2), v);
    }
  }
}
