// Memory that is given back before the step ends: under noGrad each activation's buffer is
// released once the block (or stage) that read it returns, so a deep network's forward pass holds
// a few maps at once, not all of them (measured by the wasm set's own allocator, not by time);
// released buffers are refused afterwards; the WebAssembly memory grows up to its maximum.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad } from '../src/autograd/tape.js';
import { createWasmKernels } from '../src/kernels/wasm/index.js';
import { PAGE, WasmMemory } from '../src/kernels/wasm/memory.js';
import { createNet } from '../src/models/resnet.js';
import type { NetName } from '../src/models/registry.js';
import { fromArray, release, scoped } from '../src/tensor/tensor.js';
import * as ops from '../src/ops/index.js';

const kernels = await createWasmKernels({ threads: 1 });
after(() => kernels.dispose());

/** The most bytes of step buffers alive at once during one forward pass of `net` on [batch, 3, size, size]. */
function peakForward(name: NetName, batch: number, size: number, grad: boolean, options = {}): number {
  const net = createNet(name, { kernels, seed: 1, ...options }).eval();
  const x = fromArray(new Float32Array(batch * 3 * size * size).fill(0.25), [batch, 3, size, size], { kernels });
  kernels.resetPeak();
  const before = kernels.stepMemory().liveBytes;
  if (grad) net.train().forward(x);
  else noGrad(() => net.forward(x));
  const peak = kernels.stepMemory().peakBytes - before;
  kernels.endStep();
  return peak;
}

describe('inference memory: activations released once read', () => {
  it('a CIFAR net\'s forward pass under noGrad holds the same few maps at any depth', () => {
    const map = 4 * 16 * 32 * 32 * 4; // one stage-1 activation at batch 4, in bytes
    const peak20 = peakForward('resnet20', 4, 32, false);
    const peak110 = peakForward('resnet110', 4, 32, false);
    assert.equal(peak110, peak20, `ResNet-110 holds ${peak110} bytes at once, ResNet-20 ${peak20}`);
    assert.ok(peak20 <= 6 * map, `ResNet-20 holds ${peak20 / map} stage-1 maps at once`);
    // The measure sees what a recorded forward pass keeps for its backward pass: every map.
    const kept20 = peakForward('resnet20', 4, 32, true);
    const kept110 = peakForward('resnet110', 4, 32, true);
    assert.ok(kept20 > 3 * peak20 && kept110 > 4 * kept20, `recorded: ${kept20} and ${kept110} bytes`);
  });

  it('ResNet-50\'s forward pass under noGrad holds a few of its largest maps, not all of them', () => {
    const largest = 2 * 256 * 16 * 16 * 4; // layer1's output at batch 2 on 64-pixel images, in bytes
    const peak = peakForward('resnet50', 2, 64, false, { classes: 10 });
    const kept = peakForward('resnet50', 2, 64, true, { classes: 10 });
    assert.ok(peak <= 6 * largest, `ResNet-50 holds ${peak / largest} of its largest maps at once`);
    assert.ok(kept > 5 * peak, `recorded ${kept} vs released ${peak} bytes`);
  });

  it('a released tensor is refused; scoped() keeps what it returns and frees what it is told to', () => {
    const a = fromArray([1, -2, 3], [3], { kernels });
    const b = noGrad(() => scoped(() => ops.relu(ops.scale(a, 2)), [a]));
    assert.deepEqual(Array.from(b.toArray()), [2, 0, 6]);
    assert.throws(() => a.toArray(), /after free/);
    release(b);
    assert.throws(() => b.toArray(), /after free/);
    // With gradients recorded nothing is released: the backward pass needs it.
    const c = fromArray([1, 2], [2], { kernels, requiresGrad: true });
    const d = scoped(() => ops.scale(c, 3), [c]);
    assert.deepEqual(Array.from(c.toArray()), [1, 2]);
    d.backward(fromArray([1, 1], [2], { kernels }));
    assert.deepEqual(Array.from(c.grad!.toArray()), [3, 3]);
    kernels.endStep();
  });
});

describe('WebAssembly memory growth', () => {
  it('grows by an eighth where it can, only to the maximum near it, and refuses a request past it', () => {
    const maxPages = 80;
    const mem = new WasmMemory(false, 64 * PAGE, maxPages); // the heap starts after the first page: 63 free
    mem.allocBytes(60 * PAGE);
    mem.allocBytes(10 * PAGE); // needs 7 more pages: grows by an eighth, 8, to 72
    assert.equal(mem.byteLength, 72 * PAGE);
    // 1 page free, 8 to the maximum: 9 pages fit, though an eighth more (9) would pass the maximum.
    mem.allocBytes(9 * PAGE);
    assert.equal(mem.byteLength, maxPages * PAGE);
    assert.throws(() => mem.allocBytes(PAGE), /out of memory .*smaller batch/);
  });
});
