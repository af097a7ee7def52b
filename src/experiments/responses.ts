// Fig. 7 of the paper: the standard deviation of each 3×3 layer's response, where a response is
// the layer's output after BN and before the nonlinearity and the addition (ResNet.forward's
// probe points: `bn1` of the stem and `bn1`/`bn2` of each basic block), on the test set with the
// network in eval mode. One number a layer: the std of all its values (every image, channel and
// position), accumulated in float64 batch by batch (Chan et al.'s pairwise update).

import { noGrad } from '../autograd/tape.js';
import type { Dataset, Sample } from '../data/dataset.js';
import type { Normalization } from '../data/transforms.js';
import { viewsOf } from '../eval/evaluate.js';
import type { KernelSet } from '../kernels/contract.js';
import type { ResNet } from '../models/resnet.js';
import { endStep } from '../tensor/engine.js';
import { fromArray } from '../tensor/tensor.js';

export interface LayerResponse {
  /** The probe point: 'bn1' (the stem's 3×3 conv), 'layer1.0.bn1', 'layer1.0.bn2', … */
  layer: string;
  /** 1-based position in the network (the paper's "layer index (original)"). */
  index: number;
  std: number;
  mean: number;
  /** Values the std is taken over. */
  count: number;
}

export interface ResponseOptions {
  kernels: KernelSet;
  norm: Normalization;
  batchSize?: number;
  /** Test view of variable-size images (shorter side, center crop). */
  resize?: number;
  cropSize?: number;
  /** Only the first `limit` images. */
  limit?: number;
}

interface Moments { count: number; mean: number; m2: number }

/** Adds the values of `x` into running moments (count, mean, sum of squared deviations). */
export function addMoments(acc: Moments, x: ArrayLike<number>): void {
  const n = x.length;
  if (n === 0) return;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i];
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) m2 += (x[i] - mean) ** 2;
  const total = acc.count + n;
  const delta = mean - acc.mean;
  acc.m2 += m2 + (delta * delta * acc.count * n) / total;
  acc.mean += (delta * n) / total;
  acc.count = total;
}

/** The std of every probed layer of `net` over `dataset`'s single test views, in layer order. */
export async function layerResponses(net: ResNet, dataset: Dataset, o: ResponseOptions): Promise<LayerResponse[]> {
  const total = Math.min(dataset.size, o.limit ?? dataset.size);
  const batch = o.batchSize ?? 128;
  const fixed = dataset.height !== null && dataset.width !== null;
  const moments = new Map<string, Moments>(); // insertion order = layer order
  const wasTraining = net.training;
  net.eval();
  try {
    for (let start = 0; start < total; start += batch) {
      const end = Math.min(total, start + batch);
      const samples: Sample[] = [];
      for (let i = start; i < end; i++) samples.push(await dataset.get(i));
      const views = samples.map((s) => viewsOf(s, 'center', { norm: o.norm, resize: o.resize, cropSize: o.cropSize }, fixed)[0]);
      const { channels: c, height: h, width: w } = views[0];
      const x = new Float32Array(views.length * c * h * w); // [n, c, h, w]
      views.forEach((v, j) => x.set(v.data, j * c * h * w));
      noGrad(() => net.forward(fromArray(x, [views.length, c, h, w], { kernels: o.kernels }), (layer, t) => {
        let m = moments.get(layer);
        if (!m) moments.set(layer, (m = { count: 0, mean: 0, m2: 0 }));
        addMoments(m, t.toArray());
      }));
      endStep(o.kernels);
    }
  } finally {
    net.train(wasTraining);
  }
  return [...moments].map(([layer, m], i) => ({ layer, index: i + 1, std: Math.sqrt(m.m2 / m.count), mean: m.mean, count: m.count }));
}
