// Your own images through the command line (issue 13): a folder of generated images of mixed sizes
// (JPEG and PNG, three classes, train/ and val/) goes through `resnet train` → `resnet eval` →
// `resnet predict` as a user runs them (child processes, reference kernels, a tiny ResNet-20), with
// the class names in every output; and the demo's kind of model (one channel, 28×28 Fashion-MNIST)
// classifies a PNG.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { CACHE_FOLDER } from '../src/data/image-cache.js';
import { readWeights } from '../src/models/weights.js';
import { FOLDER_CLASSES, writeImageFolder } from './image-folder-fixture.js';
import { runResnet } from './run-resnet.js';

/** Longest one command may take on a loaded 2-core machine: a hung command fails, it does not hang the suite. */
const CHILD_LIMIT_MS = 120_000;

const resnet = (args: string[]) => runResnet(args, CHILD_LIMIT_MS);

const root = mkdtempSync(join(tmpdir(), 'resnet-own-images-'));
const folder = join(root, 'pets');
const run = join(root, 'run');
const weights = join(run, 'model.safetensors');
const TRAIN = ['train', '--net', 'resnet20', '--width', '4', '--data', `folder:${folder}`, '--batch-size', '8', '--iterations', '6',
  '--backend', 'ref', '--out', run, '--progress', 'lines'];
let valImages: string[] = [];

describe('train, evaluate and predict on an image folder', () => {
  before(async () => {
    await writeImageFolder(join(folder, 'train'), 8, { minSide: 12, maxSide: 40 });
    valImages = await writeImageFolder(join(folder, 'val'), 3, { minSide: 12, maxSide: 40, seed: 7 });
  });

  it('resnet train decodes the folder once, fits the recipe to the image size and records the class names', () => {
    const r = resnet(TRAIN);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /decoding 24 images of .*train once/);
    assert.match(r.stderr, /cifar-paper: batch 8/, 'small images: the CIFAR recipe');
    assert.ok(existsSync(join(folder, CACHE_FOLDER)));
    const meta = readWeights(weights).metadata;
    assert.deepEqual(JSON.parse(meta.labels!), FOLDER_CLASSES);
    const data = JSON.parse(meta.data!) as { imageSize: number; geometry: { kind: string; side: number }; height: number };
    assert.equal(data.geometry.kind, 'square');
    assert.equal(data.height, data.imageSize);
    // The same command again (with --overwrite) reads the cache: nothing is decoded.
    const again = resnet([...TRAIN, '--overwrite']);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /decoding/);
  });

  it('resnet eval needs only the weights, names the classes, and warns only where a view does not suit the training', () => {
    const r = resnet(['eval', '--weights', weights, '--backend', 'ref']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1-crop, 9 images/);
    assert.match(r.stdout, /error per class: cat [\d.]+%, dog [\d.]+%, fox [\d.]+%/);
    const tenCrop = resnet(['eval', '--weights', weights, '--backend', 'ref', '--crop', '10crop']);
    assert.equal(tenCrop.code, 0, tenCrop.stderr);
    assert.doesNotMatch(tenCrop.stderr, /trained without/, 'trained with crops and flips: no warning');
    const multi = resnet(['eval', '--weights', weights, '--backend', 'ref', '--crop', 'multiscale']);
    assert.equal(multi.code, 0, multi.stderr);
    assert.match(multi.stderr, /trained at one scale/);
  });

  it('resnet predict prints the class names from the weights, or from --labels', () => {
    const r = resnet(['predict', '--weights', weights, '--backend', 'ref', valImages[0]!, valImages[8]!]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual([lines[0], lines[4]], [valImages[0], valImages[8]]);
    for (const line of [...lines.slice(1, 4), ...lines.slice(5, 8)]) assert.match(line, /%\s+\d\s+(cat|dog|fox)$/);
    assert.doesNotMatch(r.stdout, /class \d/);
    const labels = join(root, 'labels.txt');
    writeFileSync(labels, 'tabby\nbeagle\nred fox\n');
    const named = resnet(['predict', '--weights', weights, '--backend', 'ref', '--labels', labels, '--top', '1', valImages[0]!]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /\d\s+(tabby|beagle|red fox)$/m);
  });

  it('--recipe imagenet-paper on small images scales its views to the image size (no 224 upscaling)', () => {
    const out = join(root, 'imagenet-recipe');
    const r = resnet([...TRAIN.slice(0, TRAIN.indexOf('--out')), '--out', out, '--recipe', 'imagenet-paper', '--iterations', '2', '--image-size', '16', '--no-test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /decoding 24 images/, 'another geometry: another cache');
    const data = JSON.parse(readWeights(join(out, 'model.safetensors')).metadata.data!) as Record<string, unknown>;
    assert.deepEqual([data.imageSize, data.geometry, data.testResize, data.testCrop], [16, { kind: 'shorterSide', side: 18 }, 18, 16]);
  });

  it('the library checks --image-size and the flags against the recipe it chose; the command reports its error as a usage error', () => {
    const small = resnet([...TRAIN.slice(0, TRAIN.indexOf('--out')), '--out', join(root, 'bad'), '--image-size', '5']);
    assert.equal(small.code, 2, small.stderr);
    assert.match(small.stderr, /image size \(--image-size\) 5: give a whole number of pixels from 8 to 4096/);
    const lighting = resnet([...TRAIN.slice(0, TRAIN.indexOf('--out')), '--out', join(root, 'bad'), '--lighting', '0.2']);
    assert.equal(lighting.code, 2, lighting.stderr);
    assert.match(lighting.stderr, /--lighting applies to the imagenet-paper scale augmentation only/, 'small images: cifar-paper, which has no lighting');
  });

  it("a one-channel 28×28 model (the demo's kind) classifies a colour PNG, in grayscale", async () => {
    const demo = join(root, 'demo');
    const t = resnet(['train', '--net', 'resnet20', '--width', '4', '--data', 'fashion-mnist-sample', '--batch-size', '8', '--iterations', '2',
      '--backend', 'ref', '--no-test', '--out', demo, '--progress', 'none']);
    assert.equal(t.code, 0, t.stderr);
    const photo = join(root, 'shirt.png');
    await sharp({ create: { width: 50, height: 40, channels: 3, background: '#c08040' } }).png().toFile(photo);
    const r = resnet(['predict', '--weights', join(demo, 'model.safetensors'), '--backend', 'ref', '--top', '3', photo]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    const fashion = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    for (const line of lines.slice(1)) assert.ok(fashion.some((c) => line.endsWith(` ${c}`)), `'${line}' names no Fashion-MNIST class`);
  });
});
