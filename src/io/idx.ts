// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/), gzipped or not.
//
// Layout: 2 zero bytes, 1 type byte, 1 byte ndims, ndims big-endian uint32 sizes, then the data,
// row-major. Only type 0x08 (unsigned byte) is read; MNIST-style images and labels use nothing else.
// This module imports nothing from the project outside io/ (io/ is below every layer).
//
// The header is checked against the data before the data is used: the dimensions' product must be
// a safe integer equal to the bytes that follow; a gzipped file's recorded length must fit the
// limits and agree with the header before the rest is inflated, and its CRC-32 must match.

import { FormatError } from './errors.js';
import { gunzip, isGzip } from './inflate.js';
import { type ReadLimits, checkLimit, readLimits } from './limits.js';

export { isGzip };

export interface IdxArray {
  shape: number[];
  data: Uint8Array; // row-major, product(shape) bytes
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/**
 * Parses an IDX file. `source` (a file name) only serves the error messages.
 * The result's data is a view on `bytes` (or on the gunzipped copy): copy it to keep it apart.
 */
export function readIdx(bytes: Uint8Array, source: string, limits?: Partial<ReadLimits>): IdxArray {
  const lim = readLimits(limits);
  if (isGzip(bytes)) {
    // The header (at most 4 + 4 × 255 bytes) is checked against the recorded length before the rest is inflated.
    bytes = gunzip(bytes, source, lim, { bytes: 4 + 4 * 255, check: (head, length) => parseHeader(head, source, lim, length) });
  }
  const { shape, headerSize } = parseHeader(bytes, source, lim, bytes.length);
  return { shape, data: bytes.subarray(headerSize) };
}

/**
 * Magic, type, dimensions, and that the data is exactly product(shape) bytes of a file of `total`
 * bytes. Also called on the first inflated bytes of a gzipped file (at least the header unless the
 * file is shorter), with `total` from the gzip trailer, before the rest is inflated.
 */
function parseHeader(bytes: Uint8Array, source: string, limits: ReadLimits, total: number): { shape: number[]; headerSize: number } {
  const fail = (problem: string): never => {
    throw new FormatError(`${source}: ${problem}`);
  };
  if (bytes.length < 4) fail(`not an IDX file (${bytes.length} bytes, shorter than the 4-byte magic)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(`not an IDX file (magic ${magic}; an IDX file starts with 00 00 <type> <ndims>)`);
  }
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (!(type in TYPE_NAMES)) fail(`unknown IDX data type 0x${type.toString(16)}`);
  if (type !== 0x08) fail(`IDX data type 0x${type.toString(16)} (${TYPE_NAMES[type]}) is not supported; only 0x08 (unsigned byte)`);
  if (ndims === 0) fail('IDX file declares 0 dimensions');
  checkLimit(source, 'the number of IDX dimensions', ndims, limits, 'maxRank');
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) fail(`truncated IDX header (${bytes.length} bytes, need ${headerSize} for ${ndims} dimensions)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false); // big-endian
    shape.push(size);
    count *= size;
  }
  // A product over 2^53 is inexact (and 0 × Infinity would be NaN): no file that large exists.
  if (!Number.isSafeInteger(count)) fail(`IDX shape [${shape.join(', ')}] is too large`);
  const actual = total - headerSize;
  if (actual < count) fail(`truncated IDX data: shape [${shape.join(', ')}] needs ${count} bytes, the file has ${actual}`);
  if (actual > count) fail(`${actual - count} trailing bytes after IDX data of shape [${shape.join(', ')}]`);
  return { shape, headerSize };
}

/** Encodes an unsigned-byte IDX file (uncompressed). Used by tests and by the sample-making tools. */
export function writeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`writeIdx: shape [${shape.join(', ')}] needs ${count} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * shape.length + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = shape.length;
  shape.forEach((s, d) => view.setUint32(4 + 4 * d, s, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}
