// The engine's global state: which kernel set new tensors use, and the training
// step boundary that lets a kernel set reuse the memory of a finished step.

import type { Buffer, DType, IndexBuffer, KernelSet, Lifetime } from '../kernels/contract.js';
import { refKernels } from '../kernels/ref/index.js';

let current: KernelSet = refKernels as KernelSet;
const pendingReset = new Set<KernelSet>();

/** The kernel set that new tensors are created on. */
export function getKernels(): KernelSet {
  return current;
}

export function setKernels(kernels: KernelSet): void {
  current = kernels;
}

/**
 * Allocates a buffer. Memory of the step that `endStep` closed is recycled here,
 * lazily, so a value read right after the optimizer step (the loss) is still valid.
 */
export function allocBuffer(kernels: KernelSet, length: number, dtype: DType, lifetime: Lifetime): Buffer {
  if (!kernels.dtypes.includes(dtype)) throw new Error(`the '${kernels.name}' kernel set does not compute in ${dtype}`);
  if (lifetime === 'step') resetIfPending(kernels);
  return kernels.alloc(length, dtype, lifetime);
}

/** A step index buffer (pooling's argmax, a batch's labels) holding `values` if given; recycled like step tensors. */
export function allocIndices(kernels: KernelSet, length: number, values?: ArrayLike<number>): IndexBuffer {
  resetIfPending(kernels);
  const buf = kernels.allocIndices(length, 'step');
  if (values) kernels.writeIndices(buf, values);
  return buf;
}

function resetIfPending(kernels: KernelSet): void {
  if (pendingReset.has(kernels)) {
    pendingReset.delete(kernels);
    kernels.endStep();
  }
}

/**
 * Marks the end of a training step: every tensor created since the previous call,
 * other than parameters and optimizer state, may be freed before the next one is made.
 * The optimizer calls this after its update; evaluation loops call it after each batch.
 */
export function endStep(kernels: KernelSet = current): void {
  pendingReset.add(kernels);
}
