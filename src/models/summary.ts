// The paper's Table 1 view of a network: each stage's output size, parameters and
// multiply-accumulates, and the totals. Counted by running the real forward pass on
// the counting kernel set, so the figures cannot drift from the code.

import { noGrad } from '../autograd/tape.js';
import { createCountingKernels } from '../kernels/count.js';
import { empty } from '../tensor/tensor.js';
import { type NetOptions, createNet } from './resnet.js';
import { type NetName, depth } from './registry.js';

export interface StageSummary {
  /** conv1 (the stem, with the max pool on ImageNet nets), layer1…layerN, fc (pool + classifier). */
  name: string;
  /** Output shape of one image: [channels, height, width], or [classes] for fc. */
  output: number[];
  params: number;
  macs: number;
}

export interface NetSummary {
  net: NetName;
  options: NetOptions;
  depth: number;
  input: [number, number, number];
  stages: StageSummary[];
  params: number;
  macs: number;
}

/** Summary at a square input of `size` pixels (224 on ImageNet nets, 32 on CIFAR nets by default). */
export function summarize(name: NetName, options: Partial<NetOptions> = {}, size?: number): NetSummary {
  const kernels = createCountingKernels();
  const net = createNet(name, { ...options, kernels, skipInit: true }).eval();
  const h = size ?? (net.spec.family === 'imagenet' ? 224 : 32);
  const input: [number, number, number] = [net.options.inChannels, h, h];
  const count = (params: number, name: string, run: () => number[]): StageSummary => {
    kernels.macs = 0;
    const output = run();
    return { name, output, params, macs: kernels.macs };
  };
  const sizeOf = (m: { parameterCount(): number }) => m.parameterCount();
  const stages: StageSummary[] = [];
  noGrad(() => {
    let x = empty([1, ...input], { kernels });
    stages.push(count(sizeOf(net.conv1) + sizeOf(net.bn1), 'conv1', () => { x = net.forwardStem(x); return x.shape.slice(1); }));
    net.stages.forEach((stage, i) => {
      stages.push(count(sizeOf(stage), `layer${i + 1}`, () => { x = stage.forward(x); return x.shape.slice(1); }));
    });
    stages.push(count(sizeOf(net.fc), 'fc', () => { x = net.forwardHead(x); return x.shape.slice(1); }));
  });
  return {
    net: name, options: net.options, depth: depth(net.spec), input, stages,
    params: stages.reduce((s, st) => s + st.params, 0),
    macs: stages.reduce((s, st) => s + st.macs, 0),
  };
}
