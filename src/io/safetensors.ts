// safetensors: the weight and checkpoint format (https://github.com/huggingface/safetensors).
//
// Layout: 8 bytes N (u64, little-endian) | N bytes of UTF-8 JSON header | data section.
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}, offsets relative
// to the start of the data section; the optional key `__metadata__` is a string→string map.
//
// The reader treats the file as hostile: every number in the header is checked before it is used,
// and the tensors must tile the data section exactly (no overlap, no hole, nothing after the last
// tensor), as the reference implementation requires: this rules out aliasing and polyglot files.
// All dtypes are converted to float32 on read; the writer writes F32.
//
// Integrity: files written with `{ checksum: true }` (our weights and checkpoints) record the CRC-32
// of the data section in the metadata key `data_crc32` (8 hex digits); the reader verifies it when
// present, so that a flipped byte in a tensor is an error rather than a wrong weight. Files without
// it (from other tools, or written before it existed) load as before.

import { FormatError } from './errors.js';
import { crc32, hex } from './inflate.js';
import { type ReadLimits, checkLimit, readLimits } from './limits.js';

export type SafeDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'F64';

export interface StoredTensor {
  dtype: SafeDType; // the dtype in the file; `data` is always float32
  shape: number[];
  data: Float32Array; // product(shape) values, C order
}

/** Bytes per element of each supported dtype. */
const ITEM_SIZE: Record<SafeDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, F64: 8 };

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100 * 1000 * 1000;

const METADATA_KEY = '__metadata__';

/** The metadata key holding the CRC-32 of the data section. */
export const CHECKSUM_KEY = 'data_crc32';

/** A validated header entry with offsets relative to the data section. */
interface Entry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

// ---------------------------------------------------------------------------------------------
// Reading

export function readSafetensors(
  bytes: Uint8Array,
  source = 'safetensors file',
  limits?: Partial<ReadLimits>,
): { metadata: Record<string, string>; tensors: Map<string, StoredTensor> } {
  const fail = (problem: string): never => {
    throw new FormatError(`${source}: ${problem}`);
  };
  const maxRank = (rank: number, name: string) => checkLimit(source, `the rank of tensor '${name}'`, rank, readLimits(limits), 'maxRank');
  const headerSize = readHeaderSize(bytes, fail);
  const header = parseHeaderJson(bytes.subarray(8, 8 + headerSize), fail);
  const dataStart = 8 + headerSize;
  const dataLength = bytes.length - dataStart;

  const metadata = readMetadata(header[METADATA_KEY], fail);
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name !== METADATA_KEY) entries.push(readEntry(name, value, dataLength, fail, maxRank));
  }
  const ordered = checkTiling(entries, dataLength, fail);
  verifyChecksum(metadata[CHECKSUM_KEY], bytes.subarray(dataStart), fail);

  const tensors = new Map<string, StoredTensor>();
  for (const e of ordered) {
    const raw = copyOf(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    const data = decode(e.dtype, raw, (problem) => fail(`tensor '${e.name}': ${problem}`));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { metadata, tensors };
}

/** The first 8 bytes: the header length. Guards against truncated files and absurd sizes. */
function readHeaderSize(bytes: Uint8Array, fail: (p: string) => never): number {
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header size`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const size = view.getBigUint64(0, true);
  if (size > BigInt(MAX_HEADER_BYTES)) fail(`header size ${size} is absurd (over 100 MB)`);
  const n = Number(size);
  if (n > bytes.length - 8) fail(`header size ${n} exceeds the file length (${bytes.length - 8} bytes after the size)`);
  return n;
}

/** The header must be valid UTF-8 holding a JSON object. */
function parseHeaderJson(headerBytes: Uint8Array, fail: (p: string) => never): Record<string, unknown> {
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) fail('header JSON is not an object');
  return parsed as Record<string, unknown>;
}

/** `__metadata__` is optional; when present it must map strings to strings. */
function readMetadata(value: unknown, fail: (p: string) => never): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail(`${METADATA_KEY} is not an object`);
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') fail(`${METADATA_KEY} value for '${key}' is not a string`);
  }
  // fromEntries defines own properties, so even a key named '__proto__' stays plain data.
  return Object.fromEntries(entries) as Record<string, string>;
}

/** The recorded CRC-32 of the data section, when there is one, must match. */
function verifyChecksum(recorded: string | undefined, data: Uint8Array, fail: (p: string) => never): void {
  if (recorded === undefined) return;
  if (!/^0x[0-9a-f]{8}$/.test(recorded)) fail(`metadata '${CHECKSUM_KEY}' is '${recorded.slice(0, 40)}', not a CRC-32 (0x and 8 hex digits)`);
  const actual = hex(crc32(data));
  if (actual !== recorded) {
    fail(`tensor data is corrupt: its CRC-32 is ${actual}, the file records ${recorded} (a damaged copy: fetch or write the file again)`);
  }
}

/** One tensor entry: checks fields, types and that the byte range matches dtype and shape. */
function readEntry(name: string, value: unknown, dataLength: number, fail0: (p: string) => never, maxRank: (rank: number, name: string) => void): Entry {
  const fail = (problem: string): never => fail0(`tensor '${name}': ${problem}`);
  if (!isPlainObject(value)) fail('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

  if (dtype === undefined) fail('missing dtype');
  if (typeof dtype !== 'string') fail('dtype is not a string');
  if (!Object.hasOwn(ITEM_SIZE, dtype as string)) fail(`unknown dtype '${dtype as string}'`);
  const dt = dtype as SafeDType;

  if (shape === undefined) fail('missing shape');
  if (!Array.isArray(shape)) fail('shape is not an array');
  maxRank((shape as unknown[]).length, name);
  for (const d of shape as unknown[]) {
    // Negative, fractional or huge dimensions would make the size computation meaningless.
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`shape [${(shape as unknown[]).join(', ')}] has a dimension that is not a non-negative integer`);
    }
  }
  const dims = shape as number[];

  if (offsets === undefined) fail('missing data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2) fail('data_offsets is not an array of two numbers');
  const [begin, end] = offsets as unknown[];
  if (!isOffset(begin) || !isOffset(end)) fail('data_offsets are not non-negative integers');
  const b = begin as number;
  const e = end as number;
  if (b > e) fail(`data_offsets begin ${b} > end ${e}`);
  if (e > dataLength) fail(`data_offsets [${b}, ${e}] lie outside the data section (${dataLength} bytes)`);

  // The byte range must hold exactly product(shape) elements; products are checked for overflow.
  let expected = ITEM_SIZE[dt];
  for (const d of dims) expected *= d;
  if (!Number.isSafeInteger(expected)) fail(`shape [${dims.join(', ')}] is too large`);
  if (e - b !== expected) {
    fail(`byte length ${e - b} of data_offsets does not match shape [${dims.join(', ')}] × ${ITEM_SIZE[dt]} bytes = ${expected}`);
  }
  return { name, dtype: dt, shape: dims.slice(), begin: b, end: e };
}

/**
 * The tensors, sorted by offset, must cover the data section exactly: each begins where the previous
 * ends (overlap would alias two tensors; a hole or trailing bytes could hide another file format).
 */
function checkTiling(entries: Entry[], dataLength: number, fail: (p: string) => never): Entry[] {
  const ordered = entries.slice().sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = 0;
  let previous = '';
  for (const e of ordered) {
    if (e.begin < cursor) fail(`tensor '${e.name}' overlaps tensor '${previous}' (bytes ${e.begin}..${cursor})`);
    if (e.begin > cursor) fail(`hole in the data section: bytes ${cursor}..${e.begin} belong to no tensor`);
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataLength) fail(`data section has ${dataLength - cursor} trailing bytes that belong to no tensor`);
  return ordered;
}

/**
 * An owned copy at byteOffset 0, so that typed views of it are aligned. (Not `bytes.slice`: on a
 * Node Buffer, slice returns a view into a shared, possibly pooled, ArrayBuffer.)
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isOffset(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding to float32. `raw` is an owned copy (byteOffset 0), so typed views are aligned.

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decode(dtype: SafeDType, raw: Uint8Array, fail: (p: string) => never): Float32Array {
  if (!HOST_LITTLE_ENDIAN) fail('reading safetensors needs a little-endian host');
  const buf = raw.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'F16':
      return Float32Array.from(new Uint16Array(buf), f16ToF32);
    case 'BF16':
      return bf16ToF32(new Uint16Array(buf));
    case 'I64':
      return i64ToF32(new BigInt64Array(buf), fail);
  }
}

/**
 * IEEE 754 binary16 → number, exactly: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
 * Every binary16 value is representable in float32, so the result is exact.
 */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25); // normal: 1.m × 2^(e-15)
}

/** bfloat16 is the top half of a float32: shifting the bits up is exact (NaN payloads included). */
function bf16ToF32(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** int64 → float32 via Number; values beyond ±2^53 cannot be represented and are refused. */
function i64ToF32(ints: BigInt64Array, fail: (p: string) => never): Float32Array {
  const out = new Float32Array(ints.length);
  const limit = 2n ** 53n;
  for (let i = 0; i < ints.length; i++) {
    const v = ints[i]!;
    if (v > limit || v < -limit) fail(`I64 value ${v} at index ${i} is beyond 2^53`);
    out[i] = Number(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Serializes tensors as F32, header keys and data in insertion order, header padded with spaces
 * so that the data section starts at a multiple of 8 bytes.
 */
export function writeSafetensors(
  tensors: Iterable<[string, { shape: number[]; data: Float32Array }]>,
  metadata?: Record<string, string>,
  options: { checksum?: boolean } = {},
): Uint8Array {
  const items = [...tensors];
  const seen = new Set<string>();
  for (const [name, t] of items) checkWritable(name, t, seen);
  if (options.checksum) {
    let crc = 0;
    for (const [, t] of items) crc = crc32(littleEndianBytes(t.data), crc);
    metadata = { ...metadata, [CHECKSUM_KEY]: hex(crc) };
  }
  // JSON.stringify would move integer-like keys first, so the header is assembled by hand.
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson(metadata)}`);
  let offset = 0;
  for (const [name, t] of items) {
    const end = offset + t.data.byteLength;
    const info = { dtype: 'F32', shape: t.shape, data_offsets: [offset, end] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerSize = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerSize + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerSize), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerSize); // space padding
  let cursor = 8 + headerSize;
  for (const [, t] of items) {
    out.set(littleEndianBytes(t.data), cursor);
    cursor += t.data.byteLength;
  }
  return out;
}

function metadataJson(metadata: Record<string, string>): string {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new Error(`safetensors metadata value for '${key}' is not a string`);
  }
  return JSON.stringify(metadata);
}

/** Refuses what would produce a file that our own reader rejects. */
function checkWritable(name: string, t: { shape: number[]; data: Float32Array }, seen: Set<string>): void {
  if (name === METADATA_KEY) throw new Error(`safetensors: '${METADATA_KEY}' cannot be a tensor name`);
  if (seen.has(name)) throw new Error(`safetensors: tensor name '${name}' appears twice`);
  seen.add(name);
  let count = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`safetensors: tensor '${name}' has a bad shape [${t.shape.join(', ')}]`);
    count *= d;
  }
  if (count !== t.data.length) {
    throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${count}`);
  }
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}
