// The size images of a folder are trained at, and how a decoded image is brought to it. No Node
// API: the image cache (image-cache.ts), `predict` and the browser app all fit images here, so a
// photo given to `predict` becomes exactly the pixels its class folder's images were trained on.
//
//   square N        shorter side resized to N, centre N×N crop (fixed-size data: the CIFAR recipe's
//                   pad-crop-flip and its plain test view apply as on CIFAR-10)
//   shorterSide S   shorter side resized to S, aspect kept (variable-size data: the ImageNet
//                   recipe's scale augmentation and its resize-then-centre-crop test view)
//
// Which one a run uses follows its recipe: a recipe that rescales (imagenet-paper) keeps the aspect
// at S = round(256·N/224) (ImageNet's 256 for a 224 crop), any other stores N×N squares.

import { centerWindow, resizeBytes, resizeShorterSide } from './resize.js';

export type ImageGeometry = { kind: 'square'; side: number } | { kind: 'shorterSide'; side: number };

/** Images whose typical shorter side is below this are "small" (trained at their own size, CIFAR-style); larger ones are photos (224, ImageNet-style). */
export const SMALL_IMAGE_LIMIT = 128;

/** The image size of a folder whose images have these sizes: the median shorter side for small images, 224 for photos. */
export function defaultImageSize(sizes: readonly { height: number; width: number }[]): number {
  if (sizes.length === 0) throw new Error('defaultImageSize: no images');
  const shorter = sizes.map((s) => Math.min(s.height, s.width)).sort((a, b) => a - b);
  const median = shorter[Math.floor(shorter.length / 2)]!;
  return median < SMALL_IMAGE_LIMIT ? median : 224;
}

/** ImageNet's proportions (256 resize for a 224 crop, scale augmentation 256..480) at crop `side`. */
export function scaledToCrop(pixelsAt224: number, side: number): number {
  return Math.round((pixelsAt224 * side) / 224);
}

/** The stored geometry of a run at image size `side`: aspect kept for rescaling recipes, squares otherwise. */
export function geometryFor(rescales: boolean, side: number): ImageGeometry {
  return rescales ? { kind: 'shorterSide', side: scaledToCrop(256, side) } : { kind: 'square', side };
}

/** A short name for file names and messages: "square-32", "shorter-256". */
export function geometryTag(g: ImageGeometry): string {
  return `${g.kind === 'square' ? 'square' : 'shorter'}-${g.side}`;
}

/** Brings a decoded image [c, h, w] to a geometry with the test views' resampling (resize.ts): bytes [c, H, W]. */
export function fitImage(image: Uint8Array, c: number, h: number, w: number, g: ImageGeometry): { image: Uint8Array; height: number; width: number } {
  const size = resizeShorterSide(h, w, g.side);
  if (g.kind === 'shorterSide') {
    return { image: resizeBytes(image, c, h, w, size.height, size.width, { top: 0, left: 0, ...size }), ...size };
  }
  const win = centerWindow(size.height, size.width, g.side);
  return { image: resizeBytes(image, c, h, w, size.height, size.width, win), height: g.side, width: g.side };
}

/** 8-bit RGB [3, h, w] to 8-bit luminance [1, h, w] as PIL's convert('L'): (19595 R + 38470 G + 7471 B + 2^15) >> 16. */
export function toGray(image: Uint8Array, h: number, w: number): Uint8Array {
  const hw = h * w;
  if (image.length !== 3 * hw) throw new Error(`toGray: ${image.length} bytes are not a 3×${h}×${w} image`);
  const out = new Uint8Array(hw);
  for (let p = 0; p < hw; p++) out[p] = (19595 * image[p]! + 38470 * image[hw + p]! + 7471 * image[2 * hw + p]! + 0x8000) >>> 16;
  return out;
}
