// Tensor: an NCHW float array on one kernel set, with the autograd links that
// the tape needs. Shapes are plain arrays; a scalar has shape [].

import type { Buffer, DType, HostArray, KernelSet, Lifetime } from '../kernels/contract.js';
import { type GradNode, backprop, isGradEnabled } from '../autograd/tape.js';
import { allocBuffer, closeScope, getKernels, openScope, releaseBuffer } from './engine.js';

export type Shape = readonly number[];

/** The op that produced a tensor, as the tape records it. */
export type Node = GradNode<Tensor>;

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export interface TensorOptions {
  dtype?: DType;
  kernels?: KernelSet;
  /** 'step' (default) for activations and gradients; 'persistent' for parameters and state. */
  lifetime?: Lifetime;
  requiresGrad?: boolean;
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly kernels: KernelSet;
  readonly buffer: Buffer;
  readonly lifetime: Lifetime;
  requiresGrad: boolean;
  /** Accumulated gradient (leaf tensors only). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, if it was recorded. */
  node: Node | null = null;
  /**
   * Counts writes to the values in place (set(), the optimizer, batch norm's running statistics),
   * so that values derived from it (eval mode's folded conv weights) know when to be recomputed.
   */
  version = 0;

  constructor(shape: Shape, buffer: Buffer, kernels: KernelSet, lifetime: Lifetime, requiresGrad = false) {
    if (buffer.length !== shapeSize(shape)) {
      throw new Error(`buffer of ${buffer.length} values cannot hold shape ${shapeString(shape)}`);
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = buffer.dtype;
    this.buffer = buffer;
    this.kernels = kernels;
    this.lifetime = lifetime;
    this.requiresGrad = requiresGrad;
  }

  get size(): number {
    return this.buffer.length;
  }

  /** Copies the values out to a host array. */
  toArray(): HostArray {
    return this.kernels.read(this.buffer);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape ${shapeString(this.shape)}`);
    return this.toArray()[0];
  }

  /** Overwrites the values from a host array of the same size. */
  set(values: ArrayLike<number>): void {
    if (values.length !== this.size) {
      throw new Error(`cannot set ${values.length} values into a tensor of shape ${shapeString(this.shape)}`);
    }
    this.kernels.write(this.buffer, values);
    this.version++;
  }

  /** Records that the values were written in place by a kernel (see `version`). */
  bumpVersion(): void {
    this.version++;
  }

  /**
   * Back-propagates from this tensor (a scalar, or with an explicit output gradient)
   * and adds the gradients into `.grad` of every leaf that requires one.
   */
  backward(gradOutput?: Tensor): void {
    if (!this.requiresGrad) throw new Error('backward() on a tensor that does not require a gradient');
    if (gradOutput === undefined) {
      if (this.size !== 1) throw new Error(`backward() without a gradient needs a scalar, got ${shapeString(this.shape)}`);
      gradOutput = full(this.shape, 1, { dtype: this.dtype, kernels: this.kernels });
    }
    backprop<Tensor>(this, gradOutput, addTensors, release);
  }
}

/** A fresh, uninitialized tensor on the same kernel set and dtype as `like`. */
export function emptyLike(like: Tensor, shape: Shape = like.shape, lifetime: Lifetime = 'step'): Tensor {
  return empty(shape, { dtype: like.dtype, kernels: like.kernels, lifetime });
}

export function empty(shape: Shape, options: TensorOptions = {}): Tensor {
  const kernels = options.kernels ?? getKernels();
  const lifetime = options.lifetime ?? 'step';
  const buffer = allocBuffer(kernels, shapeSize(shape), options.dtype ?? 'float32', lifetime);
  return new Tensor(shape, buffer, kernels, lifetime, options.requiresGrad ?? false);
}

export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  const t = empty(shape, options);
  t.kernels.fill({ y: t.buffer, value });
  return t;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function fromArray(values: ArrayLike<number>, shape: Shape, options: TensorOptions = {}): Tensor {
  const t = empty(shape, options);
  t.set(values);
  return t;
}

/** a + b into a new tensor, without recording (gradient accumulation). */
function addTensors(a: Tensor, b: Tensor): Tensor {
  const out = emptyLike(a, a.shape, a.lifetime);
  a.kernels.add({ a: a.buffer, b: b.buffer, y: out.buffer });
  return out;
}

/**
 * Gives a step tensor's memory back to its kernel set now (a later tensor of the step may reuse it);
 * the tensor must not be read again. Parameters and other persistent tensors are left alone.
 */
export function release(t: Tensor): void {
  releaseBuffer(t.kernels, t.buffer, t.lifetime);
}

/**
 * Inference memory: when no gradient is being recorded, runs `fn` and then releases every step
 * tensor it created except the ones it returns, and also `inputs` (tensors the caller made and
 * nothing reads after fn). With gradients recorded the backward pass needs them all: just fn().
 * A residual block's intermediate maps thus live only while the block runs.
 */
export function scoped<T extends Tensor>(fn: () => T, inputs: readonly Tensor[] = []): T {
  if (isGradEnabled()) return fn();
  openScope();
  let out: T;
  try {
    out = fn();
  } catch (e) {
    closeScope(new Set());
    throw e;
  }
  closeScope(new Set([out.buffer]));
  for (const t of inputs) if (t !== out) release(t);
  return out;
}
