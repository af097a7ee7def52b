// NumPy .npy files: the tensor format for tools (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Layout: magic "\x93NUMPY" | major, minor version bytes | header length (u16 in 1.0, u32 in 2.0
// and 3.0, little-endian) | header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ending in '\n' | data, C order.
// The header is parsed by the small literal parser below (never evaluated).

import { FormatError } from './errors.js';
import { type ReadLimits, checkLimit, readLimits } from './limits.js';

export type NpyArray =
  | { dtype: '<f4'; shape: number[]; data: Float32Array }
  | { dtype: '<f8'; shape: number[]; data: Float64Array }
  | { dtype: '<i8'; shape: number[]; data: BigInt64Array }
  | { dtype: '|u1'; shape: number[]; data: Uint8Array };

type NpyDType = NpyArray['dtype'];

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ITEM_SIZE: Record<NpyDType, number> = { '<f4': 4, '<f8': 8, '<i8': 8, '|u1': 1 };
/** numpy aligns the start of the data to 64 bytes. */
const ALIGN = 64;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading

export function readNpy(bytes: Uint8Array, source = '.npy file', limits?: Partial<ReadLimits>): NpyArray {
  const fail = (problem: string): never => {
    throw new FormatError(`${source}: ${problem}`);
  };
  const { headerText, dataStart } = readPreamble(bytes, fail);
  const { dtype, shape } = readHeader(headerText, fail);
  checkLimit(source, 'the number of dimensions', shape.length, readLimits(limits), 'maxRank');

  let count = 1;
  for (const d of shape) count *= d;
  const expected = count * ITEM_SIZE[dtype];
  // Truncated or padded data would silently shift or drop values.
  if (!Number.isSafeInteger(expected)) fail(`shape (${shape.join(', ')}) is too large`);
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    fail(`data length is ${actual} bytes but shape (${shape.join(', ')}) of ${dtype} needs ${expected}`);
  }
  if (!HOST_LITTLE_ENDIAN && dtype !== '|u1') fail('reading little-endian .npy data needs a little-endian host');

  // Copy into a fresh buffer at offset 0 so the typed arrays below are aligned. (Not `bytes.slice`:
  // on a Node Buffer it returns a view into a shared, possibly pooled, ArrayBuffer.)
  const copy = new Uint8Array(expected);
  copy.set(bytes.subarray(dataStart));
  const buf = copy.buffer;
  switch (dtype) {
    case '<f4':
      return { dtype, shape, data: new Float32Array(buf) };
    case '<f8':
      return { dtype, shape, data: new Float64Array(buf) };
    case '<i8':
      return { dtype, shape, data: new BigInt64Array(buf) };
    case '|u1':
      return { dtype, shape, data: new Uint8Array(buf) };
  }
}

/** Magic, version and header length; guards against non-npy input and truncated headers. */
function readPreamble(bytes: Uint8Array, fail: (p: string) => never): { headerText: string; dataStart: number } {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) fail('bad magic: not a .npy file');
  if (bytes.length < 10) fail('truncated header: file ends inside the version/length fields');
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) fail(`unsupported format version ${major}.${minor}`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  const prefix = 8 + lengthBytes;
  if (bytes.length < prefix) fail('truncated header: file ends inside the header length field');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = prefix + headerLength;
  if (dataStart > bytes.length) fail(`truncated header: header of ${headerLength} bytes runs past the end of the file`);

  // 1.0 and 2.0 headers are latin-1; 3.0 allows UTF-8.
  const encoding = major === 3 ? 'utf-8' : 'latin1';
  let headerText = '';
  try {
    headerText = new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(prefix, dataStart));
  } catch {
    fail(`header is not valid ${encoding}`);
  }
  return { headerText, dataStart };
}

/** The header dict: exactly the keys descr, fortran_order and shape, with supported values. */
function readHeader(text: string, fail: (p: string) => never): { dtype: NpyDType; shape: number[] } {
  let value: PyValue;
  try {
    value = parsePyLiteral(text);
  } catch (err) {
    return fail(`unparsable header dict: ${(err as Error).message}`);
  }
  if (!(value instanceof Map)) return fail('unparsable header dict: header is not a dict');
  const keys = [...value.keys()].sort().join(', ');
  if (keys !== 'descr, fortran_order, shape') fail(`header dict has keys {${keys}}, expected {descr, fortran_order, shape}`);

  const descr = value.get('descr');
  const fortran = value.get('fortran_order');
  const shape = value.get('shape');
  if (typeof descr !== 'string') fail('descr is not a string (structured dtypes are not supported)');
  if (typeof fortran !== 'boolean') fail('fortran_order is not True or False');
  if (fortran) fail('fortran_order is True: only C-order arrays are supported');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail('shape is not a tuple of non-negative integers');
  }
  return { dtype: checkDescr(descr as string, fail), shape: shape as number[] };
}

/** Only the little-endian dtypes we use; big-endian data would read as garbage. */
function checkDescr(descr: string, fail: (p: string) => never): NpyDType {
  if (Object.hasOwn(ITEM_SIZE, descr)) return descr as NpyDType;
  if (/^[<>=]u1$/.test(descr)) return '|u1'; // one byte has no byte order
  if (descr.startsWith('>')) fail(`big-endian dtype '${descr}' is not supported (use '<' byte order)`);
  return fail(`unknown dtype '${descr}' (supported: <f4, <f8, <i8, |u1)`);
}

// ---------------------------------------------------------------------------------------------
// A parser for the Python literals that appear in .npy headers: dicts, tuples, lists, strings,
// integers, True/False/None. Nesting is limited so that hostile input cannot exhaust the stack.

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

const MAX_DEPTH = 16;

export function parsePyLiteral(text: string): PyValue {
  let pos = 0;

  const error = (what: string): never => {
    throw new FormatError(`${what} at offset ${pos}`);
  };
  const skipSpace = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos]!)) pos++;
  };
  const peek = (): string => (skipSpace(), text[pos] ?? '');
  const expect = (ch: string): void => {
    if (peek() !== ch) error(`expected '${ch}'`);
    pos++;
  };

  function value(depth: number): PyValue {
    if (depth > MAX_DEPTH) error('nesting too deep');
    const ch = peek();
    if (ch === '{') return dict(depth);
    if (ch === '(') return sequence(depth, ')');
    if (ch === '[') return sequence(depth, ']');
    if (ch === "'" || ch === '"') return str();
    if (/[-+0-9]/.test(ch)) return int();
    return word();
  }

  function dict(depth: number): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    expect('{');
    while (peek() !== '}') {
      const key = value(depth + 1);
      if (typeof key !== 'string') error('dict key is not a string');
      if (out.has(key as string)) error(`duplicate key '${key as string}'`);
      expect(':');
      out.set(key as string, value(depth + 1));
      if (peek() !== ',') break;
      pos++;
    }
    expect('}');
    return out;
  }

  /** Tuples and lists; a one-element tuple needs its trailing comma, as in Python. */
  function sequence(depth: number, close: string): PyValue {
    const out: PyValue[] = [];
    let sawComma = false;
    pos++; // the opening bracket
    while (peek() !== close) {
      out.push(value(depth + 1));
      sawComma = peek() === ',';
      if (!sawComma) break;
      pos++;
    }
    expect(close);
    if (close === ')' && out.length === 1 && !sawComma) return out[0]!; // (x) is x
    return out;
  }

  /** Plain string literals; escapes other than \\ and quotes are not expected in headers. */
  function str(): string {
    const quote = text[pos++]!;
    let out = '';
    while (pos < text.length && text[pos] !== quote) {
      if (text[pos] === '\\') pos++;
      if (pos >= text.length) break;
      out += text[pos++];
    }
    if (pos >= text.length) error('unterminated string');
    pos++;
    return out;
  }

  /** Integers, with the optional 'L' suffix written by Python 2 numpy. */
  function int(): number {
    const match = /^[-+]?[0-9]+L?/.exec(text.slice(pos, pos + 40));
    if (match === null) return error('bad number');
    pos += match[0].length;
    const n = Number(match[0].replace('L', ''));
    if (!Number.isSafeInteger(n)) error(`integer ${match[0]} is too large`);
    return n;
  }

  function word(): boolean | null {
    for (const [w, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (text.startsWith(w, pos)) {
        pos += w.length;
        return v;
      }
    }
    return error('unexpected token');
  }

  const result = value(0);
  if (peek() !== '') error('trailing characters after the literal');
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Writes format 1.0 (2.0 if the header is too long), data starting at a multiple of 64 bytes. */
export function writeNpy(a: NpyArray): Uint8Array {
  let count = 1;
  for (const d of a.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`.npy: bad shape (${a.shape.join(', ')})`);
    count *= d;
  }
  if (count !== a.data.length) throw new Error(`.npy: ${a.data.length} values but shape (${a.shape.join(', ')}) needs ${count}`);
  if (!HOST_LITTLE_ENDIAN && a.dtype !== '|u1') throw new Error('.npy: writing needs a little-endian host');

  const dict = `{'descr': '${a.dtype}', 'fortran_order': False, 'shape': ${shapeRepr(a.shape)}, }`;
  const paddedTotal = (prefix: number): number => Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN; // +1: newline
  const major = paddedTotal(10) - 10 <= 0xffff ? 1 : 2; // 1.0 stores the header length in a u16
  const prefix = major === 1 ? 10 : 12;
  const total = paddedTotal(prefix);
  const header = dict.padEnd(total - prefix - 1, ' ') + '\n';

  const data = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i); // ASCII only
  out.set(data, total);
  return out;
}

/** Python's repr of a shape tuple: (), (3,), (2, 3). */
function shapeRepr(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** The values as float32 (a copy; float64 and int64 are rounded to the nearest float32). */
export function toFloat32(a: NpyArray): Float32Array {
  if (a.dtype === '<i8') return Float32Array.from(a.data, (v) => Number(v));
  return Float32Array.from(a.data);
}
