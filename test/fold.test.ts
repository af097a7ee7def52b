// Eval mode's batch norm folded into the conv before it (nn/layers.ts convBn), with a block's
// shortcut and ReLU in the conv's stores: the folded network gives the unfolded one's logits (on
// the reference in float64, and on the wasm sets), no batch norm pass is left, and the folded
// weights follow every change of the tensors they are made from (loaded weights, an optimizer
// step, running statistics of a training pass).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { Rng } from '../src/tensor/random.js';
import { type Tensor, fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import * as ops from '../src/ops/index.js';
import { SGD } from '../src/optim/sgd.js';
import { type ResNet, createNet } from '../src/models/resnet.js';
import { relMaxError } from './helpers.js';
import { KERNEL_SETS, kernelSet } from './kernel-sets.js';

const f64 = { kernels: refKernels as KernelSet, dtype: 'float64' as const };

function input(shape: number[], seed: number, placement: { kernels: KernelSet; dtype: 'float32' | 'float64' } = f64): Tensor {
  const rng = new Rng(seed);
  return fromArray(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape, placement);
}

/** Logits with batch norm folded (noGrad) and unfolded (gradients recorded, which folding skips). */
function bothWays(net: ResNet, x: Tensor): [Float64Array, Float64Array] {
  const folded = Float64Array.from(noGrad(() => net.forward(x)).toArray());
  const plain = Float64Array.from(net.forward(x).toArray());
  return [folded, plain];
}

/** Running statistics away from their 0 and 1 start, so that the fold has something to fold. */
function randomizeStatistics(net: ResNet, seed: number): void {
  const rng = new Rng(seed);
  for (const [key, t] of net.stateDict()) {
    if (key.endsWith('running_mean') || key.endsWith('bias')) t.set(Array.from({ length: t.size }, () => 0.3 * rng.normal()));
    if (key.endsWith('running_var') || (key.endsWith('weight') && t.shape.length === 1)) t.set(Array.from({ length: t.size }, () => 0.5 + rng.float()));
  }
}

describe('eval mode: batch norm folded into the conv weights', () => {
  for (const [name, options] of [['resnet20', { width: 4 }], ['resnet50', { width: 4, classes: 5 }]] as const) {
    it(`${name}: the folded forward gives the unfolded logits, before and after the weights change`, () => {
      const net = createNet(name, { ...options, ...f64, seed: 3 });
      randomizeStatistics(net, 4);
      net.eval();
      const x = input([2, 3, 32, 32], 5);
      const [a, b] = bothWays(net, x);
      assert.ok(relMaxError(a, b) < 1e-12, `folded differs by ${relMaxError(a, b)}`);

      // New running statistics (set): the cached fold must follow.
      randomizeStatistics(net, 6);
      const [c, d] = bothWays(net, x);
      assert.ok(relMaxError(c, d) < 1e-12, `after set(): folded differs by ${relMaxError(c, d)}`);
      assert.ok(relMaxError(c, a) > 1e-3, 'the new statistics changed nothing: the test would not see a stale fold');

      // A training pass (running statistics) and an SGD step (conv weights), then eval again.
      net.train();
      const loss = ops.crossEntropy(net.forward(x), [0, 1]);
      loss.backward();
      new SGD(net.parameters(), { lr: 0.5, momentum: 0.9 }).step();
      net.eval();
      const [e, f] = bothWays(net, x);
      assert.ok(relMaxError(e, f) < 1e-12, `after training: folded differs by ${relMaxError(e, f)}`);
      assert.ok(relMaxError(e, c) > 1e-3, 'training changed nothing: the test would not see a stale fold');
    });
  }

  it('conv2d with a bias, a residual or a ReLU refuses to record a gradient', () => {
    const x = input([1, 2, 4, 4], 1);
    const w = fromArray(new Float64Array(18), [1, 2, 3, 3], { ...f64, requiresGrad: true });
    assert.throws(() => ops.conv2d(x, w, { relu: true }), /inference.*noGrad/);
    assert.equal(noGrad(() => ops.conv2d(x, w, { relu: true, padding: 1 })).shape.join(), '1,1,4,4');
    const residual = fromArray(new Float64Array(16), [1, 1, 4, 4], { ...f64, requiresGrad: true });
    const w0 = fromArray(new Float64Array(18), [1, 2, 3, 3], f64);
    assert.throws(() => ops.conv2d(x, w0, { padding: 1, residual }), /inference.*noGrad/);
    assert.throws(() => noGrad(() => ops.conv2d(x, w0, { residual })), /residual/); // 2×2 output, 4×4 residual
  });

  it('a block ends in one conv: no batch norm pass, the shortcut added in the conv\'s stores', () => {
    const calls = { batchNormEval: 0, conv2d: 0, residual: 0 };
    const counting: typeof refKernels = {
      ...refKernels,
      batchNormEval: (p) => { calls.batchNormEval++; refKernels.batchNormEval(p); },
      conv2d: (p) => { calls.conv2d++; if (p.residual) calls.residual++; refKernels.conv2d(p); },
    };
    const placement = { kernels: counting as KernelSet, dtype: 'float64' as const };
    // [net, options, convs, blocks]: option A shortcuts (ResNet-20), projections (B) on basic and bottleneck blocks
    for (const [name, options, convs, blocks] of [
      ['resnet20', { width: 4 }, 19, 9], ['resnet18', { width: 4, classes: 5 }, 20, 8], ['resnet50', { width: 4, classes: 5 }, 53, 16],
    ] as const) {
      const net = createNet(name, { ...options, ...placement, seed: 1 });
      randomizeStatistics(net, 2);
      net.eval();
      Object.assign(calls, { batchNormEval: 0, conv2d: 0, residual: 0 });
      noGrad(() => net.forward(input([1, 3, 32, 32], 3, placement)));
      assert.deepEqual(calls, { batchNormEval: 0, conv2d: convs, residual: blocks }, name);
    }
  });
});

for (const { label } of KERNEL_SETS.slice(0, 2)) {
  const ks = await kernelSet(label);
  describe(`eval mode on the kernel set '${label}': folded and fused as the unfolded network`, () => {
    for (const [name, options] of [
      ['resnet20', { width: 4 }], ['resnet18', { width: 8, classes: 5 }], ['resnet50', { width: 4, classes: 5 }],
    ] as const) {
      it(`${name}: the folded forward gives the unfolded logits within float32 rounding`, () => {
        const placement = { kernels: ks as KernelSet, dtype: 'float32' as const };
        const net = createNet(name, { ...options, ...placement, seed: 3 });
        randomizeStatistics(net, 4);
        net.eval();
        const [a, b] = bothWays(net, input([2, 3, 32, 32], 5, placement));
        assert.ok(relMaxError(a, b) < 1e-4, `folded differs by ${relMaxError(a, b)}`);
        ks.endStep();
      });
    }
  });
}
