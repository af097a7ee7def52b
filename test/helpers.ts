// Shared test utilities: reading the PyTorch fixtures, comparing arrays, seeded random inputs.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type StoredTensor } from '../src/io/safetensors.js';

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
