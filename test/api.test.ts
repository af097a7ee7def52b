// The library as the README shows it: one training step, evaluation, saving, reloading.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SGD, createNet, crossEntropy, fromArray, loadKernels, loadNet, noGrad, saveWeights, summarize } from '../src/index.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const INDEX = pathToFileURL(fileURLToPath(new URL('../src/index.js', import.meta.url))).href;

describe('the public API', () => {
  it("the README's library example runs as it is written, in a process of its own", () => {
    const text = readFileSync(README, 'utf8');
    const section = text.slice(text.indexOf('### The library'));
    const code = section.slice(section.indexOf('```ts\n') + 6, section.indexOf('\n```', section.indexOf('```ts\n')));
    assert.match(code, /from 'resnet-ts'/);
    const dir = mkdtempSync(join(tmpdir(), 'resnet-readme-'));
    writeFileSync(join(dir, 'example.mjs'), code.replace("from 'resnet-ts'", `from '${INDEX}'`));
    const r = spawnSync(process.execPath, [join(dir, 'example.mjs')], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^loss \d+\.\d+\nlogits \[ 8, 10 \]\n$/);
    assert.ok(existsSync(join(dir, 'resnet20.safetensors')));
  });

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
