// The benchmark workloads (DESIGN.md §5): what each one runs, and how many floating-point
// operations one batch of it costs. Every engine (ours and the peers) runs the same list.

import { summarize } from '../models/summary.js';
import type { NetOptions } from '../models/resnet.js';
import type { NetName } from '../models/registry.js';

export const WORKLOAD_NAMES = [
  'resnet20-train', 'resnet20-eval', 'resnet18-b1', 'resnet18-b16', 'resnet50-b1', 'resnet50-b16',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface Workload {
  name: WorkloadName;
  net: NetName;
  /** 'train': forward, loss, backward and an SGD step; 'eval': an inference forward pass. */
  mode: 'train' | 'eval';
  batch: number;
  /** Square input: [batch, 3, size, size]. */
  size: number;
  classes: number;
  /** Network options beyond the defaults (ImageNet nets use torchvision's layout). */
  options: Partial<NetOptions>;
  description: string;
}

const imagenet = (name: WorkloadName, net: NetName, batch: number): Workload => ({
  name, net, mode: 'eval', batch, size: 224, classes: 1000,
  // torchvision's ResNet ("v1.5": the 3×3 conv of a bottleneck strides; projection shortcuts B)
  options: { strideIn: '3x3', shortcut: 'B' },
  description: `${net} inference, batch ${batch}, 3×224×224, 1000 classes (torchvision layout)`,
});

export const WORKLOADS: Record<WorkloadName, Workload> = {
  'resnet20-train': {
    name: 'resnet20-train', net: 'resnet20', mode: 'train', batch: 128, size: 32, classes: 10, options: {},
    description: 'ResNet-20 training step (forward, loss, backward, SGD), batch 128, 3×32×32, 10 classes, shortcut A',
  },
  'resnet20-eval': {
    name: 'resnet20-eval', net: 'resnet20', mode: 'eval', batch: 128, size: 32, classes: 10, options: {},
    description: 'ResNet-20 inference, batch 128, 3×32×32, 10 classes, shortcut A',
  },
  'resnet18-b1': imagenet('resnet18-b1', 'resnet18', 1),
  'resnet18-b16': imagenet('resnet18-b16', 'resnet18', 16),
  'resnet50-b1': imagenet('resnet50-b1', 'resnet50', 1),
  'resnet50-b16': imagenet('resnet50-b16', 'resnet50', 16),
};

export function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

export interface WorkloadCost {
  /** Multiply-accumulates of one image's forward pass (convolutions and the classifier). */
  macsPerImage: number;
  /**
   * Floating-point operations of one batch: 2 per multiply-accumulate, and for a training
   * step 3× the forward pass (the backward pass computes two products per forward one).
   */
  flopsPerBatch: number;
}

/** Exact costs, counted by running the network on the counting kernel set. */
export function workloadCost(w: Workload): WorkloadCost {
  const macsPerImage = summarize(w.net, w.options, w.size).macs;
  const passes = w.mode === 'train' ? 3 : 1;
  return { macsPerImage, flopsPerBatch: 2 * macsPerImage * w.batch * passes };
}
