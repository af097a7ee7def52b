// Limits on what a file may make a reader allocate or loop over. Every count, size, offset and
// depth a reader takes from a file is checked against the file's own size and against these limits
// before anything is allocated, so that a small hostile file cannot hang the process or exhaust its
// memory. The defaults fit any real ResNet file (weights, checkpoints, datasets) with a wide margin;
// an unusual genuine file can raise them, per call (the readers' `limits` argument), process-wide
// (`setReadLimits`). A LimitError names the limit in its message and in `option`.

import { LimitError } from './errors.js';

export interface ReadLimits {
  /** Bytes that one compressed stream (a gzip file, a zip entry, a tar.gz archive) may inflate to. */
  maxInflatedBytes: number;
  /** Inflated bytes per compressed byte (real datasets and weights compress less than 10:1). */
  maxInflateRatio: number;
  /**
   * Decoded float32 bytes per byte of the file, over a fixed allowance of 64 MiB: bounds what
   * tensor views repeating their storage (stride 0, shared storages) and widening dtypes can make.
   */
  maxDecodedRatio: number;
  /** Entries of a zip (.pth) or tar archive. */
  maxArchiveEntries: number;
  /** Values on a pickle's stack and entries in its memo. */
  maxPickleValues: number;
  /** Containers a pickle may have open at once (MARKs on the stack). */
  maxPickleNesting: number;
  /** Bytes of one pickled integer (LONG1, LONG4). */
  maxLongBytes: number;
  /** Dimensions of one tensor or array. */
  maxRank: number;
  /** Parameters of a network whose options come from a file (weights or checkpoint metadata). */
  maxParameters: number;
  /** Pixels of one decoded image (width × height). */
  maxImagePixels: number;
}

export const DEFAULT_READ_LIMITS: Readonly<ReadLimits> = Object.freeze({
  maxInflatedBytes: 2 ** 30, // 1 GiB (Fashion-MNIST's train images: 47 MB; CIFAR-10's archive: 178 MB)
  maxInflateRatio: 200,
  maxDecodedRatio: 8,
  maxArchiveEntries: 100_000, // ResNet-152's .pth: about 1,000
  maxPickleValues: 10_000_000,
  maxPickleNesting: 1000, // a state dict nests 4 deep
  maxLongBytes: 8192,
  maxRank: 64,
  maxParameters: 2 ** 28, // 268 million (1 GiB of float32); ResNet-152: 60 million
  maxImagePixels: 2 ** 26, // 67 million: a 64-megapixel photo; ImageNet's average is 0.2
});

/** The fixed allowance of maxDecodedRatio, in bytes. */
export const DECODED_ALLOWANCE = 64 * 2 ** 20;

export const READ_LIMIT_NAMES = Object.keys(DEFAULT_READ_LIMITS) as (keyof ReadLimits)[];

let processDefaults: ReadLimits = { ...DEFAULT_READ_LIMITS };

/** Raises (or lowers) limits for every later read in this process. */
export function setReadLimits(limits: Partial<ReadLimits>): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!(READ_LIMIT_NAMES as string[]).includes(name)) {
      throw new Error(`unknown read limit '${name}'; known: ${READ_LIMIT_NAMES.join(', ')}`);
    }
    if (value !== undefined && (typeof value !== 'number' || !(value > 0))) throw new Error(`read limit ${name} must be a positive number, got ${String(value)}`);
  }
  processDefaults = { ...processDefaults, ...withoutUndefined(limits) };
}

/** The limits in force: the process-wide ones, overridden by `override`. */
export function readLimits(override: Partial<ReadLimits> = {}): ReadLimits {
  return { ...processDefaults, ...withoutUndefined(override) };
}

/** Throws a LimitError unless value ≤ limits[name]. */
export function checkLimit(source: string, what: string, value: number, limits: ReadLimits, name: keyof ReadLimits, bound = limits[name]): void {
  if (value <= bound) return;
  throw new LimitError((n) => `${source}: ${what} is ${value}, over the limit ${bound} (${name}); if the file is genuine, raise the limit: ${n.readLimit(name)}`);
}

/** The most bytes a stream of `compressed` bytes may inflate to under the limits. */
export function inflateBound(compressed: number, limits: ReadLimits): { bound: number; name: keyof ReadLimits } {
  const byRatio = Math.max(compressed, 1024) * limits.maxInflateRatio;
  return byRatio < limits.maxInflatedBytes ? { bound: byRatio, name: 'maxInflateRatio' } : { bound: limits.maxInflatedBytes, name: 'maxInflatedBytes' };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
