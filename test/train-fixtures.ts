// A tiny training problem and bit-for-bit comparison of run files, shared by the training tests.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ArrayDataset } from '../src/data/dataset.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { Rng } from '../src/tensor/random.js';

/** n images 1×8×8 of 4 classes: class c is a bright c-th quadrant on noise (learnable in a few steps). */
export function tinySet(n: number, seed: number): ArrayDataset {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const quadrant = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
        images[i * 64 + y * 8 + x] = (quadrant === c ? 160 : 0) + rng.int(90);
      }
    }
  }
  return new ArrayDataset(images, labels, 1, 8, 8, ['a', 'b', 'c', 'd']);
}

export function bits(data: Float32Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

/** Every tensor of two safetensors files, compared bit for bit. */
export function assertSameTensors(a: string, b: string): number {
  const ta = readSafetensors(readFileSync(a), a).tensors;
  const tb = readSafetensors(readFileSync(b), b).tensors;
  assert.deepEqual([...ta.keys()], [...tb.keys()]);
  for (const [k, t] of ta) assert.deepEqual(bits(t.data), bits(tb.get(k)!.data), `${k} differs`);
  return ta.size;
}

