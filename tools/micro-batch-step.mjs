#!/usr/bin/env node
// Opt-in check (minutes on 2 cores, too slow for the suite): ResNet-18 at the ImageNet recipe's
// batch of 256 on 224×224 images takes one SGD step on the wasm kernel set without running out of
// its 4 GiB, as micro-batches chosen from the memory estimate. Prints the plan, the wasm memory
// used and the time. Run after `npm run build`:  node tools/micro-batch-step.mjs [batch]

import { loadKernels } from '../dist/src/kernels/select.js';
import { chooseMicroBatch, estimateMemory, formatBytes, memoryBudget } from '../dist/src/models/memory.js';
import { createNet } from '../dist/src/models/resnet.js';
import { crossEntropy } from '../dist/src/ops/loss.js';
import { SGD } from '../dist/src/optim/sgd.js';
import { fromArray } from '../dist/src/tensor/tensor.js';
import { GradientAccumulator, microBatches } from '../dist/src/train/accumulate.js';

const batch = Number(process.argv[2] ?? 256);
const side = 224;
const kernels = await loadKernels({ backend: 'wasm' });
const budget = memoryBudget(kernels);
const whole = estimateMemory('resnet18', {}, { batch, height: side, width: side });
const micro = chooseMicroBatch('resnet18', {}, { batch, height: side, width: side }, budget);
console.log(`one batch of ${batch}: ${formatBytes(whole.totalBytes)} estimated; budget ${formatBytes(budget)}; micro-batch ${micro}`);
if (micro === null) throw new Error('not even one image fits');

const net = createNet('resnet18', { kernels, seed: 0 }).train();
const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
const per = 3 * side * side;
const x = Float32Array.from({ length: batch * per }, (_, i) => Math.sin(i) * 0.5);
const labels = Int32Array.from({ length: batch }, (_, i) => i % 1000);
const started = performance.now();
const acc = micro < batch ? new GradientAccumulator(net.parameters()) : null;
let loss = 0;
for (const [a, b] of microBatches(batch, micro)) {
  const l = crossEntropy(net.forward(fromArray(x.subarray(a * per, b * per), [b - a, 3, side, side], { kernels })), labels.subarray(a, b));
  loss += (l.item() * (b - a)) / batch;
  l.backward();
  acc?.add((b - a) / batch);
}
acc?.apply();
opt.step();
const seconds = (performance.now() - started) / 1000;
console.log(`step done: loss ${loss.toFixed(4)}, ${seconds.toFixed(1)} s, wasm memory ${formatBytes(kernels.memoryBytes())} ` +
  `(estimate for the micro-batch ${formatBytes(estimateMemory('resnet18', {}, { batch: micro, height: side, width: side }, 'train', acc !== null).totalBytes)})`);
kernels.dispose?.();
