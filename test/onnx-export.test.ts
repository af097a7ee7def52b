// ONNX export: the exported graph, run by onnxruntime-node (CPU), gives our engine's eval logits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../src/autograd/tape.js';
import { decodeModel } from '../src/io/onnx-proto.js';
import { BatchNorm2d } from '../src/nn/layers.js';
import { exportOnnx, OPSET, type OnnxExportOptions } from '../src/models/onnx-export.js';
import { createNet, type CreateOptions, type ResNet } from '../src/models/resnet.js';
import type { NetName } from '../src/models/registry.js';
import { Rng } from '../src/tensor/random.js';
import { fromArray } from '../src/tensor/tensor.js';
import { relMaxError } from './helpers.js';

/** A network with random BN statistics and affine parameters, so that folding them matters. */
function randomNet(name: NetName, options: CreateOptions): ResNet {
  const net = createNet(name, { seed: 3, ...options });
  const rng = new Rng(11);
  const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.float());
  for (const [, m] of net.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    m.weight.set(uniform(m.channels, 0.5, 1.5));
    m.bias.set(uniform(m.channels, -0.2, 0.2));
    m.runningMean.set(uniform(m.channels, -0.2, 0.2));
    m.runningVar.set(uniform(m.channels, 0.5, 2));
  }
  return net.eval();
}

function randomInput(n: number, c: number, h: number, w: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * c * h * w }, () => rng.float() * 2 - 1);
}

async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run({ input: new ort.Tensor('float32', input, dims) });
  return result.logits!.data as Float32Array;
}

async function checkAgainstEngine(net: ResNet, options: OnnxExportOptions, batches: number[]) {
  const bytes = exportOnnx(net, options);
  const [h, w] = options.inputSize;
  for (const n of batches) {
    const input = randomInput(n, net.options.inChannels, h, w, 100 + n);
    const dims = [n, net.options.inChannels, h, w];
    const ours = noGrad(() => Float32Array.from(net.forward(fromArray(input, dims)).toArray()));
    const theirs = await runOnnx(bytes, input, dims);
    assert.equal(theirs.length, n * net.options.classes);
    const err = relMaxError(theirs, ours);
    assert.ok(err <= 1e-4, `${net.name} batch ${n} (${options.batch}): relative max error ${err}`);
  }
  return bytes;
}

test('resnet20 (CIFAR, option A) exported with a fixed batch matches the engine', async () => {
  const net = randomNet('resnet20', { shortcut: 'A' });
  const bytes = await checkAgainstEngine(net, { batch: 2, inputSize: [32, 32] }, [2]);
  const model = decodeModel(bytes);
  assert.equal(model.opsetImport[0]!.version, OPSET);
  const ops = new Set(model.graph.node.map((n) => n.opType));
  assert.deepEqual([...ops].sort(), ['Add', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'Pad', 'Relu', 'Slice']);
  assert.deepEqual(model.graph.input[0]!.type.tensorType.shape.dim[0], { dimValue: 2 });
});

test('resnet20 (option A) with a dynamic batch runs at batch 1 and 3', async () => {
  const net = randomNet('resnet20', { shortcut: 'A' });
  const bytes = await checkAgainstEngine(net, { batch: 'dynamic', inputSize: [32, 32] }, [1, 3]);
  const dim = decodeModel(bytes).graph.input[0]!.type.tensorType.shape.dim[0]!;
  assert.deepEqual(dim, { dimParam: 'batch' });
});

test('a narrow resnet18 (ImageNet, option B) matches, fixed and dynamic batch', async () => {
  const net = randomNet('resnet18', { shortcut: 'B', width: 8, classes: 17 });
  await checkAgainstEngine(net, { batch: 2, inputSize: [64, 48] }, [2]);
  await checkAgainstEngine(net, { batch: 'dynamic', inputSize: [64, 48] }, [1, 2]);
});

test('BatchNormalization nodes instead of folding give the same logits', async () => {
  const net = randomNet('resnet18', { shortcut: 'B', width: 8, classes: 5 });
  const bytes = await checkAgainstEngine(net, { batch: 1, inputSize: [40, 40], foldBatchNorm: false }, [1]);
  assert.ok(decodeModel(bytes).graph.node.some((n) => n.opType === 'BatchNormalization'));
});

test('bottleneck nets with option A (channel padding without subsampling) and C, and plain nets', async () => {
  const a = randomNet('resnet50', { shortcut: 'A', width: 4, classes: 6, strideIn: '3x3' });
  await checkAgainstEngine(a, { batch: 'dynamic', inputSize: [48, 48] }, [1]);
  const c = randomNet('resnet20', { shortcut: 'C' });
  await checkAgainstEngine(c, { batch: 1, inputSize: [32, 32] }, [1]);
  const plain = randomNet('plain20', {});
  const bytes = await checkAgainstEngine(plain, { batch: 1, inputSize: [32, 32] }, [1]);
  assert.ok(!decodeModel(bytes).graph.node.some((n) => n.opType === 'Add'));
});

test('metadata records the network and its options', () => {
  const net = randomNet('resnet20', {});
  const model = decodeModel(exportOnnx(net, { batch: 1, inputSize: [32, 32], metadata: { preprocess: 'x' } }));
  const props = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
  assert.equal(props.net, 'resnet20');
  assert.equal(JSON.parse(props.options!).shortcut, 'A');
  assert.equal(props.preprocess, 'x');
  assert.throws(() => exportOnnx(net, { batch: 0, inputSize: [32, 32] }), /batch must be/);
});
