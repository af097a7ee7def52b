// Network structure: exact parameter and multiply-accumulate counts, torchvision
// names, options, and the features/head split.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '../src/models/summary.js';
import { createNet } from '../src/models/resnet.js';
import { NET_NAMES, type NetName } from '../src/models/registry.js';
import { createCountingKernels } from '../src/kernels/count.js';
import { empty } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';

describe('parameter and multiply-accumulate counts', () => {
  // torchvision's published figures (option B, 224×224), and Table 6 of the paper (option A, 32×32).
  const known: [NetName, object, number, number | null][] = [
    ['resnet18', {}, 11_689_512, 1_814_073_344],
    ['resnet34', {}, 21_797_672, 3_663_761_408],
    ['resnet50', { strideIn: '3x3' }, 25_557_032, 4_089_184_256],
    ['resnet50', {}, 25_557_032, 3_857_973_248],
    ['resnet101', { strideIn: '3x3' }, 44_549_160, 7_801_405_440],
    ['resnet152', { strideIn: '3x3' }, 60_192_808, null], // torchvision lists 11.51 GFLOPS: checked below
    ['resnet20', {}, 269_722, null],
    ['resnet110', {}, 1_727_962, null],
    ['resnet1202', {}, 19_421_274, null],
  ];
  for (const [name, options, params, macs] of known) {
    it(`${name} ${JSON.stringify(options)}: ${params} parameters${macs ? `, ${macs} MACs` : ''}`, () => {
      const s = summarize(name, options);
      assert.equal(s.params, params);
      if (macs !== null) assert.equal(s.macs, macs);
      assert.equal(s.params, createNet(name, { ...options, kernels: createCountingKernels(), skipInit: true }).parameterCount());
    });
  }

  it('resnet152 (torchvision, 3x3): 11.51×10^9 multiply-adds', () => {
    assert.equal((summarize('resnet152', { strideIn: '3x3' }).macs / 1e9).toFixed(2), '11.51');
  });

  it('CIFAR family (Table 6): 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M', () => {
    const millions = (['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110', 'resnet1202'] as const)
      .map((n) => summarize(n).params / 1e6);
    assert.deepEqual(millions.map((m) => (m < 1 ? m.toFixed(2) : m.toFixed(1))), ['0.27', '0.46', '0.66', '0.85', '1.7', '19.4']);
  });

  it('plain nets have the same convs and no shortcut parameters', () => {
    assert.equal(summarize('plain20').params, summarize('resnet20').params); // option A has no parameters
    assert.equal(summarize('plain34').macs, summarize('resnet34', { shortcut: 'A' }).macs);
    assert.ok(summarize('resnet34').params > summarize('plain34').params); // B adds projections
  });

  it('Table 1 FLOPs: 3.6 (34), 3.8 (50), 7.6 (101), 11.3 (152) ×10^9 with the paper\'s 1×1 stride', () => {
    const g = (n: NetName) => (summarize(n).macs / 1e9).toFixed(1);
    assert.deepEqual(['resnet34', 'resnet50', 'resnet101', 'resnet152'].map((n) => g(n as NetName)), ['3.7', '3.9', '7.6', '11.3']);
  });

  it('stage output sizes follow Table 1', () => {
    const s = summarize('resnet50');
    assert.deepEqual(s.stages.map((st) => st.output), [[64, 56, 56], [256, 56, 56], [512, 28, 28], [1024, 14, 14], [2048, 7, 7], [1000]]);
    const c = summarize('resnet56');
    assert.deepEqual(c.stages.map((st) => st.output), [[16, 32, 32], [16, 32, 32], [32, 16, 16], [64, 8, 8], [10]]);
  });
});

describe('names and options', () => {
  it('torchvision state_dict keys', () => {
    const keys = [...createNet('resnet50', { skipInit: true, kernels: createCountingKernels() }).stateDict().keys()];
    assert.equal(keys[0], 'conv1.weight');
    assert.ok(keys.includes('bn1.num_batches_tracked'));
    assert.ok(keys.includes('layer1.0.downsample.0.weight'));
    assert.ok(keys.includes('layer4.2.bn3.running_var'));
    assert.equal(keys[keys.length - 1], 'fc.bias');
    assert.equal(keys.length, 320); // torchvision resnet50: 161 parameters + 159 buffers
  });

  it('option A has no downsample, C has one on every block, B only where the shape changes', () => {
    const count = (name: NetName, shortcut: 'A' | 'B' | 'C') => [...createNet(name, { shortcut, skipInit: true, kernels: createCountingKernels() }).stateDict().keys()]
      .filter((k) => k.endsWith('downsample.0.weight')).length;
    assert.equal(count('resnet20', 'A'), 0);
    assert.equal(count('resnet20', 'B'), 2);
    assert.equal(count('resnet20', 'C'), 9);
    assert.equal(count('resnet18', 'B'), 3);
    assert.equal(count('plain18', 'B'), 0);
  });

  it('every network builds and runs on the counting kernels', () => {
    for (const name of NET_NAMES) {
      const net = createNet(name, { skipInit: true, kernels: createCountingKernels() }).eval();
      const size = net.spec.family === 'imagenet' ? 64 : 32;
      const y = noGrad(() => net.forward(empty([2, 3, size, size], { kernels: net.conv1.weight.kernels })));
      assert.deepEqual(y.shape, [2, net.options.classes], name);
    }
  });

  it('strideIn moves the stride of a bottleneck from the 1×1 to the 3×3 conv', () => {
    const v1 = createNet('resnet50', { skipInit: true, kernels: createCountingKernels() });
    const v15 = createNet('resnet50', { strideIn: '3x3', skipInit: true, kernels: createCountingKernels() });
    const block = (n: typeof v1) => n.stages[1].blocks[0] as unknown as { conv1: { stride: number }; conv2: { stride: number } };
    assert.deepEqual([block(v1).conv1.stride, block(v1).conv2.stride], [2, 1]);
    assert.deepEqual([block(v15).conv1.stride, block(v15).conv2.stride], [1, 2]);
  });

  it('He initialization: conv weights have variance 2 / fan_out; BN γ = 1, β = 0', () => {
    const net = createNet('resnet20', { seed: 3 });
    const w = net.stages[2].blocks[1] as unknown as { conv1: { weight: { toArray(): ArrayLike<number> } } };
    const values = Array.from(w.conv1.weight.toArray());
    const variance = values.reduce((s, v) => s + v * v, 0) / values.length;
    const expected = 2 / (64 * 9);
    assert.ok(Math.abs(variance - expected) / expected < 0.05, `variance ${variance} vs ${expected}`);
    assert.ok(Array.from(net.bn1.weight.toArray()).every((v) => v === 1));
    assert.ok(Array.from(net.bn1.bias.toArray()).every((v) => v === 0));
  });

  it('zeroInitResidual zeroes γ of the last BN of every residual branch', () => {
    const net = createNet('resnet50', { zeroInitResidual: true, width: 4, classes: 3 });
    const sd = net.stateDict();
    assert.ok(Array.from(sd.get('layer2.1.bn3.weight')!.toArray()).every((v) => v === 0));
    assert.ok(Array.from(sd.get('layer2.1.bn2.weight')!.toArray()).every((v) => v === 1));
  });

  it('rejects bad options with a message naming them', () => {
    assert.throws(() => createNet('resnet20', { shortcut: 'D' as 'A' }), /shortcut must be A, B or C/);
    assert.throws(() => createNet('resnet20', { classes: 0 }), /classes must be a positive integer/);
    assert.throws(() => createNet('resnet19' as NetName), /unknown network 'resnet19'/);
  });
});
