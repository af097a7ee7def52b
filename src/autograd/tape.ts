// The define-by-run tape: each op that produced a tensor while gradients are enabled leaves a
// node saying how to send a gradient back to its inputs, and `backprop` walks those nodes by the
// chain rule. The tape knows tensors only by the links it follows (Differentiable), so it imports
// nothing: tensor/tensor.ts builds on it, not the other way round.

/** How an op sends the gradient of its output back to its inputs. */
export interface GradNode<T> {
  /** The op's name, for error messages and graph dumps. */
  readonly op: string;
  readonly inputs: readonly T[];
  /**
   * Given the gradient of the op's output, the gradient of each input (null where none is needed).
   * An op that sets `sums` may get the gradient in two terms, gradOutput + more, which it adds up
   * itself (inside the kernel that reads them), so that the tape need not add them first.
   */
  readonly backward: (gradOutput: T, more?: T) => readonly (T | null)[];
  readonly sums?: boolean;
}

/** What the tape needs of a tensor: whether it wants a gradient, the node that made it, its gradient. */
export interface Differentiable<T> {
  requiresGrad: boolean;
  node: GradNode<T> | null;
  grad: T | null;
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
export function needsGrad(inputs: readonly { requiresGrad: boolean }[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

/**
 * The chain rule from `root`, whose gradient is `gradOutput`: every recorded node sends its
 * output's gradient to its inputs, gradients meeting at a tensor are summed with `add` (or, for
 * an op that takes two terms, handed to its backward as they are), and each
 * leaf that requires a gradient gets it added into `.grad`. Intermediate gradients are dropped as
 * soon as they have been used, and handed to `release` (their memory is reused by the rest of the
 * pass) unless a leaf keeps them as its `.grad`. Runs without recording.
 */
export function backprop<T extends Differentiable<T>>(root: T, gradOutput: T, add: (a: T, b: T) => T,
  release: (t: T) => void = () => { /* garbage collected */ }): void {
  // The pending gradient of each tensor: one term, or two for an op whose backward adds them (`sums`).
  const grads = new Map<T, T[]>([[root, [gradOutput]]]);
  // A gradient tensor may be the pending gradient of several tensors (an addition passes its
  // output's gradient to both inputs): it is released when the last of them has used it.
  const holders = new Map<T, number>([[gradOutput, 1]]);
  const kept = new Set<T>([gradOutput]); // the caller's, or a leaf's .grad
  const hold = (g: T) => { holders.set(g, (holders.get(g) ?? 0) + 1); };
  const drop = (g: T) => {
    const n = (holders.get(g) ?? 0) - 1;
    if (n > 0) { holders.set(g, n); return; }
    holders.delete(g);
    if (!kept.has(g)) release(g);
  };
  noGrad(() => {
    for (const t of reverseTopologicalOrder(root)) {
      const gs = grads.get(t);
      if (gs === undefined) continue;
      grads.delete(t);
      const g = gs[0]!;
      if (t.node === null) {
        if (t.grad === null) {
          t.grad = g;
          kept.add(g);
        } else {
          t.grad = add(t.grad, g);
        }
        drop(g);
        continue;
      }
      const inputGrads = t.node.backward(g, gs[1]);
      t.node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (gi === null || gi === undefined || !input.requiresGrad) return;
        const pending = grads.get(input);
        if (pending === undefined) {
          grads.set(input, [gi]);
          hold(gi);
          return;
        }
        if (pending.length === 1 && input.node?.sums) { // the op adds the two terms itself
          pending.push(gi);
          hold(gi);
          return;
        }
        const previous = pending.pop()!;
        const sum = add(previous, gi);
        pending.push(sum);
        hold(sum);
        drop(previous);
        // gi itself is held by no one unless it is one of gs or another input's gradient too.
        if (!gs.includes(gi) && !holders.has(gi) && inputGrads.indexOf(gi, i + 1) < 0 && !kept.has(gi)) release(gi);
      });
      for (const gj of gs) drop(gj);
    }
  });
}

/**
 * All tensors that `root` depends on through recorded nodes, each after every tensor that consumes
 * it (reverse topological order). Iterative: ResNet-1202's graph is deeper than the call stack.
 */
export function reverseTopologicalOrder<T extends Differentiable<T>>(root: T): T[] {
  const order: T[] = [];
  const visited = new Set<T>();
  const stack: { t: T; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++]!;
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
