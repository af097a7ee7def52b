import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/data/rng.js';
import { ArrayDataset } from '../src/data/dataset.js';
import {
  applyTransform, padCropFlip, cifarTrainTransform, cifarTestTransform, imagenetTrainTransform, imagenetTestTransform,
  tenCrop, multiScaleViews, replicateChannels, type View,
} from '../src/data/transforms.js';
import { resizeCrop, resizeShorterSide } from '../src/data/resize.js';
import { computeMeanImage, computeChannelStats } from '../src/data/stats.js';
import { toInterleaved, toPlanar } from '../src/data/pixel-layout.js';

const NONE = { kind: 'none' } as const;

/** n random images [n, c, h, w]. */
function randomImages(n: number, c: number, h: number, w: number, seed = 1) {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n * c * h * w }, () => r.int(256));
}
function sample(c: number, h: number, w: number, seed = 1) {
  return { image: randomImages(1, c, h, w, seed), label: 0, height: h, width: w };
}
/** The view mirrored left-right. */
function mirror(v: View): Float32Array {
  const out = new Float32Array(v.data.length);
  for (let r = 0; r < v.channels * v.height; r++) {
    for (let x = 0; x < v.width; x++) out[r * v.width + x] = v.data[r * v.width + v.width - 1 - x];
  }
  return out;
}

test('transforms are deterministic for an Rng state', () => {
  const s = sample(3, 32, 32);
  for (const spec of [cifarTrainTransform(NONE), imagenetTrainTransform(NONE)]) {
    const big = spec.kind === 'imagenetTrain' ? sample(3, 260, 300) : s;
    const a = applyTransform(spec, big, Rng.derive(4, 1, 2));
    const b = applyTransform(spec, big, Rng.derive(4, 1, 2));
    assert.deepEqual(a.data, b.data);
    const others = [5, 6, 7, 8].map((seed) => applyTransform(spec, big, Rng.derive(seed, 1, 2)).data);
    assert.ok(others.some((o) => o.some((v, i) => v !== a.data[i])));
  }
});

test('CIFAR crop: offsets within ±4, every offset reached, flips about half, pixels scaled to [0,1]', () => {
  const s = sample(1, 10, 10); // small, so that 1,500 trials reach all 81 offsets
  const rng = new Rng(9);
  const seen = new Set<string>();
  let flips = 0;
  const trials = 1500;
  for (let t = 0; t < trials; t++) {
    const out = applyTransform(cifarTrainTransform(NONE), s, rng).data;
    const matches: string[] = [];
    for (let dy = 0; dy <= 8; dy++) {
      for (let dx = 0; dx <= 8; dx++) {
        for (const flip of [false, true]) {
          const ref = padCropFlip(s.image, 1, 10, 10, 4, dy, dx, flip).data;
          if (ref.every((v, i) => v === out[i])) matches.push(`${dy},${dx},${flip}`);
        }
      }
    }
    assert.equal(matches.length, 1, 'the output is exactly one padded crop');
    const [dy, dx, flip] = matches[0].split(',');
    seen.add(`${dy},${dx}`);
    if (flip === 'true') flips++;
  }
  assert.equal(seen.size, 81);
  assert.ok(flips > trials * 0.4 && flips < trials * 0.6, `flips ${flips}/${trials}`);
});

test('padCropFlip: zero padding, shift direction, flip is a mirror', () => {
  const img = Uint8Array.from({ length: 16 }, (_, i) => i + 1); // [1, 4, 4]
  const plain = padCropFlip(img, 1, 4, 4, 0, 0, 0, false);
  assert.deepEqual(plain.data, Float32Array.from(img, (v) => v / 255));
  const flipped = padCropFlip(img, 1, 4, 4, 0, 0, 0, true);
  assert.deepEqual(flipped.data, mirror(plain));
  // window at (0, 0) of the image padded by 2: the content moves down-right by 2, zeros come in
  const shifted = padCropFlip(img, 1, 4, 4, 2, 0, 0, false);
  assert.deepEqual(Array.from(shifted.data.subarray(0, 8)), new Array(8).fill(0));
  assert.equal(shifted.data[2 * 4 + 2], Math.fround(1 / 255));
  assert.equal(shifted.data[3 * 4 + 3], Math.fround(6 / 255));
});

test('per-pixel mean subtraction gives zero mean over the set; channel norm gives mean 0, std 1', async () => {
  const ds = new ArrayDataset(randomImages(50, 3, 8, 8), new Uint8Array(50), 3, 8, 8, ['x']);
  const mean = await computeMeanImage(ds);
  assert.equal(mean.length, 3 * 8 * 8);
  const total = new Float64Array(mean.length);
  for (let i = 0; i < ds.size; i++) {
    const v = applyTransform(cifarTestTransform({ kind: 'meanImage', mean }), ds.get(i), new Rng(0));
    v.data.forEach((x, j) => (total[j] += x));
  }
  assert.ok(total.every((s) => Math.abs(s / ds.size) < 1e-6));

  const { mean: m, std } = await computeChannelStats(ds);
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let i = 0; i < ds.size; i++) {
    const v = applyTransform(cifarTestTransform({ kind: 'channel', mean: m, std }), ds.get(i), new Rng(0));
    for (const x of v.data.subarray(0, 64)) { sum += x; sum2 += x * x; n++; }
  }
  assert.ok(Math.abs(sum / n) < 1e-5 && Math.abs(sum2 / n - 1) < 1e-4);
});

test('resize: shorter side rule, bilinear identity at scale 1, constant stays constant', () => {
  assert.deepEqual(resizeShorterSide(375, 500, 256), { height: 256, width: 341 });
  assert.deepEqual(resizeShorterSide(500, 375, 480), { height: 640, width: 480 });
  const s = sample(3, 5, 7);
  const same = resizeCrop(s.image, 3, 5, 7, 5, 7, { top: 0, left: 0, height: 5, width: 7 });
  assert.ok(same.every((v, i) => Math.abs(v - s.image[i] / 255) < 1e-6));
  const flat = new Uint8Array(3 * 30 * 40).fill(51);
  const out = resizeCrop(flat, 3, 30, 40, 100, 133, { top: 10, left: 20, height: 50, width: 60 });
  assert.ok(out.every((v) => Math.abs(v - 0.2) < 1e-6));
});

test('ImageNet train: 224 crops, random scale in [256, 480], lighting shifts each channel by a constant', () => {
  const flat = { image: new Uint8Array(3 * 300 * 400).fill(128), label: 0, height: 300, width: 400 };
  const rng = new Rng(2);
  const shifts: number[][] = [];
  for (let t = 0; t < 200; t++) {
    const v = applyTransform(imagenetTrainTransform(NONE), flat, rng);
    assert.deepEqual([v.channels, v.height, v.width], [3, 224, 224]);
    const hw = 224 * 224;
    const shift = [0, 1, 2].map((c) => v.data[c * hw] - 128 / 255);
    for (let c = 0; c < 3; c++) assert.ok(v.data.subarray(c * hw, (c + 1) * hw).every((x) => Math.abs(x - v.data[c * hw]) < 1e-6));
    shifts.push(shift);
  }
  // The first principal component dominates: std of the red shift ≈ 0.1·0.2175·0.5675 ≈ 0.0123
  const red = shifts.map((s) => s[0]);
  const sd = Math.sqrt(red.reduce((a, x) => a + x * x, 0) / red.length);
  assert.ok(sd > 0.008 && sd < 0.017, `red shift std ${sd}`);
  // no lighting: scale draws are still in range (the crop fits any shorter side ≥ 224)
  const noLight = { ...imagenetTrainTransform(NONE), lightingStd: 0 };
  const v = applyTransform(noLight, flat, rng);
  assert.ok(v.data.every((x) => Math.abs(x - 128 / 255) < 1e-6));
});

test('ImageNet test views: centre crop, 10-crop with mirrored halves, multi-scale full images', () => {
  const s = sample(3, 300, 400, 3);
  const center = applyTransform(imagenetTestTransform(NONE), s, new Rng(0));
  assert.deepEqual([center.height, center.width], [224, 224]);
  const ten = tenCrop(s, NONE);
  const n = 3 * 224 * 224;
  assert.equal(ten.length, 10 * n);
  assert.deepEqual(ten.subarray(4 * n, 5 * n), center.data); // view 4 is the centre crop
  // torchvision's TenCrop crops the mirrored image: its top-left is the mirror of the top-right, …
  const view = (k: number) => ({ data: ten.slice(k * n, (k + 1) * n), channels: 3, height: 224, width: 224 });
  [1, 0, 3, 2].forEach((k, i) => assert.deepEqual(ten.subarray((5 + i) * n, (6 + i) * n), mirror(view(k))));
  // … and its centre is at round(58.5) = 58 from the left of the mirrored 256×341 image, 59 from the right
  assert.deepEqual(ten.subarray(9 * n), resizeCrop(s.image, 3, 300, 400, 256, 341, { top: 16, left: 341 - 224 - 58, height: 224, width: 224 }, true));
  assert.notDeepEqual(ten.subarray(9 * n), mirror(view(4)));
  const views = multiScaleViews(s, { kind: 'meanImage', mean: new Float32Array(n).fill(0.5) }, undefined, true);
  assert.equal(views.length, 10);
  assert.deepEqual(views.filter((_, i) => i % 2 === 0).map((v) => Math.min(v.height, v.width)), [224, 256, 384, 480, 640]);
  assert.deepEqual([views[2].height, views[2].width], [256, 341]);
});

test('grayscale: replicate to 3 channels only when asked', () => {
  const g = sample(1, 28, 28);
  const one = applyTransform(cifarTestTransform(NONE), g, new Rng(0));
  assert.equal(one.channels, 1);
  const three = applyTransform({ ...cifarTestTransform(NONE), replicateTo: 3 }, g, new Rng(0));
  assert.equal(three.channels, 3);
  assert.deepEqual(three.data.subarray(2 * 784), one.data);
  assert.deepEqual(replicateChannels(one, 3).data, three.data);
});

test('pixel layouts: interleaved [h, w, c] to planar [c, h, w] and back; RGBA read as RGB', () => {
  // 2 pixels of RGB: (1, 2, 3) and (4, 5, 6).
  assert.deepEqual(Array.from(toPlanar([1, 2, 3, 4, 5, 6], 2, 3)), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(Array.from(toPlanar([1, 2, 3, 255, 4, 5, 6, 255], 2, 3, 4)), [1, 4, 2, 5, 3, 6], 'alpha dropped');
  assert.deepEqual(Array.from(toInterleaved(Uint8Array.from([1, 4, 2, 5, 3, 6]), 2, 3)), [1, 2, 3, 4, 5, 6]);
  const planar = randomImages(1, 3, 5, 7);
  assert.deepEqual(toPlanar(toInterleaved(planar, 35, 3), 35, 3), planar);
  assert.throws(() => toInterleaved(planar, 35, 1), /not 1 planes of 35 pixels/);
  assert.throws(() => toPlanar([1, 2, 3], 2, 3), /fewer than 2 pixels/);
});
