// Bounded decompression and CRC-32 for the readers (gzip files, zip entries).
//
// A compressed stream's recorded length (gzip's ISIZE, a zip entry's uncompressed size) is checked
// against the limits (./limits.ts) before anything is inflated; inflation then streams into a buffer
// of exactly that length and stops as soon as the data would run past it, so that a small file that
// inflates to gigabytes costs neither the memory nor the time. The result's CRC-32 is compared with
// the recorded one: a corrupt byte is an error, not a changed pixel or weight.

import { Inflate } from 'fflate';
import { FormatError } from './errors.js';
import { type ReadLimits, checkLimit, inflateBound } from './limits.js';

/** A check of the first `bytes` bytes of output (fewer if the whole is shorter), given the whole's length. */
export interface HeadCheck {
  bytes: number;
  check(first: Uint8Array, length: number): void;
}

/** Compressed bytes handed to the inflater at a time: at most 200× as many come out of one push. */
const CHUNK = 64 * 1024;

/**
 * Inflates raw DEFLATE data that must produce exactly `length` bytes. `head` is called once with
 * the first `head.bytes` bytes of output (or all of it, if shorter) before the rest is inflated,
 * so that a caller can check a header against `length` early.
 */
export function inflateExact(
  data: Uint8Array,
  length: number,
  source: string,
  head?: HeadCheck,
): Uint8Array {
  const out = new Uint8Array(length);
  let filled = 0;
  let headDone = head === undefined;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    if (chunk.length > length - filled) {
      throw new FormatError(`${source}: compressed data inflates to more than its recorded length of ${length} bytes`);
    }
    out.set(chunk, filled);
    filled += chunk.length;
    if (!headDone && filled >= Math.min(head!.bytes, length)) {
      headDone = true;
      head!.check(out.subarray(0, filled), length);
    }
    if (final) ended = true;
  });
  try {
    for (let at = 0; at < data.length || at === 0; at += CHUNK) {
      const last = at + CHUNK >= data.length;
      inflater.push(data.subarray(at, Math.min(at + CHUNK, data.length)), last);
      if (last) break;
    }
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`${source}: corrupt compressed data (${(e as Error).message})`);
  }
  if (!ended || filled !== length) {
    throw new FormatError(`${source}: compressed data inflates to ${filled} bytes, ${length} recorded (corrupt or truncated)`);
  }
  if (!headDone) head!.check(out, length);
  return out;
}

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/**
 * Decompresses a gzip file (one member, RFC 1952) within the limits, verifying the CRC-32 and the
 * length recorded in its trailer. `head`: as for inflateExact.
 */
export function gunzip(bytes: Uint8Array, source: string, limits: ReadLimits, head?: HeadCheck): Uint8Array {
  const fail = (problem: string): never => {
    throw new FormatError(`${source}: ${problem}`);
  };
  if (bytes.length < 18) fail(`gzip file of ${bytes.length} bytes is truncated (a gzip member needs at least 18)`);
  if (!isGzip(bytes)) fail('not a gzip file');
  if (bytes[2] !== 8) fail(`gzip compression method ${bytes[2]} is not DEFLATE (8)`);
  const flags = bytes[3]!;
  let pos = 10;
  if (flags & FEXTRA) pos += 2 + (bytes[pos]! | (bytes[pos + 1]! << 8));
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const end = bytes.indexOf(0, pos);
      if (end < 0) fail('truncated gzip header (an unterminated name or comment)');
      pos = end + 1;
    }
  }
  if (flags & FHCRC) pos += 2;
  if (pos > bytes.length - 8) fail('truncated gzip header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crc = view.getUint32(bytes.length - 8, true);
  const length = view.getUint32(bytes.length - 4, true);
  const body = bytes.subarray(pos, bytes.length - 8);
  const { bound, name } = inflateBound(body.length, limits);
  checkLimit(source, 'gzip data is corrupt or truncated, or larger than allowed: the uncompressed length in its trailer', length, limits, name, bound);
  const out = inflateExact(body, length, `${source} (gzip)`, head);
  const actual = crc32(out);
  if (actual !== crc) fail(`gzip data is corrupt: CRC-32 ${hex(actual)}, the file records ${hex(crc)}`);
  return out;
}

export const hex = (v: number): string => `0x${v.toString(16).padStart(8, '0')}`;

/** CRC-32 (the zip/gzip/PNG polynomial 0xEDB88320, reflected), table-driven; `crc` continues a running one. */
let CRC_TABLE: Uint32Array | null = null;

export function crc32(data: Uint8Array, crc = 0): number {
  if (CRC_TABLE === null) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const table = CRC_TABLE;
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
