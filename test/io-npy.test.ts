import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNpy, writeNpy, toFloat32, parsePyLiteral, type NpyArray } from '../src/io/npy.js';
import { assertReaderError, damagedCopies } from './helpers.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

// Files written by numpy 2.4.6, embedded so that CI needs no Python.
// python3 -c "import numpy as np, io; f = io.BytesIO(); np.save(f, np.arange(6, dtype='<f4').reshape(2, 3) / 4 - 0.5); print(f.getvalue().hex())"
const NUMPY_F4 = hex(
  '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000bf000080be000000000000803e0000003f0000403f',
);
// python3 -c "import numpy as np, io; f = io.BytesIO(); np.save(f, np.array([-3, 0, 2**40], dtype='<i8')); print(f.getvalue().hex())"
const NUMPY_I8 = hex(
  '934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200afdffffffffffffff00000000000000000000000000010000',
);
// python3 -c "import numpy as np, io; f = io.BytesIO(); np.lib.format.write_array(f, np.array([[1, 2], [3, 255]], dtype=np.uint8), version=(2, 0)); print(f.getvalue().hex())"
const NUMPY_U1_V2 = hex(
  '934e554d50590200740000007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2032292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a010203ff',
);

/** Builds a .npy file by hand: version, header text (used as is), data bytes. */
function npyFile(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const text = new TextEncoder().encode(header);
  const prefix = major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}

const dict = (descr: string, shape: string, fortran = 'False') =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;

// ---------------------------------------------------------------------------------------------
// Files from numpy

test('reads a float32 file written by numpy', () => {
  const a = readNpy(NUMPY_F4);
  assert.equal(a.dtype, '<f4');
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(a.data, new Float32Array([-0.5, -0.25, 0, 0.25, 0.5, 0.75]));
});

test('reads an int64 file written by numpy', () => {
  const a = readNpy(NUMPY_I8);
  assert.equal(a.dtype, '<i8');
  assert.deepEqual(a.shape, [3]);
  assert.deepEqual(a.data, new BigInt64Array([-3n, 0n, 2n ** 40n]));
  assert.deepEqual(toFloat32(a), new Float32Array([-3, 0, 2 ** 40]));
});

test('reads a version 2.0 uint8 file written by numpy', () => {
  const a = readNpy(NUMPY_U1_V2);
  assert.equal(a.dtype, '|u1');
  assert.deepEqual(a.shape, [2, 2]);
  assert.deepEqual(a.data, new Uint8Array([1, 2, 3, 255]));
});

test('reads version 3.0 (UTF-8 header)', () => {
  const a = readNpy(npyFile(dict('<f8', '(1,)'), new Uint8Array(new Float64Array([0.1]).buffer), 3));
  assert.deepEqual(a, { dtype: '<f8', shape: [1], data: new Float64Array([0.1]) });
});

test('copies data into aligned arrays whatever the input byteOffset (and from pooled Buffers)', () => {
  const shifted = new Uint8Array(NUMPY_F4.length + 3);
  shifted.set(NUMPY_F4, 3);
  assert.deepEqual(readNpy(shifted.subarray(3)).data, readNpy(NUMPY_F4).data);
  const pooled = Buffer.from(NUMPY_I8);
  assert.deepEqual(readNpy(pooled).data, new BigInt64Array([-3n, 0n, 2n ** 40n]));
});

// ---------------------------------------------------------------------------------------------
// Writing

test('writes what numpy writes for the same array (header, 64-byte alignment, newline)', () => {
  const a: NpyArray = { dtype: '<f4', shape: [2, 3], data: new Float32Array([-0.5, -0.25, 0, 0.25, 0.5, 0.75]) };
  assert.deepEqual(writeNpy(a), NUMPY_F4);
});

test('round trips every dtype, scalar and zero-size shapes', () => {
  const arrays: NpyArray[] = [
    { dtype: '<f4', shape: [3, 1, 2], data: new Float32Array([1, 2, 3, 4, 5, -Infinity]) },
    { dtype: '<f8', shape: [], data: new Float64Array([Math.PI]) },
    { dtype: '<i8', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    { dtype: '|u1', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
    { dtype: '<f4', shape: [0, 5], data: new Float32Array(0) },
  ];
  for (const a of arrays) {
    const bytes = writeNpy(a);
    const headerLength = new DataView(bytes.buffer).getUint16(8, true);
    assert.equal((10 + headerLength) % 64, 0, 'data starts at a multiple of 64');
    assert.equal(bytes[10 + headerLength - 1], 0x0a, 'header ends in a newline');
    assert.deepEqual(readNpy(bytes), a);
  }
});

test('writer refuses data that does not match the shape', () => {
  assert.throws(() => writeNpy({ dtype: '<f4', shape: [2, 2], data: new Float32Array(3) }), /3 values but shape \(2, 2\) needs 4/);
});

test('toFloat32 converts every dtype', () => {
  assert.deepEqual(toFloat32({ dtype: '<f8', shape: [2], data: new Float64Array([0.1, 2]) }), new Float32Array([0.1, 2]));
  assert.deepEqual(toFloat32({ dtype: '|u1', shape: [2], data: new Uint8Array([7, 255]) }), new Float32Array([7, 255]));
});

test('the header literal parser handles what numpy writes and nothing more', () => {
  assert.deepEqual(parsePyLiteral("{'a': (), 'b': (3,), 'c': (2, 3), 'd': True, \"e\": None}"), new Map<string, unknown>([
    ['a', []], ['b', [3]], ['c', [2, 3]], ['d', true], ['e', null],
  ]));
  assert.deepEqual(parsePyLiteral('(2L, 3L)'), [2, 3]); // Python 2 numpy
  assert.throws(() => parsePyLiteral("__import__('os')"), /unexpected token/);
  assert.throws(() => parsePyLiteral('('.repeat(100000)), /nesting too deep/);
});

// ---------------------------------------------------------------------------------------------
// Malformed files

function rejects(bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => readNpy(bytes, 'x.npy'), (err: unknown) => (assertReaderError(err, 'x.npy', message), true));
}

const f4x2 = new Uint8Array(new Float32Array([1, 2]).buffer);

test('rejects bad magic', () => {
  rejects(new TextEncoder().encode('PK\x03\x04 not numpy'), /bad magic/);
  rejects(new Uint8Array(0), /bad magic/);
});

test('rejects unsupported versions', () => {
  const v4 = npyFile(dict('<f4', '(2,)'), f4x2);
  v4[6] = 4;
  rejects(v4, /unsupported format version 4\.0/);
});

test('rejects truncated headers', () => {
  rejects(NUMPY_F4.subarray(0, 9), /truncated header/);
  rejects(NUMPY_F4.subarray(0, 60), /truncated header: header of 118 bytes runs past the end/);
});

test('rejects unparsable header dicts', () => {
  rejects(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", f4x2), /unparsable header dict/);
  rejects(npyFile("{'descr': '<f4' 'shape': (2,)}", f4x2), /unparsable header dict: expected '\}' at offset 16/);
  rejects(npyFile('[1, 2]\n', f4x2), /header is not a dict/);
  rejects(npyFile("{'descr': '<f4', 'fortran_order': False}\n", f4x2), /keys \{descr, fortran_order\}/);
  rejects(npyFile(dict('<f4', '(2.5,)'), f4x2), /unparsable header dict/);
  rejects(npyFile(dict('<f4', '(-2,)'), f4x2), /shape is not a tuple of non-negative integers/);
  rejects(npyFile(dict('<f4', '(2,)', 'maybe'), f4x2), /unparsable header dict: unexpected token/);
});

test('rejects Fortran order', () => {
  rejects(npyFile(dict('<f4', '(2,)', 'True'), f4x2), /fortran_order is True: only C-order/);
});

test('rejects big-endian and unknown dtypes', () => {
  rejects(npyFile(dict('>f4', '(2,)'), f4x2), /big-endian dtype '>f4'/);
  rejects(npyFile(dict('<i4', '(2,)'), f4x2), /unknown dtype '<i4'/);
  rejects(npyFile(`{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }\n`, f4x2), /structured dtypes/);
});

test('rejects a wrong data length', () => {
  rejects(npyFile(dict('<f4', '(3,)'), f4x2), /data length is 8 bytes but shape \(3\) of <f4 needs 12/);
  rejects(NUMPY_F4.subarray(0, NUMPY_F4.length - 1), /data length is 23 bytes/);
  rejects(new Uint8Array([...NUMPY_I8, 0]), /data length is 25 bytes/);
});

test('fuzz: truncations and byte flips never escape as RangeError/TypeError', () => {
  for (const copy of damagedCopies([NUMPY_F4, NUMPY_I8, NUMPY_U1_V2], 99, 2000, (i) => i % 2 === 1)) {
    try {
      readNpy(copy);
    } catch (err) {
      assertReaderError(err, '.npy file');
    }
  }
});
