// How every engine is timed, ours and the peers alike (bench/tfjs.mjs imports this file too;
// tools/bench_pytorch.py follows the same rules): warm-up runs first and excluded, then
// timed runs of one batch each, summarized by their median. The result record is the one
// JSON object that `resnet bench --json` and each peer runner print.

import { type Workload, type WorkloadCost } from './workloads.js';

export interface MeasureOptions {
  /** Warm-up runs, not timed in the result (default: 2, or 1 when the first takes over 10 s). */
  warmup?: number;
  /** Timed runs (default: enough to fill about `targetSeconds`, between 3 and 30). */
  runs?: number;
  targetSeconds?: number;
}

export interface Timings {
  warmup: number;
  /** Milliseconds of each timed run, in order. */
  timesMs: number[];
}

const DEFAULT_TARGET_SECONDS = 20;

/** Runs `step` (one batch) through the warm-up and the timed runs. */
export async function measure(step: () => unknown, options: MeasureOptions = {}): Promise<Timings> {
  const time = async (): Promise<number> => {
    const t0 = performance.now();
    await step();
    return performance.now() - t0;
  };
  let warmup = 0;
  let last = 0;
  // by default a second warm-up run only when the first was short
  const moreWarmup = () => (options.warmup !== undefined ? warmup < options.warmup : warmup === 0 || (warmup === 1 && last <= 10_000));
  while (moreWarmup()) {
    last = await time();
    warmup++;
  }
  const runs = options.runs ?? autoRuns(last, options.targetSeconds ?? DEFAULT_TARGET_SECONDS);
  const timesMs: number[] = [];
  for (let i = 0; i < runs; i++) timesMs.push(await time());
  return { warmup, timesMs };
}

/** Enough runs to fill `targetSeconds`: at least 5 (3 for runs over 10 s), at most 30. */
export function autoRuns(lastMs: number, targetSeconds: number): number {
  const min = lastMs > 10_000 ? 3 : 5;
  return Math.max(min, Math.min(30, Math.ceil((targetSeconds * 1000) / Math.max(lastMs, 1e-3))));
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One engine's measurement of one workload. */
export interface BenchResult {
  workload: string;
  /** 'resnet-ts', 'pytorch', 'tfjs', 'onnxruntime'. */
  engine: string;
  /** The kernel set or backend within the engine: 'ref', 'wasm', 'cpu', … */
  backend: string;
  threads: number;
  mode: 'train' | 'eval';
  batch: number;
  /** The median run. */
  msPerBatch: number;
  imagesPerSecond: number;
  /** Achieved: flopsPerBatch / msPerBatch. */
  gflops: number;
  flopsPerBatch: number;
  macsPerImage: number;
  /** The largest resident set of the process that ran this workload alone. */
  peakRssBytes: number;
  warmup: number;
  runs: number;
  timesMs: number[];
  /** With several rounds (`npm run bench -- --rounds N`): the median of each. */
  roundMediansMs?: number[];
  /** The engine's version and anything else worth knowing (variant, build). */
  version?: string;
  notes?: string;
}

export function benchResult(
  fields: { workload: Workload; engine: string; backend: string; threads: number; version?: string; notes?: string },
  cost: WorkloadCost, timings: Timings, peakRssBytes = peakRss(),
): BenchResult {
  const ms = median(timings.timesMs);
  const w = fields.workload;
  return {
    workload: w.name, engine: fields.engine, backend: fields.backend, threads: fields.threads, mode: w.mode, batch: w.batch,
    msPerBatch: round(ms, 3),
    imagesPerSecond: round((w.batch * 1000) / ms, 3),
    gflops: round(cost.flopsPerBatch / (ms * 1e6), 3),
    flopsPerBatch: cost.flopsPerBatch,
    macsPerImage: cost.macsPerImage,
    peakRssBytes,
    warmup: timings.warmup,
    runs: timings.timesMs.length,
    timesMs: timings.timesMs.map((t) => round(t, 3)),
    ...(fields.version !== undefined ? { version: fields.version } : {}),
    ...(fields.notes !== undefined ? { notes: fields.notes } : {}),
  };
}

/**
 * One result from several rounds of the same workload and engine (each a fresh process, at
 * different times of a noisy machine): every timed run together, their median, the largest RSS.
 */
export function mergeRounds(results: readonly BenchResult[]): BenchResult {
  if (results.length === 1) return results[0];
  const first = results[0];
  const timesMs = results.flatMap((r) => r.timesMs);
  const ms = median(timesMs);
  return {
    ...first,
    msPerBatch: round(ms, 3),
    imagesPerSecond: round((first.batch * 1000) / ms, 3),
    gflops: round(first.flopsPerBatch / (ms * 1e6), 3),
    peakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)),
    warmup: results.reduce((s, r) => s + r.warmup, 0),
    runs: timesMs.length,
    timesMs,
    roundMediansMs: results.map((r) => r.msPerBatch),
  };
}

/** Peak resident set size of this process so far, in bytes (NaN in a browser, which does not tell). */
export function peakRss(): number {
  const host = (globalThis as { process?: { resourceUsage(): { maxRSS: number } } }).process;
  return host ? host.resourceUsage().maxRSS * 1024 : NaN;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
