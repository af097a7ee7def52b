// `resnet import` of weights made elsewhere assumes torchvision's layout (issue 13, "What was met"
// item 3): a bottleneck net's 3×3 conv strides unless --stride-in says otherwise, the assumption is
// said, and the written file records the options, so its logits are those of the original net.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../src/autograd/tape.js';
import { importCommand } from '../src/cli/import.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { createNet } from '../src/models/resnet.js';
import { loadNet } from '../src/models/weights.js';
import { Rng } from '../src/tensor/random.js';
import { fromArray } from '../src/tensor/tensor.js';

it("import of a bottleneck net without metadata assumes torchvision's --stride-in 3x3, says so and records it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-import-'));
  const original = createNet('resnet50', { width: 4, classes: 10, strideIn: '3x3', seed: 3 }).eval();
  const source = join(dir, 'torchvision_like.safetensors');
  writeFileSync(source, writeSafetensors(original.stateDictArrays(), {})); // no resnet-ts metadata, like a .pth
  const rng = new Rng(1);
  const x = Float32Array.from({ length: 2 * 3 * 64 * 64 }, () => rng.normal());
  const logits = (net: ReturnType<typeof createNet>) => Array.from(noGrad(() => net.eval().forward(fromArray(x, [2, 3, 64, 64]))).toArray());

  const messages: string[] = [];
  const quiet = console.error;
  console.error = (...a: unknown[]) => { messages.push(a.join(' ')); };
  try {
    const assumed = join(dir, 'assumed.safetensors');
    await importCommand.run([source, '--net', 'resnet50', '--width', '4', '--classes', '10', '--out', assumed]);
    assert.match(messages.join('\n'), /assuming torchvision's layout: the 3×3 conv of each bottleneck strides \(--stride-in 3x3\)/);
    assert.equal(JSON.parse(readSafetensors(new Uint8Array(readFileSync(assumed))).metadata.options!).strideIn, '3x3');
    assert.deepEqual(logits(loadNet(assumed)), logits(original));

    messages.length = 0;
    const paper = join(dir, 'paper.safetensors');
    await importCommand.run([source, '--net', 'resnet50', '--width', '4', '--classes', '10', '--stride-in', '1x1', '--out', paper]);
    assert.doesNotMatch(messages.join('\n'), /assuming/);
    assert.equal(JSON.parse(readSafetensors(new Uint8Array(readFileSync(paper))).metadata.options!).strideIn, '1x1');
    assert.notDeepEqual(logits(loadNet(paper)), logits(original));
  } finally {
    console.error = quiet;
  }
});
