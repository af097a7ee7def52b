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
  const buf = kernels.alloc(length, dtype, lifetime);
  if (lifetime === 'step') scopes.at(-1)?.push({ kernels, buf });
  return buf;
}

// ---- early release of step buffers (inference, the backward pass) ----

interface Owned { kernels: KernelSet; buf: Buffer }

/** The step buffers allocated in each open scope, innermost last (see openScope). */
const scopes: Owned[][] = [];
/** Buffers already given back (a scope skips them; a second release is a no-op). */
const released = new WeakSet<Buffer>();

/** Gives a step buffer back to its kernel set now: nothing may read it afterwards. Persistent buffers are left alone. */
export function releaseBuffer(kernels: KernelSet, buf: Buffer, lifetime: Lifetime): void {
  if (lifetime !== 'step' || released.has(buf)) return;
  released.add(buf);
  kernels.free(buf);
}

/** Starts recording the step buffers allocated from now on, until the matching closeScope. */
export function openScope(): void {
  scopes.push([]);
}

/**
 * Ends the innermost scope: every step buffer allocated in it is released, except `keep`, which
 * pass to the enclosing scope (so that each buffer is released once, by the scope that owns it last).
 */
export function closeScope(keep: ReadonlySet<Buffer>): void {
  const owned = scopes.pop();
  if (owned === undefined) throw new Error('closeScope without openScope');
  const parent = scopes.at(-1);
  for (const o of owned) {
    if (keep.has(o.buf)) parent?.push(o);
    else releaseBuffer(o.kernels, o.buf, 'step');
  }
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
