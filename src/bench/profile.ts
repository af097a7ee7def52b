// Where the time of a step goes: a kernel set wrapped in a timing proxy. Every kernel call
// is timed and attributed to its kernel and shape, e.g. "conv2dBackwardWeight 128×32×16×16
// → 32, 3×3/1", so that each convolution, batch norm, pooling… of the network gets a line.
// The kernels are not touched; calls are synchronous, so wall time per call is exact.

import type { KernelSet } from '../kernels/contract.js';

export interface ProfileEntry {
  kernel: string;
  shape: string;
  calls: number;
  totalMs: number;
}

export interface TimedKernels {
  kernels: KernelSet;
  /** Forget what was recorded (after the warm-up). */
  reset(): void;
  entries(): ProfileEntry[];
}

/** Calls that only move memory between the host and the set are not attributed to a layer. */
const HOST_CALLS = new Set(['alloc', 'write', 'read', 'endStep', 'free']);

export function timeKernels(inner: KernelSet): TimedKernels {
  const table = new Map<string, ProfileEntry>();
  const wrappers = new Map<PropertyKey, unknown>();
  const kernels = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      let wrapped = wrappers.get(prop);
      if (wrapped === undefined) {
        const fn = value as (...args: unknown[]) => unknown;
        wrapped = (...args: unknown[]) => {
          const t0 = performance.now();
          const out = fn.apply(target, args);
          const ms = performance.now() - t0;
          const shape = HOST_CALLS.has(prop) ? '' : describe(prop, args[0]);
          const key = `${prop} ${shape}`;
          let e = table.get(key);
          if (e === undefined) table.set(key, e = { kernel: prop, shape, calls: 0, totalMs: 0 });
          e.calls++;
          e.totalMs += ms;
          return out;
        };
        wrappers.set(prop, wrapped);
      }
      return wrapped;
    },
  });
  return {
    kernels,
    reset: () => table.clear(),
    entries: () => [...table.values()].sort((a, b) => b.totalMs - a.totalMs),
  };
}

type Fields = Record<string, unknown>;

/** The shape of one kernel call, from its named fields. */
function describe(kernel: string, arg: unknown): string {
  if (typeof arg !== 'object' || arg === null) return '';
  const p = arg as Fields;
  const n = (k: string) => p[k] as number;
  if (kernel.startsWith('conv2d')) {
    return `${n('n')}×${n('cIn')}×${n('h')}×${n('w')} → ${n('cOut')}×${n('hOut')}×${n('wOut')}, ${n('kh')}×${n('kw')}/${n('strideH')}`;
  }
  if (kernel.startsWith('batchNorm')) {
    return `${n('n')}×${n('c')}×${n('hw')}${kernel === 'batchNormEval' && p.relu ? ' +relu' : ''}`;
  }
  if (kernel.startsWith('maxPool2d')) return `${n('n')}×${n('c')}×${n('h')}×${n('w')}, ${n('k')}×${n('k')}/${n('stride')}`;
  if (kernel.startsWith('globalAvgPool')) return `${n('n')}×${n('c')}×${n('hw')}`;
  if (kernel.startsWith('shortcutA')) return `${n('n')}×${n('cIn')}×${n('h')}×${n('w')} → ${n('cOut')}×${n('hOut')}×${n('wOut')}`;
  if (kernel === 'matmul') return `${n('m')}×${n('k')} · ${n('k')}×${n('n')}${p.transA ? ' Aᵀ' : ''}${p.transB ? ' Bᵀ' : ''}`;
  if (kernel === 'addBiasRows' || kernel === 'sumRows') return `${n('rows')}×${n('cols')}`;
  if (kernel.startsWith('softmaxCrossEntropy')) return `${n('n')}×${n('classes')}`;
  // element-wise kernels and the optimizer: the length of the first buffer argument
  for (const key of ['y', 'x', 'a', 'param', 'dx']) {
    const b = p[key] as { length?: number } | undefined;
    if (b && typeof b.length === 'number') return `${b.length}`;
  }
  return '';
}

/** A Markdown-ish table of the profile: time per step for each kernel and shape, largest first. */
export function formatProfile(entries: ProfileEntry[], steps: number, stepMs: number): string {
  const total = entries.reduce((s, e) => s + e.totalMs, 0);
  const rows = entries.map((e) => [
    e.kernel, e.shape, (e.calls / steps).toFixed(0), (e.totalMs / steps).toFixed(2), `${((100 * e.totalMs) / total).toFixed(1)}%`,
  ]);
  // Summary by kernel, the shape left out (e.g. all conv2dBackwardWeight calls together).
  const byKernel = new Map<string, number>();
  for (const e of entries) byKernel.set(e.kernel, (byKernel.get(e.kernel) ?? 0) + e.totalMs);
  const kernelRows = [...byKernel.entries()].sort((a, b) => b[1] - a[1])
    .map(([k, ms]) => [k, (ms / steps).toFixed(2), `${((100 * ms) / total).toFixed(1)}%`]);
  const outside = stepMs - total / steps;
  return [
    `Kernel time per step: ${(total / steps).toFixed(1)} ms of a ${stepMs.toFixed(1)} ms step ` +
      `(${outside.toFixed(1)} ms outside the kernels: tape, allocation, JavaScript)`,
    '',
    markdownTable(['kernel', 'ms/step', 'share'], kernelRows),
    '',
    markdownTable(['kernel', 'shape (n×c×h×w → c×h×w, k×k/stride)', 'calls/step', 'ms/step', 'share'], rows),
  ].join('\n');
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}
