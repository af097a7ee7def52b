// Decoding image files (JPEG, PNG) to 8-bit RGB bytes in CHW order, the way PIL's
// Image.open(...).convert('RGB') sees them: sharp (libvips) decodes, bounded (sharp-decode.ts); an embedded ICC profile is
// ignored (PIL does not colour-manage), EXIF orientation is not applied, alpha is dropped and
// grayscale is replicated to three channels. JPEG decoders may still differ by a level or two in
// places (IDCT and chroma upsampling implementations); see the test-view tests. Image folders and
// `predict` both decode here, so the same file gives the same pixels to `eval` and `predict`.

import { toPlanar } from './pixel-layout.js';
import { decodeRaw } from './sharp-decode.js';

/** A decoded image: bytes [3, height, width]. */
export interface DecodedImage {
  image: Uint8Array;
  height: number;
  width: number;
}

/** Decodes a JPEG or PNG file (path or bytes) to RGB bytes in CHW order. */
export async function decodeImage(input: string | Uint8Array): Promise<DecodedImage> {
  const { data, info } = await decodeRaw(input, { ignoreIcc: true });
  const { height, width, channels } = info;
  if (channels !== 3) throw new Error(`decodeImage: expected 3 channels after conversion to RGB, got ${channels}`);
  return { image: toPlanar(data, height * width, 3), height, width }; // sharp gives [height, width, 3]
}
