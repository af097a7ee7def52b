import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readSafetensors, writeSafetensors, f16ToF32 } from '../src/io/safetensors.js';
import { assertReaderError, damagedCopies } from './helpers.js';

/** Builds a file from a raw header string and data bytes (no padding: the reader must not need it). */
function fileFrom(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function fileWith(header: object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return fileFrom(JSON.stringify(header), data);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

const f32 = (values: number[]) => bytesOf(new Float32Array(values));

// ---------------------------------------------------------------------------------------------
// Round trips

test('round trip keeps names, order, shapes, values and metadata', () => {
  const a = { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-30, -Infinity]) };
  const b = { shape: [1], data: new Float32Array([42]) };
  const c = { shape: [], data: new Float32Array([7]) }; // scalar
  const d = { shape: [0, 4], data: new Float32Array(0) }; // zero-size
  // '10' is integer-like: JSON objects would put it first; the writer must keep insertion order.
  const bytes = writeSafetensors(
    [['conv1.weight', a], ['10', b], ['scalar', c], ['empty', d]],
    { network: 'resnet18', shortcut: 'B' },
  );
  const headerSize = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerSize % 8, 0, 'header padded to a multiple of 8');
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerSize));
  assert.ok(header.indexOf('conv1.weight') < header.indexOf('"10"'), 'insertion order in the header');
  assert.match(header, / +$/, 'padded with spaces');

  const { metadata, tensors } = readSafetensors(bytes);
  assert.deepEqual(metadata, { network: 'resnet18', shortcut: 'B' });
  assert.deepEqual([...tensors.keys()], ['conv1.weight', '10', 'scalar', 'empty']);
  assert.deepEqual(tensors.get('conv1.weight'), { dtype: 'F32', shape: [2, 3], data: a.data });
  assert.deepEqual(tensors.get('10'), { dtype: 'F32', shape: [1], data: b.data });
  assert.deepEqual(tensors.get('scalar'), { dtype: 'F32', shape: [], data: c.data });
  assert.deepEqual(tensors.get('empty'), { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
});

test('round trip with no tensors and no metadata', () => {
  const { metadata, tensors } = readSafetensors(writeSafetensors([]));
  assert.deepEqual(metadata, {});
  assert.equal(tensors.size, 0);
});

test('reads from a Uint8Array at an odd byteOffset', () => {
  const file = writeSafetensors([['w', { shape: [3], data: new Float32Array([1, 2, 3]) }]]);
  const shifted = new Uint8Array(file.length + 1);
  shifted.set(file, 1);
  const { tensors } = readSafetensors(shifted.subarray(1));
  assert.deepEqual([...tensors.get('w')!.data], [1, 2, 3]);
});

test('reads from a pooled Node Buffer (whose slice() is a view into a shared ArrayBuffer)', () => {
  const file = writeSafetensors([
    ['w', { shape: [3], data: new Float32Array([1, 2, 3]) }],
    ['n', { shape: [], data: new Float32Array([9]) }],
  ]);
  const pooled = Buffer.from(file); // small Buffers live inside a larger shared pool
  assert.ok(pooled.buffer.byteLength > pooled.length, 'the test needs a pooled Buffer');
  const { tensors } = readSafetensors(pooled);
  assert.deepEqual([...tensors.get('w')!.data], [1, 2, 3]);
  assert.deepEqual([...tensors.get('n')!.data], [9]);
});

test('reads a fixture written by tools/fixture_io.py (F32 and I64, metadata)', () => {
  const path = new URL('../../test/fixtures/parity/resnet20_A_eval.safetensors', import.meta.url);
  const { metadata, tensors } = readSafetensors(readFileSync(path), 'resnet20_A_eval.safetensors');
  assert.equal(metadata.net, 'resnet20');
  const conv1 = tensors.get('conv1.weight')!;
  assert.deepEqual([conv1.dtype, conv1.shape, conv1.data.length], ['F32', [16, 3, 3, 3], 432]);
  const tracked = tensors.get('bn1.num_batches_tracked')!;
  assert.deepEqual([tracked.dtype, tracked.shape, [...tracked.data]], ['I64', [], [7]]); // fixture_io.py: 7
  assert.deepEqual([...tensors.keys()].slice(0, 2), ['conv1.weight', 'bn1.weight'], 'file order');
});

test('writer refuses data that does not match the shape', () => {
  assert.throws(() => writeSafetensors([['w', { shape: [2, 2], data: new Float32Array(3) }]]), /3 values but shape \[2, 2\] needs 4/);
  assert.throws(() => writeSafetensors([['__metadata__', { shape: [], data: new Float32Array(1) }]]), /cannot be a tensor name/);
});

// ---------------------------------------------------------------------------------------------
// Decoding of the other dtypes against known bit patterns

test('F16 decodes exactly: normals, subnormals, zeros, infinities, NaN', () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504], // largest normal
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0000, 0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  const bits = new Uint16Array([...cases.map(([h]) => h), 0x7e00, 0x8000]);
  const file = fileWith({ h: { dtype: 'F16', shape: [bits.length], data_offsets: [0, bits.byteLength] } }, bytesOf(bits));
  const t = readSafetensors(file).tensors.get('h')!;
  assert.equal(t.dtype, 'F16');
  cases.forEach(([h, expected], i) => assert.equal(t.data[i], expected, `0x${h.toString(16)}`));
  assert.ok(Number.isNaN(t.data[cases.length]));
  assert.ok(Object.is(t.data[cases.length + 1], -0), 'negative zero keeps its sign');
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

test('BF16 decodes exactly (the top half of a float32)', () => {
  const bits = new Uint16Array([0x3f80, 0xc040, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x3eaa]);
  const file = fileWith({ b: { dtype: 'BF16', shape: [7], data_offsets: [0, 14] } }, bytesOf(bits));
  const d = readSafetensors(file).tensors.get('b')!.data;
  assert.equal(d[0], 1);
  assert.equal(d[1], -3);
  assert.equal(d[2], 2 ** -133); // float32 subnormal 0x00010000
  assert.equal(d[3], Infinity);
  assert.equal(d[4], -Infinity);
  assert.ok(Number.isNaN(d[5]));
  assert.equal(d[6], 0.33203125);
});

test('I64 and F64 are converted to float32', () => {
  const ints = new BigInt64Array([-3n, 0n, 2n ** 40n, 2n ** 53n]);
  const doubles = new Float64Array([0.1, -1e300, 5]);
  const data = new Uint8Array([...bytesOf(ints), ...bytesOf(doubles)]);
  const file = fileWith(
    {
      n: { dtype: 'I64', shape: [4], data_offsets: [0, 32] },
      x: { dtype: 'F64', shape: [3], data_offsets: [32, 56] },
    },
    data,
  );
  const { tensors } = readSafetensors(file);
  assert.deepEqual([...tensors.get('n')!.data], [-3, 0, 2 ** 40, 2 ** 53]);
  assert.deepEqual([...tensors.get('x')!.data], [Math.fround(0.1), -Infinity, 5]);
  assert.equal(tensors.get('n')!.dtype, 'I64');
});

// ---------------------------------------------------------------------------------------------
// Malformed files: each problem is reported by name, never as a RangeError or TypeError

const one = (entry: object) => ({ t: entry });
const good = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
const twoFloats = f32([1, 2]);

function rejects(bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => readSafetensors(bytes, 'w.safetensors'), (err: unknown) => (assertReaderError(err, 'w.safetensors', message), true));
}

test('rejects a file shorter than 8 bytes', () => {
  rejects(new Uint8Array(5), /shorter than the 8-byte header size/);
});

test('rejects an absurd header size', () => {
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  rejects(huge, /header size .* absurd/);
  const tooLong = fileWith({});
  new DataView(tooLong.buffer).setBigUint64(0, 1000n, true);
  rejects(tooLong, /header size 1000 exceeds the file length/);
});

test('rejects a header that is not UTF-8, not JSON or not an object', () => {
  const bad = fileFrom('{"a": "xx"}');
  bad[15] = 0xff; // inside the string value
  rejects(bad, /not valid UTF-8/);
  rejects(fileFrom('{"t": '), /not valid JSON/);
  rejects(fileFrom('[1, 2]'), /not an object/);
  rejects(fileFrom('null'), /not an object/);
});

test('rejects entries with missing or mistyped fields', () => {
  rejects(fileWith({ t: 3 }, twoFloats), /tensor 't': entry is not an object/);
  rejects(fileWith(one({ shape: [2], data_offsets: [0, 8] }), twoFloats), /missing dtype/);
  rejects(fileWith(one({ dtype: 'F32', data_offsets: [0, 8] }), twoFloats), /missing shape/);
  rejects(fileWith(one({ dtype: 'F32', shape: [2] }), twoFloats), /missing data_offsets/);
  rejects(fileWith(one({ ...good, dtype: 7 }), twoFloats), /dtype is not a string/);
  rejects(fileWith(one({ ...good, shape: '2' }), twoFloats), /shape is not an array/);
  rejects(fileWith(one({ ...good, data_offsets: [0] }), twoFloats), /data_offsets is not an array of two/);
  rejects(fileWith(one({ ...good, data_offsets: [0, '8'] }), twoFloats), /data_offsets are not non-negative integers/);
  rejects(fileWith(one({ ...good, data_offsets: [-8, 0] }), twoFloats), /data_offsets are not non-negative integers/);
});

test('rejects an unknown dtype', () => {
  rejects(fileWith(one({ ...good, dtype: 'I8' }), twoFloats), /unknown dtype 'I8'/);
  rejects(fileWith(one({ ...good, dtype: 'toString' }), twoFloats), /unknown dtype 'toString'/);
});

test('rejects negative or non-integer dimensions', () => {
  rejects(fileWith(one({ ...good, shape: [-2] }), twoFloats), /not a non-negative integer/);
  rejects(fileWith(one({ ...good, shape: [2.5] }), twoFloats), /not a non-negative integer/);
  rejects(fileWith(one({ ...good, shape: ['2'] }), twoFloats), /not a non-negative integer/);
});

test('rejects data_offsets outside the data section or reversed', () => {
  rejects(fileWith(one({ ...good, data_offsets: [0, 16] }), twoFloats), /outside the data section/);
  rejects(fileWith(one({ ...good, data_offsets: [8, 0] }), twoFloats), /begin 8 > end 0/);
});

test('rejects a byte length that does not match shape × itemsize', () => {
  rejects(fileWith(one({ ...good, shape: [3] }), twoFloats), /byte length 8 .* does not match shape \[3\]/);
  rejects(fileWith(one({ ...good, dtype: 'F16' }), twoFloats), /byte length 8 .* does not match/);
  rejects(fileWith(one({ ...good, shape: [2 ** 40, 2 ** 40] }), twoFloats), /too large/);
});

test('rejects overlapping tensors', () => {
  const header = {
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
  };
  rejects(fileWith(header, twoFloats), /overlaps/);
});

test('rejects holes and trailing bytes in the data section, as the reference implementation does', () => {
  const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
  rejects(fileWith(hole, twoFloats), /hole in the data section: bytes 0\.\.4/);
  const gap = {
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
  };
  rejects(fileWith(gap, f32([1, 2, 3])), /hole in the data section: bytes 4\.\.8/);
  rejects(fileWith(one({ ...good, shape: [1], data_offsets: [0, 4] }), twoFloats), /4 trailing bytes/);
});

test('rejects metadata that is not a string map', () => {
  rejects(fileWith({ __metadata__: { epochs: 3 } }), /__metadata__ value for 'epochs' is not a string/);
  rejects(fileWith({ __metadata__: 'x' }), /__metadata__ is not an object/);
});

test('rejects I64 values beyond 2^53', () => {
  const ints = new BigInt64Array([2n ** 53n + 1n]);
  rejects(fileWith(one({ dtype: 'I64', shape: [1], data_offsets: [0, 8] }), bytesOf(ints)), /beyond 2\^53/);
});

test('the source name appears in every message', () => {
  assert.throws(() => readSafetensors(new Uint8Array(0)), /^FormatError: safetensors file: /);
});

test('fuzz: truncations and byte flips of a valid file never escape as RangeError/TypeError', () => {
  const file = writeSafetensors(
    [['a', { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }], ['b', { shape: [1], data: new Float32Array([5]) }]],
    { k: 'v' },
  );
  for (const copy of damagedCopies([file], 12345, 2000, (i) => i % 3 === 0)) {
    try {
      readSafetensors(copy);
    } catch (err) {
      assertReaderError(err, 'safetensors file');
    }
  }
});
