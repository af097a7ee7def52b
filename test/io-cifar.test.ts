import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readCifarBatch, writeCifarBatch, CIFAR_IMAGE_BYTES, CIFAR_RECORD_BYTES } from '../src/io/cifar.js';

function batch(n: number) {
  const images = Uint8Array.from({ length: n * CIFAR_IMAGE_BYTES }, (_, i) => (i * 7) & 255);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images, labels, bytes: writeCifarBatch(images, labels) };
}

test('readCifarBatch: round trip, channel-major records', () => {
  const { images, labels, bytes } = batch(3);
  assert.equal(bytes.length, 3 * 3073);
  const r = readCifarBatch(bytes, 'b.bin');
  assert.deepEqual(r.labels, labels);
  assert.deepEqual(r.images, images);
  // record 1: label byte then its red plane first
  assert.equal(bytes[CIFAR_RECORD_BYTES], 1);
  assert.equal(bytes[CIFAR_RECORD_BYTES + 1], images[CIFAR_IMAGE_BYTES]);
});

test('readCifarBatch: truncated record', () => {
  const { bytes } = batch(2);
  assert.throws(
    () => readCifarBatch(bytes.subarray(0, bytes.length - 5), 'data_batch_1.bin'),
    /data_batch_1\.bin: size 6141 is not a multiple of the CIFAR-10 record size 3073 \(1 whole records and 3068 bytes left over/,
  );
});

test('readCifarBatch: empty file and bad label', () => {
  assert.throws(() => readCifarBatch(new Uint8Array(0), 'e.bin'), /e\.bin: empty file/);
  const { bytes } = batch(2);
  bytes[CIFAR_RECORD_BYTES] = 42;
  assert.throws(() => readCifarBatch(bytes, 'x.bin'), /x\.bin: record 1 has label 42; CIFAR-10 labels are 0\.\.9/);
});
