// Evaluation preprocessing of a photograph, exactly as torchvision 0.14 does it on a PIL image:
//
//   T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean, std)])
//
//   Resize(256)      shorter side to 256, longer side int(256 · long / short) (floored), PIL BILINEAR
//                    with its antialiasing when shrinking (./pil-resize.ts)
//   CenterCrop(224)  offsets int(round((size − 224) / 2)) with Python's round (half to even); an image
//                    smaller than the crop is first padded with zeros, (d // 2) before, (d + 1) // 2 after
//   ToTensor         bytes [h, w, 3] → float32 [3, h, w], k / 255
//   Normalize        (x − mean) / std per channel, in float32 as torch computes it
//
// Decoding: sharp (libvips) decodes JPEG/PNG to 8-bit RGB. As with PIL's Image.open(...).convert('RGB'):
// an embedded ICC profile is ignored (PIL does not colour-manage), EXIF orientation is not applied,
// alpha is dropped, grayscale is replicated to three channels. JPEG decoders may still differ by a
// level or two in places (IDCT and chroma upsampling implementations); see the predict tests.

import { pilResize, type RgbImage } from './pil-resize.js';
import { decodeRaw } from './sharp-decode.js';

export type { RgbImage } from './pil-resize.js';

/** Resize and crop sizes and the per-channel normalization, as stored in weights metadata. */
export interface EvalPreprocessing {
  /** Shorter side after resizing. */
  resize: number;
  /** Side of the square center crop. */
  crop: number;
  /** Per-channel mean and standard deviation, in [0, 1] units (after ToTensor). */
  mean: number[];
  std: number[];
}

/** torchvision's ImageNet evaluation preprocessing (every torchvision ResNet weights use it). */
export const IMAGENET_EVAL: EvalPreprocessing = {
  resize: 256,
  crop: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** The safetensors metadata key under which weights carry their preprocessing (JSON). */
export const PREPROCESS_METADATA_KEY = 'preprocess';

/** Metadata entry for `p`, to pass along when saving weights. */
export function preprocessingMetadata(p: EvalPreprocessing): Record<string, string> {
  return { [PREPROCESS_METADATA_KEY]: JSON.stringify(p) };
}

/** Reads and validates the preprocessing recorded in weights metadata, if any. */
export function preprocessingFromMetadata(metadata: Record<string, string>, source = 'weights'): EvalPreprocessing | undefined {
  const text = metadata[PREPROCESS_METADATA_KEY];
  if (text === undefined) return undefined;
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    throw new Error(`${source}: metadata '${PREPROCESS_METADATA_KEY}' is not valid JSON`);
  }
  const o = p as Partial<EvalPreprocessing>;
  const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const numbers = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (typeof p !== 'object' || p === null || !positive(o.resize) || !positive(o.crop) || !numbers(o.mean) || !numbers(o.std) || o.mean!.length !== o.std!.length) {
    throw new Error(`${source}: metadata '${PREPROCESS_METADATA_KEY}' must be {resize, crop, mean: [...], std: [...]}, got ${text}`);
  }
  return { resize: o.resize!, crop: o.crop!, mean: o.mean!, std: o.std! };
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a JPEG or PNG (path or bytes) to 8-bit RGB, the way PIL's convert('RGB') sees it. An
 * undecodable image, or one over the maxImagePixels read limit, is a FormatError.
 */
export async function decodeRgb(input: string | Uint8Array): Promise<RgbImage> {
  const { data, info } = await decodeRaw(input, { ignoreIcc: true });
  if (info.channels !== 3) throw new Error(`decodeRgb: expected 3 channels after conversion to RGB, got ${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
}

// ---------------------------------------------------------------------------------------------
// The transforms

/** torchvision's output size for Resize(size) with an int: the shorter side becomes `size`. */
export function resizedSize(height: number, width: number, size: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short); // Python: int(size * long / short)
  return width <= height ? [newLong, size] : [size, newLong];
}

/** T.Resize(size) on a PIL image (bilinear). */
export function resizeShorterSide(image: RgbImage, size: number): RgbImage {
  const [h, w] = resizedSize(image.height, image.width, size);
  if (h === image.height && w === image.width) return image; // torchvision returns the image as is
  return pilResize(image, h, w);
}

/** T.CenterCrop(size) on a PIL image, zero padding included. */
export function centerCrop(image: RgbImage, cropHeight: number, cropWidth: number): RgbImage {
  const { data, height: h, width: w } = image;
  // Padding (only when the crop is larger): left/top get d // 2, right/bottom (d + 1) // 2.
  const padTop = cropHeight > h ? Math.floor((cropHeight - h) / 2) : 0;
  const padLeft = cropWidth > w ? Math.floor((cropWidth - w) / 2) : 0;
  const paddedH = h + padTop + (cropHeight > h ? Math.floor((cropHeight - h + 1) / 2) : 0);
  const paddedW = w + padLeft + (cropWidth > w ? Math.floor((cropWidth - w + 1) / 2) : 0);
  const top = roundHalfToEven((paddedH - cropHeight) / 2) - padTop; // in the unpadded image
  const left = roundHalfToEven((paddedW - cropWidth) / 2) - padLeft;
  const out = new Uint8Array(cropHeight * cropWidth * 3); // zeros where the window leaves the image
  for (let y = 0; y < cropHeight; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < cropWidth; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= w) continue;
      const s = (sy * w + sx) * 3;
      const o = (y * cropWidth + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { data: out, height: cropHeight, width: cropWidth };
}

/**
 * T.ToTensor then T.Normalize(mean, std): [h, w, 3] bytes → float32 [3, h, w]. Each step is rounded
 * to float32 as torch does: x = k / 255; (x − mean) / std with mean and std as float32 tensors.
 */
export function toNormalizedTensor(image: RgbImage, mean: number[], std: number[]): Float32Array {
  const { data, height: h, width: w } = image;
  if (mean.length !== 3 || std.length !== 3) throw new Error(`normalization needs 3 means and 3 stds for RGB, got ${mean.length} and ${std.length}`);
  const hw = h * w;
  const out = new Float32Array(3 * hw);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    for (let p = 0; p < hw; p++) {
      const x = Math.fround(data[p * 3 + c]! / 255);
      out[c * hw + p] = Math.fround(x - m) / s; // the store rounds the quotient to float32
    }
  }
  return out;
}

/** The whole evaluation preprocessing of one decoded image: float32 [3, crop, crop]. */
export function preprocessForEval(image: RgbImage, p: EvalPreprocessing = IMAGENET_EVAL): Float32Array {
  const resized = resizeShorterSide(image, p.resize);
  return toNormalizedTensor(centerCrop(resized, p.crop, p.crop), p.mean, p.std);
}

/** Python 3's round() on a float: halves go to the even neighbour. */
export function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
