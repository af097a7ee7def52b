// Bilinear resizing of CHW byte images, computed only over the window that is kept (resize then
// crop in one pass), with half-pixel centres (PyTorch's align_corners=False). No antialiasing
// filter: fine for the paper's mild rescales of ImageNet-sized photos (≈500×375 to 256..480); a
// strong downscale (more than 2×) aliases, as PyTorch's bilinear without `antialias` does.

/** The size with the shorter side set to `short` and the aspect ratio kept (longer side floored, as torchvision). */
export function resizeShorterSide(height: number, width: number, short: number): { height: number; width: number } {
  if (height <= width) return { height: short, width: Math.max(1, Math.floor((width * short) / height)) };
  return { height: Math.max(1, Math.floor((height * short) / width)), width: short };
}

export interface CropWindow {
  top: number; // in the resized image
  left: number;
  height: number;
  width: number;
}

/**
 * Resizes `image` [c, h, w] (bytes) to [c, outH, outW] and returns the window `crop` of it as
 * floats scaled to [0, 1]: [c, crop.height, crop.width]. When `flip` is set the window is mirrored
 * left-right (column x of the output is column width-1-x of the window).
 */
export function resizeCrop(
  image: Uint8Array, // [c, h, w]
  c: number,
  h: number,
  w: number,
  outH: number,
  outW: number,
  crop: CropWindow,
  flip = false,
): Float32Array {
  if (crop.top < 0 || crop.left < 0 || crop.top + crop.height > outH || crop.left + crop.width > outW) {
    throw new Error(`resizeCrop: window ${JSON.stringify(crop)} outside the ${outH}×${outW} resized image`);
  }
  const out = new Float32Array(c * crop.height * crop.width); // [c, crop.height, crop.width]
  const sy = h / outH;
  const sx = w / outW;
  // Per output column: the two source columns and the weight of the right one.
  const x0s = new Int32Array(crop.width);
  const x1s = new Int32Array(crop.width);
  const fxs = new Float32Array(crop.width);
  for (let x = 0; x < crop.width; x++) {
    const src = Math.min(Math.max((crop.left + x + 0.5) * sx - 0.5, 0), w - 1);
    const x0 = Math.floor(src);
    const ox = flip ? crop.width - 1 - x : x;
    x0s[ox] = x0;
    x1s[ox] = Math.min(x0 + 1, w - 1);
    fxs[ox] = src - x0;
  }
  const scale = 1 / 255;
  for (let y = 0; y < crop.height; y++) {
    const src = Math.min(Math.max((crop.top + y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(src);
    const y1 = Math.min(y0 + 1, h - 1);
    const fy = src - y0;
    for (let ch = 0; ch < c; ch++) {
      const plane = ch * h * w;
      const r0 = plane + y0 * w;
      const r1 = plane + y1 * w;
      const o = (ch * crop.height + y) * crop.width;
      for (let x = 0; x < crop.width; x++) {
        const fx = fxs[x];
        const top = image[r0 + x0s[x]] * (1 - fx) + image[r0 + x1s[x]] * fx;
        const bottom = image[r1 + x0s[x]] * (1 - fx) + image[r1 + x1s[x]] * fx;
        out[o + x] = (top * (1 - fy) + bottom * fy) * scale;
      }
    }
  }
  return out;
}
