// Pillow's resampling (Image.resize → ImagingResample in libImaging/Resample.c) for 8-bit RGB,
// reproduced value for value, so that torchvision's Resize on a PIL image can be matched exactly.
//
// How Pillow resizes (our own description of its algorithm):
//   - Two separable passes: first horizontal (only over the rows the vertical pass will read),
//     then vertical. A pass is skipped when that dimension keeps its size. Each pass rounds to
//     8 bits, so the intermediate image is 8-bit too.
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

/** An 8-bit RGB image, [height, width, 3] (interleaved, row-major), as PIL and sharp hold it. */
export interface RgbImage {
  data: Uint8Array; // [height, width, 3]
  height: number;
  width: number;
}

interface Filter {
  support: number;
  weight(x: number): number;
}

/** PIL's Image.BILINEAR. */
const BILINEAR: Filter = {
  support: 1,
  weight(x) {
    const a = Math.abs(x);
    return a < 1 ? 1 - a : 0;
  },
};

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

/** Computes the filter taps for resampling `inSize` samples to `outSize` (Pillow's precompute_coeffs). */
function computeTaps(inSize: number, outSize: number, filter: Filter): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
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
      w[k] = filter.weight((k + lo - centre + 0.5) * inverse);
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

/**
 * Resizes with PIL's BILINEAR filter, exactly as `Image.resize((outWidth, outHeight), Image.BILINEAR)`
 * does on an RGB image (Pillow 9.x, no box, no reducing_gap).
 */
export function pilResize(image: RgbImage, outHeight: number, outWidth: number): RgbImage {
  const { data, height: h, width: w } = image;
  if (data.length !== h * w * 3) throw new Error(`pilResize: ${data.length} bytes do not hold a ${h}×${w} RGB image`);
  for (const d of [outHeight, outWidth]) if (!(Number.isInteger(d) && d > 0)) throw new Error(`pilResize: output size ${outHeight}×${outWidth} is not positive`);

  const vertical = computeTaps(h, outHeight, BILINEAR);
  // The vertical pass reads rows firstRow .. lastRow − 1 only; the horizontal pass makes just those.
  const firstRow = vertical.first[0]!;
  const lastRow = vertical.first[outHeight - 1]! + vertical.count[outHeight - 1]!;

  let current: RgbImage = image;
  let rowOffset = 0; // row r of `current` is row r + rowOffset of the input
  if (outWidth !== w) {
    current = resampleRows(image, firstRow, lastRow, outWidth, computeTaps(w, outWidth, BILINEAR));
    rowOffset = firstRow;
  }
  if (outHeight !== h) current = resampleColumns(current, rowOffset, outHeight, vertical);
  if (current === image) return { data: data.slice(), height: h, width: w };
  return current;
}

/** Horizontal pass over input rows [rowStart, rowEnd): → [rowEnd − rowStart, outWidth, 3]. */
function resampleRows(image: RgbImage, rowStart: number, rowEnd: number, outWidth: number, taps: Taps): RgbImage {
  const { data, width: w } = image;
  const rows = rowEnd - rowStart;
  const out = new Uint8Array(rows * outWidth * 3);
  for (let y = 0; y < rows; y++) {
    const inRow = (y + rowStart) * w * 3;
    for (let x = 0; x < outWidth; x++) {
      const lo = taps.first[x]!;
      const n = taps.count[x]!;
      const k0 = x * taps.maxTaps;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let k = 0; k < n; k++) {
        const weight = taps.weights[k0 + k]!;
        const p = inRow + (lo + k) * 3;
        r += data[p]! * weight;
        g += data[p + 1]! * weight;
        b += data[p + 2]! * weight;
      }
      const o = (y * outWidth + x) * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return { data: out, height: rows, width: outWidth };
}

/** Vertical pass: row r of `image` is input row r + rowOffset. → [outHeight, width, 3]. */
function resampleColumns(image: RgbImage, rowOffset: number, outHeight: number, taps: Taps): RgbImage {
  const { data, width: w } = image;
  const out = new Uint8Array(outHeight * w * 3);
  for (let y = 0; y < outHeight; y++) {
    const lo = taps.first[y]! - rowOffset;
    const n = taps.count[y]!;
    const k0 = y * taps.maxTaps;
    for (let x = 0; x < w; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let k = 0; k < n; k++) {
        const weight = taps.weights[k0 + k]!;
        const p = ((lo + k) * w + x) * 3;
        r += data[p]! * weight;
        g += data[p + 1]! * weight;
        b += data[p + 2]! * weight;
      }
      const o = (y * w + x) * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return { data: out, height: outHeight, width: w };
}
