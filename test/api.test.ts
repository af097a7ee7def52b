// The library as the README shows it: one training step, evaluation, saving, reloading.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SGD, createNet, crossEntropy, fromArray, loadKernels, loadNet, noGrad, saveWeights, summarize } from '../src/index.js';

describe('the public API', () => {
  for (const backend of ['ref', 'wasm'] as const) {
    it(`the README example runs on the ${backend} kernel set`, async () => {
      const images = Float32Array.from({ length: 4 * 3 * 16 * 16 }, (_, i) => Math.cos(i));
      const labels = [0, 1, 2, 3];
      const kernels = await loadKernels({ backend });
      const net = createNet('resnet20', { kernels, width: 4 });
      const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
      const x = fromArray(images, [4, 3, 16, 16], { kernels });
      const loss = crossEntropy(net.train().forward(x), labels);
      loss.backward();
      opt.step();
      assert.ok(Number.isFinite(loss.item()) && loss.item() > 0);
      const logits = noGrad(() => net.eval().forward(fromArray(images, [4, 3, 16, 16], { kernels })));
      assert.deepEqual(logits.shape, [4, 10]);
      const path = join(mkdtempSync(join(tmpdir(), 'resnet-api-')), 'r20.safetensors');
      saveWeights(path, net);
      const back = loadNet(path, undefined, { kernels }).eval();
      const again = noGrad(() => back.forward(fromArray(images, [4, 3, 16, 16], { kernels })));
      assert.deepEqual(Array.from(again.toArray()), Array.from(logits.toArray()));
      assert.equal(summarize('resnet20').params, 269_722);
    });
  }

  it('a tensor of a finished training step cannot be used on the wasm set, and the error says what to do', async () => {
    const kernels = await loadKernels({ backend: 'wasm' });
    const net = createNet('resnet20', { kernels, width: 4 });
    const opt = new SGD(net.parameters(), { lr: 0.1 });
    const x = fromArray(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8], { kernels });
    crossEntropy(net.train().forward(x), [0, 1]).backward();
    opt.step();
    fromArray(new Float32Array(1), [1], { kernels }); // the next step begins: the old one's memory is reused
    assert.throws(() => x.toArray(), /freed at the end of a training step.*persistent/);
  });
});
