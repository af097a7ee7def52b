// How much memory a training step or a forward pass of a network takes, known before running it:
// the network's real forward pass (and loss, backward and SGD update) runs on the counting kernel
// set (kernels/count.ts), which computes nothing and here tallies every buffer the step asks for.
// The estimate therefore follows the code, with no second description of the layers to keep in
// sync. A kernel set holds so much (the wasm set: 4 GiB of WebAssembly memory); a batch larger
// than that trains as micro-batches (train/accumulate.ts), evaluation picks a batch that fits.

import { noGrad } from '../autograd/tape.js';
import type { Buffer, DType, KernelSet, Lifetime } from '../kernels/contract.js';
import { createCountingKernels } from '../kernels/count.js';
import { StepArena } from '../kernels/wasm/memory.js';
import { crossEntropy } from '../ops/loss.js';
import { SGD } from '../optim/sgd.js';
import { empty } from '../tensor/tensor.js';
import type { NetName } from './registry.js';
import { type NetOptions, createNet } from './resnet.js';

/** WebAssembly memory is addressed with 32 bits: 65536 pages of 64 KiB. */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;

/**
 * The share of a kernel set's memory a plan may fill: the wasm heap grows by an eighth at a time
 * and keeps its first-fit free list, so a step that needs all 4 GiB on paper does not get it.
 */
export const USABLE_FRACTION = 0.8;

export interface MemoryEstimate {
  /** Parameters, momentum and (with micro-batches) accumulated gradients: kept from step to step. */
  persistentBytes: number;
  /** Activations, gradients and the input of one step (one micro-batch), as the step arena lays them out. */
  stepBytes: number;
  /** Kernel scratch (packed weights, per-thread tiles) and heap growth, by a rule of thumb. */
  overheadBytes: number;
  totalBytes: number;
}

export interface StepShape {
  batch: number;
  height: number;
  width: number;
}

/** A step's memory traffic in order: a buffer of `alloc` bytes, or the release of the `free`-th buffer allocated. */
export type ArenaEvent = { alloc: number } | { free: number };

/**
 * The bytes of chunks the wasm set's step arena (kernels/wasm/memory.ts, StepArena) takes for a
 * step's allocations and early releases, replayed on the arena itself (test/micro-batch.test.ts
 * checks the total against the real kernel set).
 */
export function arenaBytes(events: readonly ArenaEvent[]): number {
  let end = 0;
  const arena = new StepArena((bytes) => { const at = end; end += bytes; return at; });
  const placed: [ptr: number, bytes: number][] = [];
  for (const e of events) {
    if ('alloc' in e) {
      placed.push([arena.alloc(e.alloc), e.alloc]);
    } else {
      const [ptr, bytes] = placed[e.free]!;
      arena.free(ptr, bytes);
    }
  }
  return arena.chunkBytes;
}

/** Scratch areas (packed weights, per-thread tiles) and heap growth, a rule of thumb from the wasm set (test/micro-batch.test.ts). */
const OVERHEAD_FRACTION = 0.15;
const FIXED_OVERHEAD = 64 * 2 ** 20;

/**
 * Memory of one training step (forward, loss, backward, SGD with momentum) of `net` at `shape`,
 * or of one forward pass without gradients (`mode: 'eval'`). `accumulate`: the step is one
 * micro-batch of a larger batch, whose gradients are summed in buffers of the parameters' size.
 */
export function estimateMemory(net: NetName, options: Partial<NetOptions>, shape: StepShape,
  mode: 'train' | 'eval' = 'train', accumulate = false): MemoryEstimate {
  const tally = { persistent: 0, step: [] as ArenaEvent[] };
  const counting = createCountingKernels();
  const stepIndex = new Map<Buffer, number>(); // a step buffer: its place among the step's allocations
  let allocated = 0;
  const kernels: KernelSet = {
    ...counting,
    alloc(length: number, dtype: DType, lifetime: Lifetime): Buffer {
      const bytes = length * (dtype === 'float64' ? 8 : 4);
      const buf = counting.alloc(length, dtype, lifetime);
      if (lifetime === 'persistent') {
        tally.persistent += bytes;
      } else {
        tally.step.push({ alloc: bytes });
        stepIndex.set(buf, allocated++);
      }
      return buf;
    },
    free(buf: Buffer): void {
      const i = stepIndex.get(buf);
      if (i !== undefined) tally.step.push({ free: i });
    },
  };
  const model = createNet(net, { ...options, kernels, skipInit: true });
  const input = [shape.batch, model.options.inChannels, shape.height, shape.width];
  if (mode === 'eval') {
    model.eval();
    noGrad(() => model.forward(empty(input, { kernels })));
  } else {
    model.train();
    const params = model.parameters();
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
    const loss = crossEntropy(model.forward(empty(input, { kernels })), new Int32Array(shape.batch));
    loss.backward();
    opt.step();
    if (accumulate) tally.persistent += params.reduce((s, p) => s + p.size * 4, 0);
  }
  const step = arenaBytes(tally.step);
  const overhead = FIXED_OVERHEAD + OVERHEAD_FRACTION * (step + tally.persistent);
  return { persistentBytes: tally.persistent, stepBytes: step, overheadBytes: overhead, totalBytes: tally.persistent + step + overhead };
}

/** Bytes a kernel set can hold: the wasm set 4 GiB; the reference set keeps its arrays in the host's memory (no fixed cap). */
export function memoryCapacity(kernels: KernelSet): number {
  return kernels.name === 'wasm' ? WASM_MEMORY_BYTES : Infinity;
}

/** Bytes a plan for `kernels` may use (USABLE_FRACTION of its capacity). */
export function memoryBudget(kernels: KernelSet): number {
  return memoryCapacity(kernels) * USABLE_FRACTION;
}

/**
 * The micro-batch a training step of `batch` images runs in: the batch itself when it fits the
 * budget, else the largest ceil(batch / k) that does. Null when not even one image fits.
 */
export function chooseMicroBatch(net: NetName, options: Partial<NetOptions>, shape: StepShape, budget: number): number | null {
  if (budget === Infinity) return shape.batch;
  if (estimateMemory(net, options, shape).totalBytes <= budget) return shape.batch;
  for (let k = 2; k <= shape.batch; k++) {
    const micro = Math.ceil(shape.batch / k);
    if (micro === Math.ceil(shape.batch / (k - 1))) continue;
    if (estimateMemory(net, options, { ...shape, batch: micro }, 'train', true).totalBytes <= budget) return micro;
  }
  return null;
}

/** The largest evaluation batch (at most `wanted`) whose forward pass fits the budget; null when one image does not. */
export function fittingEvalBatch(net: NetName, options: Partial<NetOptions>, shape: StepShape, budget: number): number | null {
  if (budget === Infinity) return shape.batch;
  const fits = (batch: number) => estimateMemory(net, options, { ...shape, batch }, 'eval').totalBytes <= budget;
  if (fits(shape.batch)) return shape.batch;
  if (!fits(1)) return null;
  let [lo, hi] = [1, shape.batch]; // fits(lo); the answer is in [lo, hi]
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** "1.23 GiB", "456 MiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unbounded';
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
