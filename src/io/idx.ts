// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/), gzipped or not.
//
// Layout: 2 zero bytes, 1 type byte, 1 byte ndims, ndims big-endian uint32 sizes, then the data,
// row-major. Only type 0x08 (unsigned byte) is read; MNIST-style images and labels use nothing else.
// This module imports nothing from the project (io/ is below every layer).

import { gunzipSync } from 'fflate';

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

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an IDX file. `source` (a file name) only serves the error messages.
 * The result's data is a view on `bytes` (or on the gunzipped copy): copy it to keep it apart.
 */
export function readIdx(bytes: Uint8Array, source: string): IdxArray {
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${source}: gzip data is corrupt or truncated (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new Error(`${source}: not an IDX file (${bytes.length} bytes, shorter than the 4-byte magic)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${source}: not an IDX file (magic ${magic}; an IDX file starts with 00 00 <type> <ndims>)`);
  }
  const type = bytes[2];
  const ndims = bytes[3];
  if (!(type in TYPE_NAMES)) throw new Error(`${source}: unknown IDX data type 0x${type.toString(16)}`);
  if (type !== 0x08) {
    throw new Error(`${source}: IDX data type 0x${type.toString(16)} (${TYPE_NAMES[type]}) is not supported; only 0x08 (unsigned byte)`);
  }
  if (ndims === 0) throw new Error(`${source}: IDX file declares 0 dimensions`);
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) {
    throw new Error(`${source}: truncated IDX header (${bytes.length} bytes, need ${headerSize} for ${ndims} dimensions)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false); // big-endian
    shape.push(size);
    count *= size;
  }
  const actual = bytes.length - headerSize;
  if (actual < count) {
    throw new Error(`${source}: truncated IDX data: shape [${shape.join(', ')}] needs ${count} bytes, the file has ${actual}`);
  }
  if (actual > count) {
    throw new Error(`${source}: ${actual - count} trailing bytes after IDX data of shape [${shape.join(', ')}]`);
  }
  return { shape, data: bytes.subarray(headerSize) };
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
