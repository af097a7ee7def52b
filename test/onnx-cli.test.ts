// `resnet import` then `resnet export`: a torchvision-layout .pth becomes an ONNX model that
// onnxruntime runs to the same logits as PyTorch recorded for it.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { exportCommand } from '../src/cli/export.js';
import { importCommand } from '../src/cli/import.js';
import { decodeModel } from '../src/io/onnx-proto.js';
import { readNpy, toFloat32 } from '../src/io/npy.js';
import { FIXTURES, relMaxError } from './helpers.js';

const DIR = join(FIXTURES, 'interop');

async function quietly(fn: () => Promise<void>): Promise<void> {
  const error = console.error;
  console.error = () => {};
  try {
    await fn();
  } finally {
    console.error = error;
  }
}

test('import a .pth with --net, export it with a dynamic batch: onnxruntime gives PyTorch’s logits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-export-'));
  const weights = join(dir, 'tiny.safetensors');
  const onnx = join(dir, 'tiny.onnx');
  await quietly(() => importCommand.run([join(DIR, 'tiny_resnet18_w4.pth'), '--out', weights, '--net', 'resnet18', '--width', '4', '--classes', '10']));
  // No network flags: they come from the metadata import wrote.
  await quietly(() => exportCommand.run(['--weights', weights, '--onnx', onnx, '--input-size', '32']));

  const model = decodeModel(new Uint8Array(readFileSync(onnx)));
  const props = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
  assert.equal(props.net, 'resnet18');
  assert.deepEqual(JSON.parse(props.view!), { resize: 256, crop: 224 });
  assert.equal(JSON.parse(props.normalization!).kind, 'channel');

  const input = readNpy(new Uint8Array(readFileSync(join(DIR, 'tiny_resnet18_w4_input.npy'))));
  const expected = toFloat32(readNpy(new Uint8Array(readFileSync(join(DIR, 'tiny_resnet18_w4_logits.npy')))));
  const session = await ort.InferenceSession.create(onnx);
  const out = await session.run({ input: new ort.Tensor('float32', toFloat32(input), input.shape) });
  const logits = out.logits!.data as Float32Array;
  assert.ok(relMaxError(logits, expected) < 1e-4, `relative error ${relMaxError(logits, expected)}`);
});

test('export usage errors', async () => {
  await assert.rejects(exportCommand.run(['--onnx', 'x.onnx']), /export needs --weights/);
  await assert.rejects(exportCommand.run(['--weights', join(DIR, 'tiny_resnet18_w4.pth')]), /export needs --onnx/);
  await assert.rejects(exportCommand.run(['--weights', join(DIR, 'tiny_resnet18_w4.pth'), '--onnx', 'x.onnx', '--batch', '0']), /--batch must be a whole number ≥ 1, got '0'/);
});
