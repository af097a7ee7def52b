// Every op's backward pass against central finite differences, in float64 on the
// reference kernels. The loss is Σ out ⊙ r for a fixed random r, so every output
// element's gradient is exercised.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { Rng } from '../src/tensor/random.js';
import { type Tensor, fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import * as ops from '../src/ops/index.js';
import { createNet } from '../src/models/resnet.js';

const kernels = refKernels as KernelSet;
const f64 = { kernels, dtype: 'float64' as const };

function randomTensor(shape: number[], rng: Rng, requiresGrad = true, offset = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return fromArray(Float64Array.from({ length: n }, () => rng.normal() + offset), shape, { ...f64, requiresGrad });
}

/** Checks d(Σ f(inputs) ⊙ r)/d input against central differences for every input that requires a gradient. */
function gradcheck(f: (inputs: Tensor[]) => Tensor, inputs: Tensor[], tolerance = 1e-6): void {
  const rng = new Rng(99);
  const out0 = f(inputs);
  const r = randomTensor([...out0.shape], rng, false);
  const objective = (): number => noGrad(() => ops.sum(ops.mul(f(inputs), r)).item());
  ops.sum(ops.mul(out0, r)).backward();
  const h = 1e-6;
  for (const [which, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    assert.ok(x.grad, `input ${which} got no gradient`);
    const analytic = x.grad.toArray();
    const values = x.toArray();
    let worst = 0;
    let scale = 1e-3;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      values[i] = v + h; x.set(values); const up = objective();
      values[i] = v - h; x.set(values); const down = objective();
      values[i] = v; x.set(values);
      const numeric = (up - down) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - analytic[i]));
      scale = Math.max(scale, Math.abs(numeric));
    }
    assert.ok(worst / scale <= tolerance, `input ${which}: analytic and numeric gradients differ by ${worst} (scale ${scale})`);
    x.grad = null;
  }
}

describe('finite-difference gradient checks (float64, reference kernels)', () => {
  const rng = new Rng(1);

  const convCases = [
    { name: '3×3 stride 1 pad 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], o: { stride: 1, padding: 1 } },
    { name: '3×3 stride 2 pad 1', x: [2, 2, 6, 5], w: [3, 2, 3, 3], o: { stride: 2, padding: 1 } },
    { name: '1×1 stride 2', x: [1, 3, 5, 5], w: [2, 3, 1, 1], o: { stride: 2 } },
    { name: '7×7 stride 2 pad 3', x: [1, 2, 9, 9], w: [2, 2, 7, 7], o: { stride: 2, padding: 3 } },
    { name: '3×3 dilation 2 pad 2', x: [1, 2, 7, 7], w: [2, 2, 3, 3], o: { padding: 2, dilation: 2 } },
  ];
  for (const c of convCases) {
    it(`conv2d ${c.name}`, () => gradcheck(([x, w]) => ops.conv2d(x, w, c.o), [randomTensor(c.x, rng), randomTensor(c.w, rng)]));
  }

  it('batchNorm, training mode', () => {
    const [rm, rv] = [randomTensor([3], rng, false), randomTensor([3], rng, false, 3)];
    gradcheck(([x, g, b]) => ops.batchNorm(x, g, b, rm, rv, { training: true }),
      [randomTensor([3, 3, 2, 3], rng), randomTensor([3], rng), randomTensor([3], rng)]);
  });

  it('batchNorm, eval mode (running statistics)', () => {
    const [rm, rv] = [randomTensor([3], rng, false), randomTensor([3], rng, false, 3)];
    gradcheck(([x, g, b]) => ops.batchNorm(x, g, b, rm, rv, { training: false }),
      [randomTensor([2, 3, 2, 2], rng), randomTensor([3], rng), randomTensor([3], rng)]);
  });

  it('batchNorm + ReLU', () => {
    const [rm, rv] = [randomTensor([2], rng, false), randomTensor([2], rng, false, 3)];
    gradcheck(([x, g, b]) => ops.batchNorm(x, g, b, rm, rv, { training: true, relu: true }),
      [randomTensor([2, 2, 3, 3], rng), randomTensor([2], rng), randomTensor([2], rng)]);
  });

  it('batchNorm + residual + ReLU (the end of a residual block, one kernel each way)', () => {
    const [rm, rv] = [randomTensor([2], rng, false), randomTensor([2], rng, false, 3)];
    gradcheck(([x, g, b, r]) => ops.batchNorm(x, g, b, rm, rv, { training: true, residual: r, relu: true }),
      [randomTensor([2, 2, 3, 3], rng), randomTensor([2], rng), randomTensor([2], rng), randomTensor([2, 2, 3, 3], rng)]);
  });

  it('batchNorm + residual, no ReLU', () => {
    const [rm, rv] = [randomTensor([2], rng, false), randomTensor([2], rng, false, 3)];
    gradcheck(([x, g, b, r]) => ops.batchNorm(x, g, b, rm, rv, { training: true, residual: r }),
      [randomTensor([2, 2, 2, 3], rng), randomTensor([2], rng), randomTensor([2], rng), randomTensor([2, 2, 2, 3], rng)]);
  });

  it('batchNorm whose output feeds several ops (its backward adds two gradient terms itself, the tape the third)', () => {
    const [rm, rv] = [randomTensor([2], rng, false), randomTensor([2], rng, false, 3)];
    const uses = (y: Tensor): Tensor => ops.add(ops.scale(y, -1.5), ops.mul(y, y));
    gradcheck(([x, g, b, r]) => uses(ops.batchNorm(x, g, b, rm, rv, { training: true, residual: r, relu: true })),
      [randomTensor([2, 2, 3, 3], rng), randomTensor([2], rng), randomTensor([2], rng), randomTensor([2, 2, 3, 3], rng)]);
    gradcheck(([x, g, b]) => uses(ops.batchNorm(x, g, b, rm, rv, { training: true })),
      [randomTensor([2, 2, 2, 3], rng), randomTensor([2], rng), randomTensor([2], rng)]);
  });

  it('batchNorm eval mode + residual + ReLU', () => {
    const [rm, rv] = [randomTensor([2], rng, false), randomTensor([2], rng, false, 3)];
    gradcheck(([x, g, b, r]) => ops.batchNorm(x, g, b, rm, rv, { training: false, residual: r, relu: true }),
      [randomTensor([2, 2, 2, 2], rng), randomTensor([2], rng), randomTensor([2], rng), randomTensor([2, 2, 2, 2], rng)]);
  });

  it('relu', () => gradcheck(([x]) => ops.relu(x), [randomTensor([2, 3, 4, 4], rng)]));
  it('add', () => gradcheck(([a, b]) => ops.add(a, b), [randomTensor([2, 3, 2, 2], rng), randomTensor([2, 3, 2, 2], rng)]));
  it('mul', () => gradcheck(([a, b]) => ops.mul(a, b), [randomTensor([2, 5], rng), randomTensor([2, 5], rng)]));
  it('scale', () => gradcheck(([x]) => ops.scale(x, -2.5), [randomTensor([7], rng)]));
  it('sum', () => gradcheck(([x]) => ops.sum(x), [randomTensor([3, 4], rng)]));
  it('maxPool2d 3×3 stride 2 pad 1', () =>
    gradcheck(([x]) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), [randomTensor([2, 2, 7, 6], rng)]));
  it('globalAvgPool', () => gradcheck(([x]) => ops.globalAvgPool(x), [randomTensor([2, 3, 3, 4], rng)]));
  it('linear', () => gradcheck(([x, w, b]) => ops.linear(x, w, b), [randomTensor([3, 5], rng), randomTensor([4, 5], rng), randomTensor([4], rng)]));
  it('shortcutA stride 2, channels doubled', () => gradcheck(([x]) => ops.shortcutA(x, 4, 2), [randomTensor([2, 2, 5, 5], rng)]));
  it('shortcutA stride 1, channels widened', () => gradcheck(([x]) => ops.shortcutA(x, 5, 1), [randomTensor([1, 3, 3, 3], rng)]));
  it('crossEntropy', () => {
    const labels = [1, 0, 3];
    gradcheck(([x]) => ops.crossEntropy(x, labels), [randomTensor([3, 4], rng)]);
  });

  it('a whole residual network (narrow resnet20, option A, train mode)', () => {
    const net = createNet('resnet20', { width: 2, classes: 3, ...f64, seed: 5 }).train();
    const params = net.parameters().filter((p) => p.shape.length !== 4 || p.size <= 60); // BN, fc and the stem conv
    const x = randomTensor([2, 3, 6, 6], rng, false);
    gradcheck(() => ops.crossEntropy(net.forward(x), [0, 2]), params, 1e-5);
  });
});
