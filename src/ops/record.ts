// Shared plumbing of the ops: checking inputs and recording a node on the tape.

import { needsGrad } from '../autograd/tape.js';
import { type Node, type Shape, type Tensor, shapeString } from '../tensor/tensor.js';

/**
 * Attaches a backward function to `out` when any input needs a gradient; `sums`: the backward
 * takes its gradient in two terms when two arrive (see GradNode).
 */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: Node['backward'], sums = false): Tensor {
  if (needsGrad(inputs)) {
    out.requiresGrad = true;
    out.node = sums ? { op, inputs, backward, sums } : { op, inputs, backward };
  }
  return out;
}

/** Throws unless every tensor lives on the same kernel set with the same dtype. */
export function checkSameEngine(op: string, tensors: readonly Tensor[]): void {
  const first = tensors[0];
  for (const t of tensors) {
    if (t.kernels !== first.kernels) {
      throw new Error(`${op}: tensors on different kernel sets ('${first.kernels.name}' and '${t.kernels.name}')`);
    }
    if (t.dtype !== first.dtype) throw new Error(`${op}: mixed dtypes ${first.dtype} and ${t.dtype}`);
  }
}

export function checkRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.shape.length !== rank) {
    throw new Error(`${op}: ${name} must have ${rank} dimensions, got shape ${shapeString(t.shape)}`);
  }
}

export function checkShape(op: string, name: string, t: Tensor, shape: Shape): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${op}: ${name} must have shape ${shapeString(shape)}, got ${shapeString(t.shape)}`);
  }
}
