import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeCifarBatch, CIFAR_IMAGE_BYTES } from '../src/io/cifar.js';
import { openCifar10, CIFAR10_TRAIN_FILES } from '../src/data/cifar10.js';
import { openFashionMnist, findFashionMnist, FASHION_MNIST_CLASSES, DEBIAN_FASHION_MNIST_DIR } from '../src/data/idx-dataset.js';
import { ImageFolderDataset } from '../src/data/image-folder.js';
import { openDataset } from '../src/data/open.js';
import { existsSync } from 'node:fs';

/** A fake CIFAR-10 directory: 5 train files of `perFile` records, a test file; pixel 0 = global index mod 256. */
function fakeCifar(dir: string, perFile: number) {
  let k = 0;
  for (const f of [...CIFAR10_TRAIN_FILES, 'test_batch.bin']) {
    const images = new Uint8Array(perFile * CIFAR_IMAGE_BYTES);
    const labels = new Uint8Array(perFile);
    for (let i = 0; i < perFile; i++, k++) {
      images[i * CIFAR_IMAGE_BYTES] = k & 255;
      images[i * CIFAR_IMAGE_BYTES + 1] = k >> 8;
      labels[i] = k % 10;
    }
    writeFileSync(join(dir, f), writeCifarBatch(images, labels));
  }
  writeFileSync(join(dir, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
}
const idOf = (img: Uint8Array) => img[0] + 256 * img[1];

test('CIFAR-10 directory: splits, names, 45k/5k', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cifar-'));
  try {
    assert.throws(() => openCifar10(dir, { split: 'train' }), /CIFAR-10 binary files not found in .*data_batch_1\.bin.*cifar-10-binary\.tar\.gz/);
    fakeCifar(dir, 1100); // 5,500 training images: the last 5,000 are validation
    const train = openCifar10(dir, { split: 'train' });
    assert.equal(train.size, 5500);
    assert.deepEqual([train.channels, train.height, train.width], [3, 32, 32]);
    assert.equal(train.classes[1], 'b');
    const s = (await train.get(1234));
    assert.equal(idOf(s.image), 1234);
    assert.equal(s.label, 4);
    const test = openCifar10(dir, { split: 'test' });
    assert.equal(test.size, 1100);
    assert.equal(idOf((await test.get(0)).image), 5500);

    const tr = openCifar10(dir, { split: 'train45k' });
    const va = openCifar10(dir, { split: 'val5k' });
    assert.equal(tr.size, 500);
    assert.equal(va.size, 5000);
    assert.equal(idOf((await va.get(0)).image), 500); // the last 5,000
    const trS = openCifar10(dir, { split: 'train45k', valSplit: { seed: 3 } });
    const vaS = openCifar10(dir, { split: 'val5k', valSplit: { seed: 3 } });
    const ids = new Set<number>();
    for (const d of [trS, vaS]) for (let i = 0; i < d.size; i++) ids.add(idOf((await d.get(i)).image));
    assert.equal(ids.size, 5500); // disjoint and complete
    assert.notEqual(idOf((await vaS.get(0)).image), 500);
    // a worker re-opens the same data from the spec
    const again = openDataset(vaS.spec!());
    assert.deepEqual((await again.get(17)).image, (await vaS.get(17)).image);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bundled Fashion-MNIST: 10,000 + 2,000 images, balanced', async () => {
  const train = openFashionMnist('train');
  const test = openFashionMnist('test');
  assert.equal(train.size, 10000);
  assert.equal(test.size, 2000);
  assert.deepEqual([train.channels, train.height, train.width], [1, 28, 28]);
  assert.deepEqual(train.classes, FASHION_MNIST_CLASSES);
  const counts = new Array(10).fill(0);
  for (const l of train.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(1000));
  assert.ok(train.get(0).image.some((v) => v > 0));
});

test('findFashionMnist: the full set from a directory', () => {
  const found = findFashionMnist();
  if (existsSync(DEBIAN_FASHION_MNIST_DIR)) {
    assert.equal(found, DEBIAN_FASHION_MNIST_DIR);
    assert.equal(openFashionMnist('test', found!).size, 10000);
  }
  const empty = mkdtempSync(join(tmpdir(), 'fm-'));
  try {
    assert.throws(() => openFashionMnist('train', empty), /Fashion-MNIST train files not found in .*train-images-idx3-ubyte\[\.gz\]/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('image folder: sorted classes, RGB CHW decoding of PNG and JPEG, variable sizes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'imgf-'));
  try {
    mkdirSync(join(root, 'zebra'));
    mkdirSync(join(root, 'ant'));
    // 2×3 RGB PNG: pixel (y, x) = (10y + x, 100, 200)
    const hwc = new Uint8Array(2 * 3 * 3);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) hwc.set([10 * y + x, 100, 200], (y * 3 + x) * 3);
    await sharp(hwc, { raw: { width: 3, height: 2, channels: 3 } }).png().toFile(join(root, 'zebra', 'b.png'));
    // gray PNG with alpha and a JPEG
    await sharp(new Uint8Array(4 * 5 * 2).fill(77), { raw: { width: 5, height: 4, channels: 2 } }).png().toFile(join(root, 'ant', 'g.PNG'));
    await sharp(new Uint8Array(8 * 8 * 3).fill(128), { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toFile(join(root, 'zebra', 'a.jpg'));
    writeFileSync(join(root, 'zebra', 'notes.txt'), 'ignored');
    const ds = new ImageFolderDataset(root);
    assert.deepEqual(ds.classes, ['ant', 'zebra']);
    assert.equal(ds.size, 3);
    assert.equal(ds.height, null);
    const g = await ds.get(0);
    assert.deepEqual([g.label, g.height, g.width, g.image.length], [0, 4, 5, 3 * 20]);
    assert.ok(g.image.every((v) => v === 77));
    const j = await ds.get(1);
    assert.deepEqual([j.label, j.height, j.width], [1, 8, 8]);
    const p = await ds.get(2);
    assert.deepEqual([p.label, p.height, p.width], [1, 2, 3]);
    assert.deepEqual(Array.from(p.image), [0, 1, 2, 10, 11, 12, 100, 100, 100, 100, 100, 100, 200, 200, 200, 200, 200, 200]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
