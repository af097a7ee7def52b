// CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): a file is a sequence of
// 3073-byte records, 1 label byte (0..9) then 3072 image bytes, channel-major: 1024 red, 1024 green,
// 1024 blue, each a 32×32 image row by row. That is already CHW, so records are copied as they are.
// This module imports nothing from the project outside io/.

import { FormatError } from './errors.js';

export const CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32; // 3073
export const CIFAR_IMAGE_BYTES = 3 * 32 * 32; // 3072

export interface CifarBatch {
  images: Uint8Array; // [n, 3, 32, 32]
  labels: Uint8Array; // [n], 0..9
}

/** Parses one CIFAR-10 batch file. `source` (a file name) only serves the error messages. */
export function readCifarBatch(bytes: Uint8Array, source: string): CifarBatch {
  if (bytes.length === 0) throw new FormatError(`${source}: empty file, expected CIFAR-10 records of ${CIFAR_RECORD_BYTES} bytes`);
  if (bytes.length % CIFAR_RECORD_BYTES !== 0) {
    const n = Math.floor(bytes.length / CIFAR_RECORD_BYTES);
    const extra = bytes.length - n * CIFAR_RECORD_BYTES;
    throw new FormatError(
      `${source}: size ${bytes.length} is not a multiple of the CIFAR-10 record size ${CIFAR_RECORD_BYTES} ` +
        `(${n} whole records and ${extra} bytes left over: truncated or not a CIFAR-10 binary batch; ` +
        `the Python pickle version is not supported)`,
    );
  }
  const n = bytes.length / CIFAR_RECORD_BYTES;
  const images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * CIFAR_RECORD_BYTES;
    const label = bytes[at];
    if (label > 9) {
      throw new FormatError(`${source}: record ${i} has label ${label}; CIFAR-10 labels are 0..9 (is this CIFAR-100?)`);
    }
    labels[i] = label;
    images.set(bytes.subarray(at + 1, at + CIFAR_RECORD_BYTES), i * CIFAR_IMAGE_BYTES);
  }
  return { images, labels };
}

/** Encodes CIFAR-10 records (the inverse of readCifarBatch); used by tests. */
export function writeCifarBatch(images: Uint8Array, labels: Uint8Array): Uint8Array {
  const n = labels.length;
  if (images.length !== n * CIFAR_IMAGE_BYTES) throw new Error(`writeCifarBatch: ${images.length} image bytes for ${n} labels`);
  const out = new Uint8Array(n * CIFAR_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    out[i * CIFAR_RECORD_BYTES] = labels[i];
    out.set(images.subarray(i * CIFAR_IMAGE_BYTES, (i + 1) * CIFAR_IMAGE_BYTES), i * CIFAR_RECORD_BYTES + 1);
  }
  return out;
}
