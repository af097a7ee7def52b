// Module: a tree of layers holding parameters (trained) and buffers (running
// statistics), named exactly as PyTorch names them in a state_dict.

import type { KernelSet } from '../kernels/contract.js';
import { type Shape, Tensor, empty, shapeString } from '../tensor/tensor.js';

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Sets training mode (batch statistics in batch norm) on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: batch norm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** This module and every descendant, depth first, with their dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    const stack: [string, Module][] = [[prefix, this]];
    while (stack.length > 0) {
      const [name, m] = stack.pop()!;
      yield [name, m];
      const kids = [...m.children].reverse();
      for (const [childName, child] of kids) stack.push([name ? `${name}.${childName}` : childName, child]);
    }
  }

  *namedParameters(): Generator<[string, Tensor]> {
    for (const [name, m] of this.namedModules()) {
      for (const [p, t] of m.params) yield [name ? `${name}.${p}` : p, t];
    }
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  /** Every parameter and buffer under its state_dict key, in PyTorch's order. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, m] of this.namedModules()) {
      const dot = name ? `${name}.` : '';
      for (const [p, t] of m.params) out.set(dot + p, t);
      for (const [b, t] of m.buffers) out.set(dot + b, t);
    }
    return out;
  }

  /**
   * Copies values into this module's parameters and buffers. Strict: any missing,
   * unexpected or mis-shaped key is an error that lists all of them.
   */
  loadStateDict(values: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !values.has(k));
    const unexpected = [...values.keys()].filter((k) => !own.has(k));
    const misShaped: string[] = [];
    for (const [k, t] of own) {
      const v = values.get(k);
      if (v && !sameShape(v.shape, t.shape)) misShaped.push(`${k}: expected ${shapeString(t.shape)}, got ${shapeString(v.shape)}`);
    }
    if (missing.length + unexpected.length + misShaped.length > 0) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
      if (misShaped.length) parts.push(`mis-shaped keys (${misShaped.length}): ${misShaped.join('; ')}`);
      throw new Error(`state dict does not fit the network:\n  ${parts.join('\n  ')}`);
    }
    for (const [k, t] of own) t.set(values.get(k)!.data);
  }

  /** Host copies of every state_dict entry (for saving). */
  stateDictArrays(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of this.stateDict()) out.set(k, { shape: [...t.shape], data: Float32Array.from(t.toArray()) });
    return out;
  }

  /** Number of trainable values. */
  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }
}

function sameShape(a: Shape, b: Shape): boolean {
  // PyTorch saves 0-d tensors (num_batches_tracked) with shape []; accept [1] for them too.
  const sa = a.length === 0 ? [1] : a;
  const sb = b.length === 0 ? [1] : b;
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

/** Where a module's tensors are created: kernel set and float type. */
export interface Placement {
  kernels?: KernelSet;
  dtype?: 'float32' | 'float64';
}

/** A persistent tensor for a parameter or buffer, filled with `value`. */
export function stateTensor(shape: Shape, value: number, placement: Placement): Tensor {
  const t = empty(shape, { kernels: placement.kernels, dtype: placement.dtype, lifetime: 'persistent' });
  t.kernels.fill({ y: t.buffer, value });
  return t;
}
