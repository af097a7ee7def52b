// `resnet predict` end to end on the committed photograph, with random weights.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { predictCommand } from '../src/cli/predict.js';
import { type Prediction, imagenetClasses, softmax, topK } from '../src/index.js';
import { IMAGENET_NORMALIZATION } from '../src/data/transforms.js';
import { normalizationMetadata } from '../src/eval/metadata.js';
import { createNet } from '../src/models/resnet.js';
import { saveWeights } from '../src/models/weights.js';
import { FIXTURES } from './helpers.js';

const PHOTO = join(FIXTURES, 'interop', 'photo.jpg');
const TINY_PTH = join(FIXTURES, 'interop', 'tiny_resnet18_w4.pth');

/** Runs a command, returning what it printed with console.log. */
async function run(argv: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(' '));
  try {
    await predictCommand.run([...argv, '--backend', 'ref']);
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

test('the bundled class list is torchvision’s 1000 ImageNet categories', () => {
  const classes = imagenetClasses();
  assert.equal(classes.length, 1000);
  assert.equal(classes[0], 'tench');
  assert.equal(classes[999], 'toilet tissue');
});

test('predict prints five ImageNet labels for the photo, net and preprocessing taken from the weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-predict-'));
  const weights = join(dir, 'narrow18.safetensors');
  // A narrow resnet18 with random weights: 1000 classes, so the ImageNet labels apply.
  saveWeights(weights, createNet('resnet18', { width: 8, seed: 5 }), normalizationMetadata(IMAGENET_NORMALIZATION));

  const text = await run(['--weights', weights, PHOTO]);
  const lines = text.split('\n');
  assert.equal(lines[0], PHOTO);
  assert.equal(lines.length, 6);
  const classes = new Set(imagenetClasses());
  for (const line of lines.slice(1)) {
    const m = /^\s+(\d+\.\d\d)%\s+(\d+)\s+(.+)$/.exec(line);
    assert.ok(m, `unexpected line '${line}'`);
    assert.ok(classes.has(m[3]!), `'${m[3]}' is not an ImageNet class`);
  }

  const json = JSON.parse(await run(['--weights', weights, '--json', '--top', '3', PHOTO, PHOTO])) as Prediction[];
  assert.equal(json.length, 2);
  assert.deepEqual(json[0], json[1]);
  assert.equal(json[0]!.top.length, 3);
  const p = json[0]!.top.map((t) => t.probability);
  assert.ok(p[0]! >= p[1]! && p[1]! >= p[2]! && p[0]! <= 1);
});

test('predict reads .pth weights with --net and net options', async () => {
  const text = await run(['--weights', TINY_PTH, '--net', 'resnet18', '--width', '4', '--classes', '10', PHOTO]);
  assert.match(text, /^\s+\d+\.\d\d%\s+\d+\s+class \d$/m); // 10 classes, no names
  await assert.rejects(run(['--weights', TINY_PTH, PHOTO]), /does not say which network it holds: pass net$/);
});

test('usage errors name the problem', async () => {
  await assert.rejects(run([PHOTO]), /predict needs --weights/);
  await assert.rejects(run(['--weights', TINY_PTH, '--net', 'resnet18']), /at least one image/);
  await assert.rejects(run(['--weights', TINY_PTH, '--net', 'resnet18', 'no-such.jpg']), /cannot read image 'no-such\.jpg': no such file/);
  const dir = mkdtempSync(join(tmpdir(), 'resnet-predict-'));
  const notImage = join(dir, 'x.jpg');
  writeFileSync(notImage, 'not a jpeg');
  await assert.rejects(run(['--weights', TINY_PTH, '--net', 'resnet18', '--width', '4', '--classes', '10', notImage]), /cannot decode .*x\.jpg/);
});

test('softmax and top-k', () => {
  const p = softmax([1000, 1001, 999]);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.deepEqual(topK(p, 2), [1, 0]);
  assert.deepEqual(topK([0.5, 0.5, 0.1], 3), [0, 1, 2]);
});
