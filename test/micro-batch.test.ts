// Micro-batches: a batch run as several forward/backward passes whose gradients are accumulated
// gives the update of one batch (eval-mode batch norm, or micro-batch = batch), and the memory
// estimate that decides the micro-batch follows what the wasm kernel set really allocates.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelSet } from '../src/kernels/contract.js';
import { loadKernels } from '../src/kernels/select.js';
import { WASM_MEMORY_BYTES, chooseMicroBatch, estimateMemory, fittingEvalBatch } from '../src/models/memory.js';
import { type ResNet, createNet } from '../src/models/resnet.js';
import { crossEntropy } from '../src/ops/loss.js';
import { SGD } from '../src/optim/sgd.js';
import { Rng } from '../src/tensor/random.js';
import { fromArray } from '../src/tensor/tensor.js';
import { GradientAccumulator, microBatches } from '../src/train/accumulate.js';
import { REFERENCE, kernelSet } from './kernel-sets.js';

const N = 6, C = 3, H = 8, W = 8, CLASSES = 3;

function data() {
  const rng = new Rng(3);
  return { x: Float32Array.from({ length: N * C * H * W }, () => rng.normal()), labels: Int32Array.from({ length: N }, (_, i) => i % CLASSES) };
}

/** One SGD step on the batch, as micro-batches of `micro` images (accumulated) or as one batch. */
function step(net: ResNet, opt: SGD, kernels: KernelSet, micro: number | null): void {
  const { x, labels } = data();
  const per = C * H * W;
  if (micro === null) {
    crossEntropy(net.forward(fromArray(x, [N, C, H, W], { kernels })), labels).backward();
  } else {
    const acc = new GradientAccumulator(net.parameters());
    for (const [a, b] of microBatches(N, micro)) {
      crossEntropy(net.forward(fromArray(x.subarray(a * per, b * per), [b - a, C, H, W], { kernels })), labels.subarray(a, b)).backward();
      acc.add((b - a) / N);
    }
    acc.apply();
  }
  opt.step();
}

function weightsAfterTwoSteps(kernels: KernelSet, micro: number | null, evalBn: boolean): Float32Array[] {
  const net = createNet('resnet20', { width: 4, classes: CLASSES, seed: 5, kernels });
  if (evalBn) net.eval(); else net.train();
  const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  step(net, opt, kernels, micro);
  step(net, opt, kernels, micro);
  return [...net.stateDictArrays().values()].map((t) => Float32Array.from(t.data));
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    let scale = 1e-6;
    for (const v of b[i]!) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j]! - b[i]![j]!) / scale);
  });
  return worst;
}

describe('micro-batches', async () => {
  for (const kernels of [REFERENCE, await kernelSet('wasm, 2 threads')] as KernelSet[]) {
    it(`give the one-batch update with eval-mode batch norm (${kernels.name})`, () => {
      const whole = weightsAfterTwoSteps(kernels, null, true);
      for (const micro of [1, 2, 4]) {
        const d = maxRelDiff(weightsAfterTwoSteps(kernels, micro, true), whole);
        assert.ok(d < 1e-5, `micro-batch ${micro}: ${d}`);
      }
    });

    it(`of the whole batch give exactly the one-batch update in training mode (${kernels.name})`, () => {
      assert.deepEqual(weightsAfterTwoSteps(kernels, N, false), weightsAfterTwoSteps(kernels, null, false));
    });
  }

  it('split a batch into nearly equal parts', () => {
    assert.deepEqual(microBatches(256, 86).map(([a, b]) => b - a), [85, 86, 85]);
    assert.deepEqual(microBatches(6, 6), [[0, 6]]);
    assert.deepEqual(microBatches(5, 2).map(([a, b]) => b - a), [2, 1, 2]);
  });
});

describe('memory estimate', () => {
  it('covers what the wasm kernel set allocates for a training step, without overstating it by more than half', async () => {
    const kernels = await loadKernels({ backend: 'wasm' });
    const start = (kernels as unknown as { memoryBytes(): number }).memoryBytes();
    const batch = 32;
    const net = createNet('resnet20', { kernels, seed: 1 });
    const opt = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = new Float32Array(batch * 3 * 32 * 32).fill(0.5);
    for (let s = 0; s < 2; s++) {
      crossEntropy(net.forward(fromArray(x, [batch, 3, 32, 32], { kernels })), new Int32Array(batch)).backward();
      opt.step();
    }
    const used = (kernels as unknown as { memoryBytes(): number }).memoryBytes() - start;
    const estimate = estimateMemory('resnet20', {}, { batch, height: 32, width: 32 }).totalBytes;
    assert.ok(estimate >= used, `estimate ${estimate} < used ${used}`);
    assert.ok(estimate <= 1.5 * used + 128 * 2 ** 20, `estimate ${estimate} vs used ${used}`);
  });

  it('grows with the batch, and evaluation takes less than training', () => {
    const shape = { batch: 8, height: 224, width: 224 };
    const train8 = estimateMemory('resnet18', {}, shape);
    const train16 = estimateMemory('resnet18', {}, { ...shape, batch: 16 });
    // Nearly proportional: the arena's 16 MiB chunks and the reuse of released gradients' memory round it.
    assert.ok(train16.stepBytes > 1.75 * train8.stepBytes, `${train16.stepBytes} vs ${train8.stepBytes}`);
    assert.equal(train16.persistentBytes, train8.persistentBytes);
    assert.ok(estimateMemory('resnet18', {}, shape, 'eval').totalBytes < train8.totalBytes);
    // ResNet-18 has 11.7M parameters: weights and momentum are 2 × 46.8 MB, plus BN's running statistics.
    assert.ok(Math.abs(train8.persistentBytes - 2 * 11_689_512 * 4) < 0.01 * train8.persistentBytes);
  });

  it('ResNet-18 at batch 256 on 224-pixel images does not fit 4 GiB as one batch; a micro-batch does', () => {
    const shape = { batch: 256, height: 224, width: 224 };
    const budget = WASM_MEMORY_BYTES * 0.8;
    assert.ok(estimateMemory('resnet18', {}, shape).totalBytes > WASM_MEMORY_BYTES);
    const micro = chooseMicroBatch('resnet18', {}, shape, budget)!;
    assert.ok(micro >= 8 && micro < 256, `micro-batch ${micro}`);
    assert.ok(estimateMemory('resnet18', {}, { ...shape, batch: micro }, 'train', true).totalBytes <= budget);
    assert.equal(chooseMicroBatch('resnet20', {}, { batch: 128, height: 32, width: 32 }, budget), 128);
    const evalBatch = fittingEvalBatch('resnet50', {}, { batch: 2560, height: 224, width: 224 }, budget)!;
    assert.ok(evalBatch > 1 && evalBatch < 2560);
    assert.ok(estimateMemory('resnet50', {}, { batch: evalBatch, height: 224, width: 224 }, 'eval').totalBytes <= budget);
    assert.ok(estimateMemory('resnet50', {}, { batch: evalBatch + 1, height: 224, width: 224 }, 'eval').totalBytes > budget);
  });
});
