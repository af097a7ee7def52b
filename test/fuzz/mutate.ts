// Mutations of seed files for the fuzz tests (fast-check arbitraries), aimed mostly at length
// fields: the known ones of each format (targets.ts), any integer-sized run of bytes, and numbers
// written as text (JSON headers, .npy headers, tar's octal sizes); plus flips, truncations,
// insertions, deletions and repeats. And the check every reader must pass on the result.

import fc from 'fast-check';
import { FormatError, LimitError } from '../../src/io/errors.js';
import { concat } from '../hostile-files.js';
import type { LengthField, Seed, Target } from './targets.js';

const INTERESTING = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 32767, 32768, 65535, 65536,
  2 ** 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 1,
];

const interesting = fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(), fc.integer({ min: 0, max: 2 ** 53 - 1 }));

export type Mutation =
  | { kind: 'field'; index: number; value: number; relative: boolean; delta: number }
  | { kind: 'int'; at: number; width: 1 | 2 | 4 | 8; little: boolean; value: number }
  | { kind: 'digits'; index: number; value: number; negative: boolean }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number; times: number };

const position = fc.nat({ max: 1 << 30 });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('field' as const), index: fc.nat(), value: interesting, relative: fc.boolean(), delta: fc.integer({ min: -4, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('int' as const), at: position, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), little: fc.boolean(), value: interesting }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('digits' as const), index: fc.nat(), value: interesting, negative: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: position, value: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), at: position, length: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 1, max: 64 }) }) },
);

/** One fuzz case: which seed, whether to mutate a wrapped target's outer bytes, and the mutations. */
export const fuzzCase = fc.record({ seed: fc.nat(), outer: fc.boolean(), mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }) });
export type FuzzCase = { seed: number; outer: boolean; mutations: Mutation[] };

function writeInt(bytes: Uint8Array, at: number, width: number, little: boolean, value: number): void {
  if (at + width > bytes.length) return;
  let v = BigInt(Math.max(0, Math.floor(value))) & ((1n << BigInt(8 * width)) - 1n);
  for (let i = 0; i < width; i++) {
    bytes[little ? at + i : at + width - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function readInt(bytes: Uint8Array, f: LengthField): number {
  let v = 0;
  for (let i = 0; i < f.width; i++) v = v * 256 + (bytes[f.little ? f.at + f.width - 1 - i : f.at + i] ?? 0);
  return v;
}

/** Runs of ASCII digits (numbers written as text). */
function digitRuns(bytes: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x30 && bytes[i]! <= 0x39) {
      const start = i;
      while (i < bytes.length && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
      runs.push([start, i]);
      if (runs.length >= 4096) break;
    }
  }
  return runs;
}

export function mutate(seed: Seed, mutations: Mutation[]): Uint8Array {
  let bytes: Uint8Array = seed.bytes.slice();
  for (const m of mutations) {
    const n = bytes.length;
    const at = n === 0 ? 0 : m.kind === 'field' || m.kind === 'digits' ? 0 : (m as { at: number }).at % n;
    switch (m.kind) {
      case 'field': {
        if (seed.fields.length === 0) break;
        const f = seed.fields[m.index % seed.fields.length]!;
        const value = m.relative ? readInt(bytes, f) * (m.delta === 0 ? 2 : 1) + m.delta : m.value;
        writeInt(bytes, f.at, f.width, f.little, value);
        break;
      }
      case 'int':
        writeInt(bytes, at, m.width, m.little, m.value);
        break;
      case 'digits': {
        const runs = digitRuns(bytes);
        if (runs.length === 0) break;
        const [start, end] = runs[m.index % runs.length]!;
        const text = new TextEncoder().encode(`${m.negative ? '-' : ''}${m.value}`);
        bytes = concat(bytes.subarray(0, start), text, bytes.subarray(end));
        break;
      }
      case 'flip':
        if (n > 0) bytes[at] ^= 1 << m.bit;
        break;
      case 'byte':
        if (n > 0) bytes[at] = m.value;
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
      case 'insert':
        bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
        break;
      case 'delete':
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.length));
        break;
      case 'repeat': {
        const chunk = bytes.subarray(at, at + m.length);
        bytes = concat(bytes.subarray(0, at), ...Array<Uint8Array>(m.times).fill(chunk), bytes.subarray(at));
        break;
      }
    }
  }
  return bytes;
}

/** The input of a case: the mutated seed (wrapped targets: inner bytes mutated then wrapped, or the wrapped bytes mutated). */
export function input(target: Target, seeds: Seed[], c: FuzzCase): Uint8Array {
  const seed = seeds[c.seed % seeds.length]!;
  if (target.wrap === undefined) return mutate(seed, c.mutations);
  if (!c.outer) return target.wrap(mutate(seed, c.mutations));
  return mutate({ bytes: target.wrap(seed.bytes), fields: [] }, c.mutations);
}

export type Outcome = 'parsed' | 'refused' | 'limit';

/**
 * Parses one input. The only acceptable failures: a FormatError (a LimitError counted apart), or,
 * for a weights file whose tensors do not fit the network it names, the loader's error that names
 * the file. Anything else (TypeError, RangeError, SyntaxError, a bare Error) is rethrown.
 */
export async function check(target: Target, bytes: Uint8Array, scratch: string): Promise<Outcome> {
  try {
    await target.parse(bytes, scratch);
    return 'parsed';
  } catch (e) {
    if (e instanceof LimitError) return 'limit';
    if (e instanceof FormatError) return 'refused';
    if (target.name === 'weights' && e instanceof Error && e.constructor === Error && e.message.startsWith(scratch)) return 'refused';
    throw e;
  }
}
