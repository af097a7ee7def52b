// The define-by-run tape: each op that produced a tensor while gradients are
// enabled leaves a Node saying how to send a gradient back to its inputs.

import type { Tensor } from '../tensor/tensor.js';

export interface Node {
  /** The op's name, for error messages and graph dumps. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Given the gradient of the op's output, the gradient of each input (null where none is needed). */
  readonly backward: (gradOutput: Tensor) => readonly (Tensor | null)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording anything on the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const saved = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = saved;
  }
}

/** Whether an op with these inputs must record a node. */
export function needsGrad(inputs: readonly Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

/**
 * All tensors that `root` depends on through recorded nodes, each after every
 * tensor that consumes it (reverse topological order). Iterative: ResNet-1202's
 * graph is deeper than the call stack.
 */
export function reverseTopologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t); // post-order: inputs before the tensor that uses them
      stack.pop();
    }
  }
  return order.reverse();
}
