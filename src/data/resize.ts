// Resizing and cropping of CHW byte images exactly as torchvision does it on a PIL image:
//
//   Resize(s)      shorter side to s, longer side int(s · long / short) (truncated); the image is
//                  returned as is when its shorter side is already s
//   resampling     Pillow's BILINEAR (Image.resize → ImagingResample in libImaging/Resample.c),
//                  antialiased when shrinking, value for value
//   CenterCrop(c)  offsets int(round((size − c) / 2)) with Python's round (half to even); a crop
//                  larger than the image pads zeros, (d // 2) before and (d + 1) // 2 after
//   ToTensor       byte k → float32 k / 255
//
// Every test view (eval's 1-crop, 10-crop and multi-scale, predict's photo) and the training
// transforms that rescale go through `resizeCrop`, which computes only the window that is kept.
//
// How Pillow resamples (our own description of its algorithm):
//   - Two separable passes: first horizontal, then vertical; a pass is skipped when that dimension
//     keeps its size. Each pass rounds to 8 bits, so the intermediate image is 8-bit too.
//   - For each output position the filter is centred at (i + 0.5)·scale in input coordinates,
//     scale = inSize / outSize. When shrinking, the filter is stretched by the scale (support and
//     argument both), which is what makes the result antialiased; when enlarging it is not.
//   - The taps run from round(centre − support) to round(centre + support) (rounding by adding 0.5
//     and truncating, clamped to the image), weighted by filter((j − centre + 0.5) / filterScale),
//     and normalized to sum to 1.
//   - 8-bit passes use fixed point: each weight is rounded to an integer with 22 fractional bits
//     (half away from zero), the sum starts at 2^21 (one half, for rounding), and the result is
//     the sum shifted right by 22 bits and clamped to [0, 255].
// The bilinear filter is the triangle max(0, 1 − |x|) with support 1.

/** torchvision's Resize(short) output size: the shorter side becomes `short`, the longer is truncated. */
export function resizeShorterSide(height: number, width: number, short: number): { height: number; width: number } {
  if (height <= width) return { height: short, width: Math.max(1, Math.trunc((width * short) / height)) };
  return { height: Math.max(1, Math.trunc((height * short) / width)), width: short };
}

/** A window of the resized image; parts outside it read as zeros (CenterCrop's padding). */
export interface CropWindow {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision's CenterCrop window of `crop`×`crop` in an h×w image (padding included: it may stick out). */
export function centerWindow(h: number, w: number, crop: number): CropWindow {
  // A larger crop pads exactly up to its size, (d // 2) before: the window starts d // 2 before the image.
  const offset = (size: number) => (crop <= size ? roundHalfToEven((size - crop) / 2) : -Math.floor((crop - size) / 2));
  return { top: offset(h), left: offset(w), height: crop, width: crop };
}

/** Python 3's round() on a float: halves go to the even neighbour. */
export function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** resizeBytes' window as floats k / 255 (torchvision's ToTensor): [c, crop.height, crop.width]. */
export function resizeCrop(...args: Parameters<typeof resizeBytes>): Float32Array {
  const bytes = resizeBytes(...args);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 255;
  return out;
}

/**
 * Resizes `image` [c, h, w] (bytes) to outH×outW with Pillow's bilinear filter and returns the
 * window `crop` of the result: [c, crop.height, crop.width] bytes. When `flip` is set the window is
 * mirrored left-right (column x of the output is column width-1-x of the window).
 */
export function resizeBytes(
  image: Uint8Array, // [c, h, w]
  c: number,
  h: number,
  w: number,
  outH: number,
  outW: number,
  crop: CropWindow,
  flip = false,
): Uint8Array {
  if (image.length !== c * h * w) throw new Error(`resize: ${image.length} bytes do not hold a ${c}×${h}×${w} image`);
  for (const d of [outH, outW, crop.height, crop.width]) {
    if (!(Number.isInteger(d) && d > 0)) throw new Error(`resize: sizes must be positive integers, got ${outH}×${outW} and a ${crop.height}×${crop.width} window`);
  }
  const { height: ch, width: cw } = crop;
  const out = new Uint8Array(c * ch * cw); // zeros where the window leaves the image
  // The part of the window inside the resized image: rows y0..y1-1, columns x0..x1-1.
  const y0 = Math.max(0, crop.top);
  const y1 = Math.min(outH, crop.top + ch);
  const x0 = Math.max(0, crop.left);
  const x1 = Math.min(outW, crop.left + cw);
  if (y0 >= y1 || x0 >= x1) return out;
  const vertical = outH !== h ? computeTaps(h, outH) : null;
  const horizontal = outW !== w ? computeTaps(w, outW) : null;
  // Horizontal pass over the input rows the vertical pass reads, for the window's columns only.
  const rowLo = vertical ? vertical.first[y0]! : y0;
  const rowHi = vertical ? vertical.first[y1 - 1]! + vertical.count[y1 - 1]! : y1;
  const rows = rowHi - rowLo;
  const cols = x1 - x0;
  const mid = new Uint8Array(c * rows * cols); // [c, rows, cols]
  for (let p = 0; p < c; p++) {
    for (let r = 0; r < rows; r++) {
      const src = (p * h + rowLo + r) * w;
      const dst = (p * rows + r) * cols;
      if (!horizontal) {
        mid.set(image.subarray(src + x0, src + x1), dst);
        continue;
      }
      for (let x = 0; x < cols; x++) {
        const lo = horizontal.first[x0 + x]!;
        const n = horizontal.count[x0 + x]!;
        const k0 = (x0 + x) * horizontal.maxTaps;
        let sum = HALF;
        for (let k = 0; k < n; k++) sum += image[src + lo + k]! * horizontal.weights[k0 + k]!;
        mid[dst + x] = clip8(sum);
      }
    }
  }
  // Vertical pass, written into the window (mirrored when flipping).
  for (let p = 0; p < c; p++) {
    for (let y = y0; y < y1; y++) {
      const row = (p * ch + y - crop.top) * cw;
      for (let x = 0; x < cols; x++) {
        let v: number;
        if (!vertical) v = mid[(p * rows + y - rowLo) * cols + x]!;
        else {
          const lo = vertical.first[y]! - rowLo;
          const n = vertical.count[y]!;
          const k0 = y * vertical.maxTaps;
          let sum = HALF;
          for (let k = 0; k < n; k++) sum += mid[(p * rows + lo + k) * cols + x]! * vertical.weights[k0 + k]!;
          v = clip8(sum);
        }
        const wx = x0 + x - crop.left;
        out[row + (flip ? cw - 1 - wx : wx)] = v;
      }
    }
  }
  return out;
}

const PRECISION_BITS = 32 - 8 - 2; // 22: two spare bits for filters with negative lobes
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** The taps of one pass: for output i, inputs first[i] .. first[i] + count[i] − 1 with fixed-point weights. */
interface Taps {
  first: Int32Array; // [outSize]
  count: Int32Array; // [outSize]
  weights: Int32Array; // [outSize, maxTaps]
  maxTaps: number;
}

/** The bilinear filter taps for resampling `inSize` samples to `outSize` (Pillow's precompute_coeffs). */
function computeTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1, stretched when shrinking
  const maxTaps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * maxTaps);
  const w = new Float64Array(maxTaps);
  const inverse = 1 / filterScale; // Pillow multiplies by the reciprocal; dividing could round differently
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const n = hi - lo;
    let total = 0;
    for (let k = 0; k < n; k++) {
      const a = Math.abs((k + lo - centre + 0.5) * inverse);
      w[k] = a < 1 ? 1 - a : 0;
      total += w[k]!;
    }
    for (let k = 0; k < n; k++) {
      const normalized = total !== 0 ? w[k]! / total : w[k]!;
      // to fixed point, rounding half away from zero (C's (int) truncates toward zero)
      weights[i * maxTaps + k] = normalized < 0 ? Math.trunc(-0.5 + normalized * ONE) : Math.trunc(0.5 + normalized * ONE);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, weights, maxTaps };
}

/** The fixed-point sum back to 8 bits: shift right (floor) and clamp. */
function clip8(sum: number): number {
  const v = Math.floor(sum / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
