// Stochastic gradient descent with momentum and weight decay, PyTorch semantics:
// the decay is added to the gradient before the momentum update (Sec. 3.4 / 4.2
// of the paper: momentum 0.9, weight decay 1e-4).

import { endStep } from '../tensor/engine.js';
import { type Tensor, emptyLike } from '../tensor/tensor.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly params: Tensor[];
  /** Momentum buffers, persistent, created on the first step of each parameter. */
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: Iterable<Tensor>, options: SgdOptions) {
    this.params = [...params];
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (!(this.lr >= 0)) throw new Error(`SGD: learning rate must be ≥ 0, got ${this.lr}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum needs momentum > 0 and dampening 0');
    }
  }

  /**
   * Updates every parameter that has a gradient, then ends the training step:
   * gradients and activations of this step are released (their memory is reused
   * by the next step), so `.grad` is reset to null.
   */
  step(): void {
    for (const p of this.params) {
      if (p.grad === null) continue;
      let buf = this.buffers.get(p);
      const firstStep = buf === undefined;
      if (buf === undefined) {
        buf = emptyLike(p, this.momentum !== 0 ? p.shape : [0], 'persistent');
        this.buffers.set(p, buf);
      }
      p.kernels.sgdStep({
        param: p.buffer, grad: p.grad.buffer, momentumBuf: buf.buffer, lr: this.lr, momentum: this.momentum,
        dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov, firstStep,
      });
      p.bumpVersion();
    }
    this.zeroGrad();
    for (const k of new Set(this.params.map((p) => p.kernels))) endStep(k);
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Momentum buffers in parameter order (for checkpoints); null where none exists yet. */
  stateArrays(): (Float32Array | null)[] {
    return this.params.map((p) => {
      const b = this.buffers.get(p);
      return b && b.size > 0 ? Float32Array.from(b.toArray()) : null;
    });
  }

  loadStateArrays(state: readonly (ArrayLike<number> | null)[]): void {
    if (state.length !== this.params.length) {
      throw new Error(`optimizer state has ${state.length} entries for ${this.params.length} parameters`);
    }
    this.params.forEach((p, i) => {
      const values = state[i];
      if (values === null) { this.buffers.delete(p); return; }
      if (values.length !== p.size) throw new Error(`momentum buffer ${i} has ${values.length} values, parameter has ${p.size}`);
      const buf = this.buffers.get(p) ?? emptyLike(p, p.shape, 'persistent');
      buf.set(values);
      this.buffers.set(p, buf);
    });
  }
}
