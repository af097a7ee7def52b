// One test view for eval and predict, equal to torchvision's on a PIL image (fixtures:
// tools/make_interop_fixtures.py with Pillow and torchvision).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { decodeImage } from '../src/data/decode.js';
import { ImageFolderDataset } from '../src/data/image-folder.js';
import { centerWindow, resizeBytes, resizeShorterSide, roundHalfToEven } from '../src/data/resize.js';
import { IMAGENET_NORMALIZATION, type View } from '../src/data/transforms.js';
import { viewsOf } from '../src/eval/evaluate.js';
import { encodeMeanImage, inputView, normalizationMetadata } from '../src/eval/metadata.js';
import { imageInput } from '../src/eval/predict.js';
import { readNpy } from '../src/io/npy.js';
import { FIXTURES } from './helpers.js';

const DIR = join(FIXTURES, 'interop');
const PHOTO = join(DIR, 'photo.jpg');
const IMAGENET_VIEW = { resize: 256, crop: 224, norm: IMAGENET_NORMALIZATION };

function readNpyGz(name: string) {
  return readNpy(new Uint8Array(gunzipSync(readFileSync(join(DIR, name)))), name);
}

/** [h, w, 3] interleaved bytes → [3, h, w]. */
function planar(hwc: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(3 * h * w);
  for (let p = 0; p < h * w; p++) for (let c = 0; c < 3; c++) out[c * h * w + p] = hwc[3 * p + c]!;
  return out;
}

/** PIL's decode of photo.jpg, as a sample [3, h, w]. */
function pilPhoto() {
  const a = readNpyGz('photo_pil_rgb.npy.gz');
  assert.equal(a.dtype, '|u1');
  const [height, width] = [a.shape[0]!, a.shape[1]!];
  return { image: planar(a.data as Uint8Array, height, width), height, width, label: 0 };
}

/** Number of elements that differ at all, and the largest difference. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { differing: number; maxAbs: number } {
  assert.equal(a.length, b.length);
  let differing = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d !== 0) differing++;
    maxAbs = Math.max(maxAbs, d);
  }
  return { differing, maxAbs };
}

test('the resize equals PIL BILINEAR byte for byte (down, up, mixed, strong and mild factors), whole or windowed', () => {
  const fixture = JSON.parse(readFileSync(join(DIR, 'resize_cases.json'), 'utf8')) as {
    cases: { height: number; width: number; rgb: string; resized: { height: number; width: number; rgb: string }[] }[];
  };
  let checked = 0;
  for (const c of fixture.cases) {
    const image = planar(new Uint8Array(Buffer.from(c.rgb, 'base64')), c.height, c.width);
    for (const r of c.resized) {
      const expected = planar(new Uint8Array(Buffer.from(r.rgb, 'base64')), r.height, r.width);
      const whole = resizeBytes(image, 3, c.height, c.width, r.height, r.width, { top: 0, left: 0, height: r.height, width: r.width });
      assert.equal(compare(whole, expected).differing, 0, `${c.height}×${c.width} → ${r.height}×${r.width}`);
      // The lower-right window alone (only its rows and columns are computed) is the same bytes.
      const win = { top: r.height >> 1, left: r.width >> 1, height: r.height - (r.height >> 1), width: r.width - (r.width >> 1) };
      const part = resizeBytes(image, 3, c.height, c.width, r.height, r.width, win);
      for (let ch = 0; ch < 3; ch++) {
        for (let y = 0; y < win.height; y++) {
          for (let x = 0; x < win.width; x++) {
            assert.equal(part[(ch * win.height + y) * win.width + x], expected[(ch * r.height + win.top + y) * r.width + win.left + x]);
          }
        }
      }
      checked++;
    }
  }
  assert.equal(checked, 14);
});

test('the photo gives the same tensor through eval’s path, predict’s path and torchvision', async () => {
  const expected = readNpyGz('photo_torchvision.npy.gz');
  assert.deepEqual(expected.shape, [3, 224, 224]);
  // eval: an image folder holding the photo, its single test view
  const root = mkdtempSync(join(tmpdir(), 'resnet-view-'));
  mkdirSync(join(root, 'rocket'));
  copyFileSync(PHOTO, join(root, 'rocket', 'photo.jpg'));
  const folder = new ImageFolderDataset(root);
  const [evalView] = viewsOf(await folder.get(0), 'center', { norm: IMAGENET_VIEW.norm, resize: 256, cropSize: 224 }, false);
  // predict: the photo file
  const predictView = await imageInput(PHOTO, IMAGENET_VIEW);
  assert.deepEqual([predictView.channels, predictView.height, predictView.width], [3, 224, 224]);
  assert.deepEqual(evalView!.data, predictView.data);
  // torchvision on PIL's decode of the photo; and our view of PIL's decode
  assert.deepEqual(compare(predictView.data, expected.data as Float32Array), { differing: 0, maxAbs: 0 });
  const [fromPil] = viewsOf(pilPhoto(), 'center', { norm: IMAGENET_VIEW.norm, resize: 256, cropSize: 224 }, false);
  assert.deepEqual(fromPil!.data, predictView.data);
});

test('10-crop and multi-scale views of the photo are torchvision’s TenCrop and Resize views, byte for byte', async () => {
  const expected = JSON.parse(readFileSync(join(DIR, 'photo_views.json'), 'utf8')) as {
    tenCrop: { views: { height: number; width: number; sha256: string }[] };
    multiScale: { views: { side: number; height: number; width: number; sha256: string }[] };
  };
  /** A view's bytes as torchvision holds them before ToTensor ([h, w, 3] uint8), and their sha256. */
  const digest = (v: View) => {
    const hw = v.height * v.width;
    const bytes = new Uint8Array(3 * hw);
    for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) bytes[3 * p + c] = Math.round(v.data[c * hw + p]! * 255);
    return { height: v.height, width: v.width, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  const photo = await decodeImage(PHOTO);
  const sample = { ...photo, label: 0 };
  const none = { kind: 'none' } as const;
  const ten = viewsOf(sample, '10crop', { norm: none, resize: 256, cropSize: 224 }, false);
  assert.deepEqual(ten.map(digest), expected.tenCrop.views);
  const sides = expected.multiScale.views.map((v) => v.side);
  const multi = viewsOf(sample, 'multiscale', { norm: none, sides }, false);
  assert.deepEqual(multi.map(digest), expected.multiScale.views.map(({ side, ...v }) => (void side, v)));
});

test('the decode of the JPEG is within a few levels of PIL’s, ICC profile ignored', async () => {
  // sharp's libvips uses mozjpeg, Debian's PIL libjpeg-turbo: both descend from libjpeg with the same
  // default (islow) IDCT and fancy chroma upsampling, and on this photo with sharp 0.35.5 the bytes are
  // identical. Other builds may use other IDCT/upsampling code, which JPEG allows to differ by a level
  // or so, so the bound is: no byte more than 3 levels off, and under 1% of bytes off at all.
  // The photo embeds an Adobe RGB ICC profile that must be ignored, as PIL ignores it: converting it
  // to sRGB moves bytes by up to 55 levels here.
  const pil = pilPhoto();
  const ours = await decodeImage(PHOTO);
  assert.deepEqual([ours.height, ours.width], [pil.height, pil.width]);
  const { differing, maxAbs } = compare(ours.image, pil.image);
  assert.ok(maxAbs <= 3, `max difference ${maxAbs} levels`);
  assert.ok(differing / pil.image.length < 0.01, `${differing} of ${pil.image.length} bytes differ`);
});

test('torchvision’s size and offset rules: truncation for the long side, round half to even, zero padding', () => {
  assert.deepEqual(resizeShorterSide(427, 640, 256), { height: 256, width: 383 }); // 256·640/427 = 383.7
  assert.deepEqual(resizeShorterSide(640, 427, 256), { height: 383, width: 256 });
  assert.deepEqual(resizeShorterSide(375, 500, 256), { height: 256, width: 341 });
  assert.deepEqual(resizeShorterSide(300, 300, 256), { height: 256, width: 256 });
  assert.equal(roundHalfToEven(79.5), 80);
  assert.equal(roundHalfToEven(80.5), 80);
  assert.equal(roundHalfToEven(0.5), 0);
  assert.equal(roundHalfToEven(2.4), 2);
  assert.deepEqual(centerWindow(256, 383, 224), { top: 16, left: 80, height: 224, width: 224 }); // round(79.5) = 80
  assert.deepEqual(centerWindow(256, 381, 224), { top: 16, left: 78, height: 224, width: 224 }); // round(78.5) = 78
  // smaller than the crop: zeros, 1 before and 2 after a 2-pixel row in a crop of 5
  const win = centerWindow(1, 2, 5);
  assert.deepEqual([win.top, win.left], [-2, -1]);
  const padded = resizeBytes(new Uint8Array([9, 7]), 1, 1, 2, 1, 2, win);
  assert.deepEqual(Array.from(padded.subarray(2 * 5, 3 * 5)), [0, 9, 7, 0, 0]);
});

test('the test view a weights file implies: recorded, torchvision’s for ImageNet nets, or guessed', () => {
  // imported ImageNet weights record the normalization; the view is torchvision's
  const imported = inputView(normalizationMetadata(IMAGENET_NORMALIZATION), 'imagenet');
  assert.deepEqual(imported, { view: IMAGENET_VIEW, guessed: false });
  assert.deepEqual(inputView({}, 'imagenet'), { view: IMAGENET_VIEW, guessed: false });
  // trained on 32×32 images with a mean image: the view is the image size, the mean image exact
  const mean = new Float32Array(3 * 32 * 32).fill(0.5);
  const data = { name: 'cifar10', dir: '/d', classes: [], channels: 3, height: 32, width: 32, testResize: null, testCrop: null, validation: { count: 0 } };
  const trained = inputView({ ...normalizationMetadata(encodeMeanImage(mean, [3, 32, 32])), data: JSON.stringify(data) }, 'cifar');
  assert.deepEqual([trained.view.resize, trained.view.crop, trained.view.norm.kind, trained.guessed], [32, 32, 'meanImage', false]);
  // trained on an image folder: its test view
  const folder = { ...data, height: null, width: null, testResize: 144, testCrop: 128 };
  const fromFolder = inputView({ ...normalizationMetadata({ kind: 'none' }), data: JSON.stringify(folder) }, 'cifar');
  assert.deepEqual([fromFolder.view.resize, fromFolder.view.crop], [144, 128]);
  // a CIFAR net with nothing recorded
  assert.deepEqual(inputView({}, 'cifar'), { view: { resize: 32, crop: 32, norm: { kind: 'none' } }, guessed: true });
  assert.throws(() => inputView({ normalization: '{"kind"' }, 'cifar', 'w.safetensors'), /w\.safetensors: metadata 'normalization' is not valid JSON/);
});
