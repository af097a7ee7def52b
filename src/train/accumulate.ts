// Gradient accumulation: a batch too large for memory runs as micro-batches, each a forward and
// backward pass of its own, whose gradients are summed into buffers that outlive the step while
// the micro-batch's activations are released before the next one. The loss is a mean over its
// batch, so weighting each micro-batch's gradient by its share of the images (n_i / n) gives the
// gradient of the whole batch: the same SGD update, up to float rounding, when batch norm uses
// fixed statistics. In training mode batch norm normalizes each micro-batch with the micro-batch's
// own mean and variance (and updates its running averages once per micro-batch), as the paper's
// multi-GPU training did per GPU (Sec. 3.4: a mini-batch of 256 on 8 GPUs, 32 images each).

import type { KernelSet } from '../kernels/contract.js';
import { endStep } from '../tensor/engine.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';

export class GradientAccumulator {
  /** Persistent sums, one per parameter, made on first use and kept for every step. */
  private readonly sums = new Map<Tensor, Tensor>();
  /** Parameters whose sum holds this step's gradient so far. */
  private readonly filled = new Set<Tensor>();
  private readonly kernels: Set<KernelSet>;

  constructor(private readonly params: readonly Tensor[]) {
    this.kernels = new Set(params.map((p) => p.kernels));
  }

  /**
   * Called after a micro-batch's backward(): adds `weight` × each parameter's gradient to its sum,
   * clears the gradients and ends the micro-batch (its activations and gradients are released).
   */
  add(weight: number): void {
    for (const p of this.params) {
      if (p.grad === null) continue;
      let sum = this.sums.get(p);
      if (sum === undefined) {
        sum = emptyLike(p, p.shape, 'persistent');
        this.sums.set(p, sum);
      }
      if (this.filled.has(p)) p.kernels.axpy({ x: p.grad.buffer, y: sum.buffer, alpha: weight });
      else p.kernels.scale({ x: p.grad.buffer, y: sum.buffer, alpha: weight });
      this.filled.add(p);
      p.grad = null;
    }
    for (const k of this.kernels) endStep(k);
  }

  /** Hands the summed gradients to the parameters (`.grad`) for the optimizer's step. */
  apply(): void {
    for (const p of this.filled) p.grad = this.sums.get(p)!;
    this.filled.clear();
  }
}

/** The [start, end) image ranges of a batch of `n` split into micro-batches of at most `micro`. */
export function microBatches(n: number, micro: number): [number, number][] {
  if (!Number.isInteger(micro) || micro < 1) throw new Error(`micro-batch must be a whole number ≥ 1, got ${micro}`);
  const k = Math.ceil(n / micro);
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.round((i * n) / k), Math.round(((i + 1) * n) / k)]);
  return out;
}
