// One workload on one of our kernel sets, in this process: random weights and data, then
// the timed steps. A training step is forward, loss, backward and an SGD step (the paper's
// settings: momentum 0.9, weight decay 1e-4); an eval step is a forward pass in eval mode.

import { noGrad } from '../autograd/tape.js';
import type { KernelSet } from '../kernels/contract.js';
import { createNet } from '../models/resnet.js';
import { crossEntropy } from '../ops/index.js';
import { SGD } from '../optim/sgd.js';
import { endStep } from '../tensor/engine.js';
import { Rng } from '../tensor/random.js';
import { fromArray } from '../tensor/tensor.js';
import type { Workload } from './workloads.js';

/** A prepared workload: `step()` runs one batch. */
export interface Runner {
  step(): void;
}

export function prepareWorkload(w: Workload, kernels: KernelSet, seed = 0): Runner {
  const rng = new Rng(seed);
  const net = createNet(w.net, { ...w.options, classes: w.classes, kernels, seed });
  const pixels = new Float32Array(w.batch * 3 * w.size * w.size);
  const next = uniform(seed + 1);
  for (let i = 0; i < pixels.length; i++) pixels[i] = 2 * next() - 1;
  const labels = Int32Array.from({ length: w.batch }, () => Math.floor(next() * w.classes));
  const shape = [w.batch, 3, w.size, w.size];

  if (w.mode === 'eval') {
    net.eval();
    return {
      step() {
        noGrad(() => {
          const logits = net.forward(fromArray(pixels, shape, { kernels }));
          logits.toArray(); // the result on the host, as a user would need it
        });
        endStep(kernels);
      },
    };
  }

  net.train();
  const optimizer = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  return {
    step() {
      const loss = crossEntropy(net.forward(fromArray(pixels, shape, { kernels })), labels);
      loss.backward();
      optimizer.step();
      if (!Number.isFinite(loss.item())) throw new Error('the training loss is not finite');
    },
  };
}

/** Uniform numbers in [0, 1) for the benchmark's data (mulberry32: the values do not matter, only that they are fixed). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
