// The `resnet` command as a user runs it: help, list, info, forward, and the errors.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNet } from '../src/models/resnet.js';
import { saveWeights } from '../src/models/weights.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { Rng } from '../src/tensor/random.js';
import { relMaxError } from './helpers.js';
import { runResnet } from './run-resnet.js';


function resnet(...args: string[]) {
  const r = runResnet(args, 60_000);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('resnet command line', () => {
  it('--help lists the commands', () => {
    const r = resnet('--help');
    assert.equal(r.code, 0);
    for (const c of ['list', 'info', 'forward']) assert.match(r.out, new RegExp(`\\n  ${c} `));
  });

  it('list names all 18 networks', () => {
    const r = resnet('list', '--json');
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.out).length, 18);
  });

  it("info prints Table 1's totals", () => {
    const r = resnet('info', 'resnet18');
    assert.equal(r.code, 0);
    assert.match(r.out, /total\s+11,689,512\s+1,814,073,344/);
    const j = JSON.parse(resnet('info', 'resnet50', '--stride-in', '3x3', '--json').out);
    assert.equal(j.macs, 4_089_184_256);
    const small = JSON.parse(resnet('info', 'resnet20', '--input', '64', '--json').out);
    assert.equal(small.macs, 4 * JSON.parse(resnet('info', 'resnet20', '--json').out).macs - 4 * 640 + 640);
  });

  it('errors name the problem and exit non-zero', () => {
    let r = resnet('info', 'resnet19');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown network 'resnet19'/);
    r = resnet('info', 'resnet20', '--shortcut', 'D');
    assert.match(r.err, /--shortcut must be A, B or C/);
    r = resnet('info', 'resnet20', '--bogus');
    assert.match(r.err, /bogus/);
    r = resnet('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'frobnicate'/);
  });

  describe('forward', () => {
    let dir = '';
    let expected: ArrayLike<number> = [];
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'resnet-cli-'));
      const net = createNet('resnet20', { width: 4, classes: 5, seed: 2 }).eval();
      saveWeights(join(dir, 'w.safetensors'), net);
      const rng = new Rng(4);
      const x = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.normal());
      writeFileSync(join(dir, 'x.npy'), writeNpy({ dtype: '<f4', shape: [2, 3, 16, 16], data: x }));
      writeFileSync(join(dir, 'bad.npy'), writeNpy({ dtype: '<f4', shape: [2, 1, 16, 16], data: x.subarray(0, 512) }));
      expected = noGrad(() => net.forward(fromArray(x, [2, 3, 16, 16]))).toArray();
    });

    it('writes the logits of a weights file written by resnet-ts, no flags needed', () => {
      const r = resnet('forward', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy'),
        '--output', join(dir, 'y.npy'), '--backend', 'ref');
      assert.equal(r.code, 0, r.err);
      const y = readNpy(readFileSync(join(dir, 'y.npy')));
      assert.deepEqual(y.shape, [2, 5]);
      assert.ok(relMaxError(y.data as Float32Array, expected) < 1e-6);
    });

    it('rejects a missing weights file, a wrong input shape and options that do not fit the weights', () => {
      let r = resnet('forward', '--weights', join(dir, 'none.safetensors'), '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref');
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot read weights .*none\.safetensors': no such file or folder/);
      r = resnet('forward', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'bad.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref');
      assert.match(r.err, /expected an array \[n, 3, height, width\], got \[2, 1, 16, 16\]/);
      r = resnet('forward', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref', '--classes', '7');
      assert.match(r.err, /mis-shaped keys \(2\): fc\.weight: expected \[7, 16\], got \[5, 16\]/);
      r = resnet('forward', '--weights', join(dir, 'w.safetensors'), '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref', '--shortcut', 'B');
      assert.match(r.err, /missing keys \(\d+\): layer2\.0\.downsample\.0\.weight/);
    });
  });
});
