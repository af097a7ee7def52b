// Image decoding through sharp (libvips), bounded and with the project's error kinds: an image over
// the maxImagePixels read limit is refused from its header (sharp's limitInputPixels), before its
// pixels are decoded; anything sharp cannot decode is a FormatError naming the file.

import sharp, { type OutputInfo } from 'sharp';
import { FormatError, LimitError } from '../io/errors.js';
import { readLimits } from '../io/limits.js';

/**
 * Decodes `input` (a path or the file's bytes) to 8-bit sRGB without alpha, interleaved [h, w, 3].
 * `ignoreIcc`: leave an embedded colour profile unapplied (as PIL does).
 */
export async function decodeRaw(input: string | Uint8Array, options: { ignoreIcc?: boolean } = {}): Promise<{ data: Buffer; info: OutputInfo }> {
  const limit = readLimits().maxImagePixels;
  const source = typeof input === 'string' ? input : 'image bytes';
  try {
    return await sharp(input, { ...options, limitInputPixels: limit }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    const message = (e as Error).message;
    if (/pixel limit/i.test(message)) {
      throw new LimitError((n) => `${source}: the image has more than ${limit} pixels (maxImagePixels); if it is genuine, raise the limit: ${n.readLimit('maxImagePixels')}`);
    }
    throw new FormatError(`${source}: cannot decode the image (${sharpReason(message)})`);
  }
}

/** sharp's message in one line: libvips repeats its lines; each is said once. */
export function sharpReason(message: string): string {
  return [...new Set(message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0))].join('; ');
}
