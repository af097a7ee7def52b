// Image preprocessing against PIL 9.4 / torchvision 0.14 (fixtures: tools/make_interop_fixtures.py).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { pilResize } from '../src/data/pil-resize.js';
import {
  centerCrop, decodeRgb, IMAGENET_EVAL, preprocessForEval, preprocessingFromMetadata, preprocessingMetadata,
  resizedSize, roundHalfToEven,
} from '../src/data/preprocess.js';
import { readNpy } from '../src/io/npy.js';
import { FIXTURES } from './helpers.js';

const DIR = join(FIXTURES, 'interop');

function readNpyGz(name: string) {
  return readNpy(new Uint8Array(gunzipSync(readFileSync(join(DIR, name)))), name);
}

/** PIL's decode of photo.jpg: [h, w, 3] uint8. */
function pilPhoto() {
  const a = readNpyGz('photo_pil_rgb.npy.gz');
  assert.equal(a.dtype, '|u1');
  return { data: a.data as Uint8Array, height: a.shape[0]!, width: a.shape[1]! };
}

test('pilResize equals PIL BILINEAR on every case (down, up, mixed, strong and mild factors)', () => {
  const fixture = JSON.parse(readFileSync(join(DIR, 'resize_cases.json'), 'utf8')) as {
    cases: { height: number; width: number; rgb: string; resized: { height: number; width: number; rgb: string }[] }[];
  };
  let checked = 0;
  for (const c of fixture.cases) {
    const image = { data: new Uint8Array(Buffer.from(c.rgb, 'base64')), height: c.height, width: c.width };
    for (const r of c.resized) {
      const ours = pilResize(image, r.height, r.width);
      const expected = new Uint8Array(Buffer.from(r.rgb, 'base64'));
      let mismatches = 0;
      for (let i = 0; i < expected.length; i++) if (ours.data[i] !== expected[i]) mismatches++;
      assert.equal(mismatches, 0, `${c.height}×${c.width} → ${r.height}×${r.width}: ${mismatches} bytes differ`);
      checked++;
    }
  }
  assert.equal(checked, 14);
});

test('resize, crop and normalize of PIL’s pixels match torchvision within 1e-5', () => {
  const expected = readNpyGz('photo_torchvision.npy.gz');
  assert.deepEqual(expected.shape, [3, 224, 224]);
  const ours = preprocessForEval(pilPhoto(), IMAGENET_EVAL);
  let maxAbs = 0;
  for (let i = 0; i < ours.length; i++) maxAbs = Math.max(maxAbs, Math.abs(ours[i]! - (expected.data[i] as number)));
  assert.ok(maxAbs <= 1e-5, `max abs difference ${maxAbs}`);
});

test('sharp’s decode of the JPEG is within a few levels of PIL’s', async () => {
  // sharp's libvips uses mozjpeg, Debian's PIL libjpeg-turbo: both descend from libjpeg with the same
  // default (islow) IDCT and fancy chroma upsampling, and on this photo with sharp 0.35.5 the bytes are
  // identical. Other builds may use other IDCT/upsampling code, which JPEG allows to differ by a level
  // or so, so the bound is: no byte more than 3 levels off, and under 1% of bytes off at all.
  // The photo embeds an Adobe RGB ICC profile that must be ignored, as PIL ignores it: converting it
  // to sRGB (sharp's default) moves bytes by up to 55 levels here.
  const pil = pilPhoto();
  const ours = await decodeRgb(join(DIR, 'photo.jpg'));
  assert.equal(ours.height, pil.height);
  assert.equal(ours.width, pil.width);
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < pil.data.length; i++) {
    const d = Math.abs(ours.data[i]! - pil.data[i]!);
    maxDiff = Math.max(maxDiff, d);
    if (d > 0) differing++;
  }
  assert.ok(maxDiff <= 3, `max difference ${maxDiff} levels`);
  assert.ok(differing / pil.data.length < 0.01, `${differing} of ${pil.data.length} bytes differ`);

  // The whole pipeline from the file: within what those levels allow after normalization.
  const expected = readNpyGz('photo_torchvision.npy.gz').data as Float32Array;
  const fromFile = preprocessForEval(ours, IMAGENET_EVAL);
  let maxAbs = 0;
  for (let i = 0; i < fromFile.length; i++) maxAbs = Math.max(maxAbs, Math.abs(fromFile[i]! - expected[i]!));
  assert.ok(maxAbs <= maxDiff / 255 / Math.min(...IMAGENET_EVAL.std) + 1e-5, `max abs difference ${maxAbs}`);
});

test('torchvision’s size and offset rules: floor for the long side, round half to even for offsets', () => {
  assert.deepEqual(resizedSize(427, 640, 256), [256, 383]); // 256·640/427 = 383.7
  assert.deepEqual(resizedSize(640, 427, 256), [383, 256]);
  assert.deepEqual(resizedSize(300, 300, 256), [256, 256]);
  assert.equal(roundHalfToEven(79.5), 80);
  assert.equal(roundHalfToEven(80.5), 80);
  assert.equal(roundHalfToEven(0.5), 0);
  assert.equal(roundHalfToEven(2.4), 2);
  // 383 wide, crop 224: left = round(79.5) = 80
  const image = { data: new Uint8Array(256 * 383 * 3).map((_, i) => Math.floor(i / 3) % 383), height: 256, width: 383 };
  assert.equal(centerCrop(image, 224, 224).data[0], 80);
  // smaller than the crop: zero padding, 1 before and 2 after a 2-pixel gap of 3
  const tiny = { data: new Uint8Array([9, 9, 9, 7, 7, 7]), height: 1, width: 2 };
  const padded = centerCrop(tiny, 1, 5);
  assert.deepEqual(Array.from(padded.data), [0, 0, 0, 9, 9, 9, 7, 7, 7, 0, 0, 0, 0, 0, 0]);
});

test('preprocessing round-trips through weights metadata and bad metadata is refused', () => {
  const meta = preprocessingMetadata(IMAGENET_EVAL);
  assert.deepEqual(preprocessingFromMetadata(meta), IMAGENET_EVAL);
  assert.equal(preprocessingFromMetadata({}), undefined);
  assert.throws(() => preprocessingFromMetadata({ preprocess: '{"resize": 0}' }, 'w.safetensors'), /w\.safetensors: metadata 'preprocess'/);
});
