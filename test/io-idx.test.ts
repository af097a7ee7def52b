import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { readIdx, writeIdx } from '../src/io/idx.js';
import { bundledFashionMnistDir } from '../src/data/idx-dataset.js';

const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);

test('readIdx: round trip, plain and gzipped', () => {
  const file = writeIdx([2, 3, 4], data);
  for (const bytes of [file, gzipSync(file)]) {
    const r = readIdx(bytes, 'x.idx');
    assert.deepEqual(r.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(r.data), Array.from(data));
  }
});

test('readIdx: wrong magic', () => {
  const bad = writeIdx([2, 3, 4], data);
  bad[0] = 0x50;
  assert.throws(() => readIdx(bad, 'bad.idx'), /bad\.idx: not an IDX file \(magic 50 00 08 03/);
});

test('readIdx: unsupported data type', () => {
  const bad = writeIdx([2, 3, 4], data);
  bad[2] = 0x0d;
  assert.throws(() => readIdx(bad, 'f.idx'), /0xd \(float32\) is not supported; only 0x08/);
});

test('readIdx: truncated data, truncated header, trailing bytes', () => {
  const file = writeIdx([2, 3, 4], data);
  assert.throws(() => readIdx(file.subarray(0, file.length - 1), 't.idx'), /t\.idx: truncated IDX data: shape \[2, 3, 4\] needs 24 bytes, the file has 23/);
  assert.throws(() => readIdx(file.subarray(0, 10), 'h.idx'), /truncated IDX header/);
  const longer = new Uint8Array(file.length + 3);
  longer.set(file);
  assert.throws(() => readIdx(longer, 'l.idx'), /3 trailing bytes/);
});

test('readIdx: corrupt gzip', () => {
  const gz = gzipSync(writeIdx([2, 3, 4], data));
  assert.throws(() => readIdx(gz.subarray(0, gz.length - 12), 'c.gz'), /c\.gz: gzip data is corrupt or truncated/);
});

test('readIdx: the bundled Fashion-MNIST sample', () => {
  const dir = bundledFashionMnistDir();
  const images = readIdx(readFileSync(join(dir, 't10k-images-idx3-ubyte.gz')), 't10k images');
  assert.deepEqual(images.shape, [2000, 28, 28]);
  const labels = readIdx(readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz')), 't10k labels');
  assert.deepEqual(labels.shape, [2000]);
});
