// Weights on disk: a file written by resnet-ts loads back unchanged; strict loading.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { writeSafetensors } from '../src/io/safetensors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNet } from '../src/models/resnet.js';
import { loadNet, readWeights, saveWeights } from '../src/models/weights.js';

describe('weights files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-weights-'));

  it('round trip: every tensor, the network name and its options come back unchanged', () => {
    const net = createNet('resnet50', { width: 4, classes: 7, strideIn: '3x3', shortcut: 'C', seed: 9 });
    const path = join(dir, 'r50.safetensors');
    saveWeights(path, net);
    const file = readWeights(path);
    assert.equal(file.net, 'resnet50');
    assert.deepEqual(file.options, net.options);
    const back = loadNet(path);
    assert.deepEqual(back.options, net.options);
    const a = net.stateDictArrays();
    const b = back.stateDictArrays();
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [k, v] of a) assert.deepEqual(b.get(k)!.data, v.data, k);
  });

  it('strict loading lists missing, unexpected and mis-shaped keys together', () => {
    const net = createNet('resnet20', { width: 4 });
    const values = net.stateDictArrays();
    values.delete('bn1.running_var');
    values.set('extra.weight', { shape: [1], data: new Float32Array(1) });
    values.set('fc.bias', { shape: [11], data: new Float32Array(11) });
    assert.throws(() => net.loadStateDict(values), (e: Error) =>
      /missing keys \(1\): bn1\.running_var/.test(e.message) &&
      /unexpected keys \(1\): extra\.weight/.test(e.message) &&
      /mis-shaped keys \(1\): fc\.bias: expected \[10\], got \[11\]/.test(e.message));
  });

  it('a file without metadata needs the network name; unknown formats are named', () => {
    const net = createNet('resnet20', { width: 4 });
    const path = join(dir, 'plain.safetensors');
    writeFileSync(path, writeSafetensors(net.stateDictArrays()));
    assert.throws(() => loadNet(path), /does not say which network it holds: pass net$/);
    assert.equal(loadNet(path, 'resnet20', { width: 4 }).parameterCount(), net.parameterCount());
    writeFileSync(join(dir, 'x.onnx'), new Uint8Array(4));
    assert.throws(() => loadNet(join(dir, 'x.onnx'), 'resnet20'), /unknown weights format '\.onnx'/);
    assert.throws(() => loadNet(join(dir, 'missing.safetensors')), /cannot read weights .*missing\.safetensors': no such file or folder/);
  });
});
