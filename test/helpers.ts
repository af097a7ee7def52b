// Shared test utilities: reading the PyTorch fixtures, comparing arrays, seeded random inputs, a
// reader's errors, the convolutions of the paper's networks.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type StoredTensor } from '../src/io/safetensors.js';
import type { Conv2dShape, KernelSet } from '../src/kernels/contract.js';
import { createCountingKernels } from '../src/kernels/count.js';
import { empty } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { createNet } from '../src/models/resnet.js';
import { NET_NAMES } from '../src/models/registry.js';

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

export interface Fixture {
  metadata: Record<string, string>;
  tensors: Map<string, StoredTensor>;
  get(name: string): StoredTensor;
  /** Entries whose names start with `prefix`, with the prefix removed. */
  withPrefix(prefix: string): Map<string, StoredTensor>;
  /** The network's own state_dict entries (no inputs, outputs or recorded steps). */
  weights(): Map<string, StoredTensor>;
}

const NON_WEIGHT = /^(input|logits|labels|features\.|step\d|after\.)/;

export function loadFixture(relativePath: string): Fixture {
  const { metadata, tensors } = readSafetensors(readFileSync(FIXTURES + relativePath), relativePath);
  return {
    metadata,
    tensors,
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`fixture ${relativePath} has no tensor '${name}'`);
      return t;
    },
    withPrefix(prefix) {
      return new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    },
    weights() {
      return new Map([...tensors].filter(([k]) => !NON_WEIGHT.test(k)));
    },
  };
}

/** max |a − b| / max |b| (max |a − b| where b is all zeros; Infinity on NaN): the error the kernel and parity tests bound. */
export function relMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (Number.isNaN(diff)) return Infinity;
  return diff / (scale || 1);
}

/**
 * Uniform random arrays in [lo, hi), each call from the next seed of a deterministic generator
 * (mulberry32), so that a failing case repeats.
 */
export function seededArrays(firstSeed: number): (n: number, lo?: number, hi?: number) => Float32Array {
  let seed = firstSeed;
  return (n, lo = -1, hi = 1) => {
    let state = seed++ >>> 0;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      a[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    }
    return a;
  };
}

/** ‖a − b‖₂ / ‖b‖₂ over several arrays taken together. */
export function relL2Error(pairs: Iterable<[ArrayLike<number>, ArrayLike<number>]>): number {
  let diff = 0;
  let norm = 0;
  for (const [a, b] of pairs) {
    if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
    for (let i = 0; i < a.length; i++) {
      diff += (a[i] - b[i]) ** 2;
      norm += b[i] ** 2;
    }
  }
  return Math.sqrt(diff) / Math.sqrt(norm || 1);
}

/**
 * A reader's own error for a bad file: an Error whose message starts with the `source` it names (and
 * matches `message`, when given), never a RangeError or TypeError escaping from a bad length or index.
 */
export function assertReaderError(err: unknown, source: string, message?: RegExp): void {
  assert.ok(err instanceof Error && !(err instanceof RangeError) && !(err instanceof TypeError), String(err));
  assert.ok(err.message.startsWith(`${source}: `), `'${err.message}' does not name ${source} first`);
  if (message) assert.match(err.message, message);
}

/**
 * `count` damaged copies of `sources`, taken in turn: copy i is cut at a random length when
 * `truncate(i)`, then three random bytes are overwritten. Seeded: the same copies every run.
 */
export function* damagedCopies(sources: Uint8Array[], seed: number, count: number, truncate: (i: number) => boolean): Generator<Uint8Array> {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < count; i++) {
    const source = sources[i % sources.length]!;
    const copy = source.slice(0, truncate(i) ? Math.floor(random() * source.length) : source.length);
    for (let k = 0; k < 3; k++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
    yield copy;
  }
}

/**
 * Every distinct convolution of every network of the paper that `keep` accepts, for one image at
 * the paper's input size: recorded from each network's real forward pass on the counting set, so
 * the list cannot drift from the models.
 */
export function networkConvShapes(keep: (s: Conv2dShape) => boolean = () => true): Conv2dShape[] {
  const counting = createCountingKernels();
  const seen = new Map<string, Conv2dShape>();
  const kernels: KernelSet = {
    ...counting,
    conv2d: (p) => {
      const { n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, hOut, wOut } = p;
      const s = { n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, hOut, wOut };
      if (keep(s)) seen.set(JSON.stringify(s), s);
      counting.conv2d(p);
    },
  };
  for (const name of NET_NAMES) {
    const net = createNet(name, { kernels, skipInit: true }).eval();
    const size = net.spec.family === 'imagenet' ? 224 : 32;
    noGrad(() => net.forward(empty([1, net.options.inChannels, size, size], { kernels })));
  }
  return [...seen.values()];
}
