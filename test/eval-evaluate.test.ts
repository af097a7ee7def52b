// Testing: top-1/top-5 error counted right for every view mode, the 10 views of a small image, the
// multi-scale side lists, the mean image travelling in weights metadata, the warning about views a
// network was not trained for, and the evaluation batch that fits memory.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ArrayDataset } from '../src/data/dataset.js';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { createNet } from '../src/models/resnet.js';
import { CROP_MODES, evalBatchFor, evaluate, scaledSides, viewWarning, viewsOf } from '../src/eval/evaluate.js';
import { estimateMemory } from '../src/models/memory.js';
import { decodeNormalization, encodeMeanImage, readTrainedMetadata } from '../src/eval/metadata.js';
import { Rng } from '../src/tensor/random.js';

const kernels = refKernels as KernelSet;

function randomSet(n: number, c: number, h: number, w: number, classes: number, seed: number): ArrayDataset {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: n * c * h * w }, () => rng.int(256));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % classes);
  return new ArrayDataset(images, labels, c, h, w, Array.from({ length: classes }, (_, i) => `class${i}`));
}

/** A network whose scores ignore the image: fc weights 0, bias ranks class 0 first, then 1, 2, … */
function rankingNet(classes: number, inChannels = 1) {
  const net = createNet('resnet20', { width: 4, classes, inChannels, kernels, seed: 1 });
  net.fc.weight.set(new Float32Array(net.fc.weight.size));
  net.fc.bias!.set(Float32Array.from({ length: classes }, (_, j) => -j));
  return net;
}

describe('evaluate', () => {
  const set = randomSet(30, 1, 8, 8, 10, 1); // labels 0..9, three of each
  const net = rankingNet(10);
  const bias = Array.from({ length: 10 }, (_, j) => -j);
  const logZ = Math.log(bias.reduce((s, b) => s + Math.exp(b), 0));

  for (const crop of CROP_MODES) {
    it(`${crop}: top-1 and top-5 error, loss and per-class error of known scores`, async () => {
      const r = await evaluate(net, set, { kernels, norm: { kind: 'none' }, crop, batchSize: 12 });
      assert.equal(r.images, 30);
      assert.equal(r.top1Error, 27 / 30); // only label 0 is first
      assert.equal(r.top5Error, 15 / 30); // labels 0..4 are in the top five
      const expectedLoss = bias.reduce((s, b) => s + (logZ - b), 0) / 10;
      assert.ok(Math.abs(r.loss - expectedLoss) < 1e-4, `${r.loss} vs ${expectedLoss}`);
      assert.deepEqual(r.perClassError, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      assert.equal(net.training, true, 'evaluate puts the net back in the mode it found it');
    });
  }

  it('top-5 error is null with fewer than five classes; --limit counts images', async () => {
    const small = randomSet(9, 1, 8, 8, 3, 2);
    const r = await evaluate(rankingNet(3), small, { kernels, norm: { kind: 'none' }, limit: 6 });
    assert.equal(r.top5Error, null);
    assert.equal(r.images, 6);
    assert.equal(r.top1Error, 4 / 6);
  });

  it('a trained-looking net: 1-crop error equals the arg-max of a plain forward pass', async () => {
    const n = createNet('resnet20', { width: 4, classes: 10, inChannels: 1, kernels, seed: 7 }).eval();
    const r = await evaluate(n, set, { kernels, norm: { kind: 'none' }, batchSize: 7 });
    const { noGrad } = await import('../src/autograd/tape.js');
    const { fromArray } = await import('../src/tensor/tensor.js');
    const x = Float32Array.from(set.images, (v) => v / 255);
    const logits = noGrad(() => n.forward(fromArray(x, [30, 1, 8, 8], { kernels }))).toArray();
    let wrong = 0;
    for (let i = 0; i < 30; i++) {
      const row = Array.from(logits).slice(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) !== set.labels[i]) wrong++;
    }
    assert.equal(r.top1Error, wrong / 30);
  });
});

describe('test views', () => {
  const set = randomSet(1, 1, 6, 6, 2, 3);
  const sample = set.get(0);
  const norm = { kind: 'meanImage' as const, mean: new Float32Array(36).fill(0.25) };

  it('10 views of a small image: corners and center of the padded image, then their mirrors', () => {
    const views = viewsOf(sample, '10crop', { norm, pad: 2 }, true);
    assert.equal(views.length, 10);
    const px = (v: number, y: number, x: number) => views[v].data[y * 6 + x];
    const img = (y: number, x: number) => Math.fround(sample.image[y * 6 + x] / 255) - 0.25; // float32, as the views
    // center view = the image itself
    for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) assert.equal(px(4, y, x), Math.fround(img(y, x)));
    // top-left view: shifted down-right by the padding, zeros (black) in the padding
    assert.equal(px(0, 0, 0), -0.25);
    assert.equal(px(0, 2, 2), Math.fround(img(0, 0)));
    // bottom-right view: shifted up-left
    assert.equal(px(3, 0, 0), Math.fround(img(2, 2)));
    // view 5 mirrors view 0
    for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) assert.equal(px(5, y, x), px(0, y, 5 - x));
  });

  it("multi-scale sides: the paper's for large images, scaled by side/224 for small ones", () => {
    assert.deepEqual(scaledSides(null), [224, 256, 384, 480, 640]);
    assert.deepEqual(scaledSides(32), [32, 37, 55, 69, 91]);
    assert.deepEqual(scaledSides(28), [28, 32, 48, 60, 80]);
    const views = viewsOf(sample, 'multiscale', { norm, sides: [6, 12] }, true);
    assert.deepEqual(views.map((v) => [v.height, v.width]), [[6, 6], [12, 12]]);
  });
});

describe('weights metadata', () => {
  it('the mean image survives the trip through metadata bit for bit', () => {
    const mean = Float32Array.from({ length: 12 }, (_, i) => Math.fround(i / 7 - 0.3));
    const stored = encodeMeanImage(mean, [3, 2, 2]);
    const meta = readTrainedMetadata({ normalization: JSON.stringify(stored) });
    assert.deepEqual(meta.normalization, { kind: 'meanImage', mean });
    assert.throws(() => decodeNormalization({ ...stored, shape: [3, 2, 3] } as typeof stored), /mean image has 12 values/);
    assert.equal(readTrainedMetadata({}).normalization, null);
  });
});

describe('views and memory of resnet eval', () => {
  it('10-crop on a net trained without crops or flips, and multi-scale without scale augmentation, are warned about', () => {
    assert.match(viewWarning({ kind: 'none' }, '10crop')!, /without crop or flip augmentation/);
    assert.match(viewWarning({ kind: 'none' }, 'multiscale')!, /one scale/);
    assert.match(viewWarning({ kind: 'padCropFlip', flip: true }, 'multiscale')!, /one scale/);
    assert.equal(viewWarning({ kind: 'padCropFlip', flip: true }, '10crop'), null);
    assert.equal(viewWarning({ kind: 'scale', flip: true }, 'multiscale'), null);
    assert.equal(viewWarning({ kind: 'none' }, 'center'), null);
    assert.equal(viewWarning(null, '10crop'), null, 'weights that record no recipe: nothing to say');
  });

  it('the default batch shrinks to what the memory estimate allows, and is null when one view does not fit', () => {
    const view = { height: 224, width: 224 };
    const options = { width: 16, classes: 10 };
    const unbounded = evalBatchFor('resnet18', options, '10crop', view, 128, Infinity, false);
    assert.equal(unbounded, 128);
    const one = estimateMemory('resnet18', options, { batch: 1, ...view }, 'eval').totalBytes;
    const ten = estimateMemory('resnet18', options, { batch: 10, ...view }, 'eval').totalBytes;
    const fitted = evalBatchFor('resnet18', options, '10crop', view, 128, ten, false)!;
    assert.ok(fitted >= 10 && fitted < 128, `batch ${fitted}`);
    assert.ok(estimateMemory('resnet18', options, { batch: fitted, ...view }, 'eval').totalBytes <= ten);
    assert.equal(evalBatchFor('resnet18', options, 'center', view, 128, one - 1, false), null);
    // Multi-scale on fixed-size images passes a fifth of the batch at each size.
    assert.equal(evalBatchFor('resnet18', options, 'multiscale', view, 128, ten, true)! % 5, 0);
  });

  it('an out-of-memory error in evaluation says what to change', async () => {
    const net = rankingNet(10);
    net.forward = () => {
      throw new Error('wasm kernels: out of memory (4 GiB) allocating 123 bytes');
    };
    await assert.rejects(evaluate(net, randomSet(4, 1, 8, 8, 10, 2), { kernels, norm: { kind: 'none' }, crop: '10crop', batchSize: 20 }),
      /out of memory.*evaluating 20 views of 8×8 at once: lower batchSize, or test fewer or smaller views \(crop: 'center', or fewer sides\)$/);
  });
});
