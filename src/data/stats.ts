// Training-set statistics for normalization, computed once (save them with the checkpoint).
//   computeMeanImage: the paper's per-pixel mean, [c, h, w] in [0, 1] units.
//   computeChannelStats: per-channel mean and standard deviation (population), for the
//   per-channel normalization many reimplementations use.
// Both look at each sample through a deterministic view: by default the image itself scaled to
// [0, 1]; for ImageNet-style folders pass the test view (e.g. imagenetTestTransform({kind:'none'}))
// so that the mean image has the crop's size.

import type { Dataset } from './dataset.js';
import { Rng } from './rng.js';
import { applyTransform, type TransformSpec, type View } from './transforms.js';

const PLAIN: TransformSpec = { kind: 'plain', norm: { kind: 'none' } };

async function forEachView(dataset: Dataset, view: TransformSpec, fn: (v: View) => void): Promise<void> {
  if (view.norm.kind !== 'none') throw new Error('statistics must be computed on unnormalized views (norm: none)');
  const rng = new Rng(0); // unused by deterministic views
  for (let i = 0; i < dataset.size; i++) fn(applyTransform(view, await dataset.get(i), rng));
}

export async function computeMeanImage(dataset: Dataset, view: TransformSpec = PLAIN): Promise<Float32Array> {
  let sum: Float64Array | null = null; // [c, h, w]
  await forEachView(dataset, view, (v) => {
    sum ??= new Float64Array(v.data.length);
    if (v.data.length !== sum.length) throw new Error('computeMeanImage: views differ in size; pass a cropping view');
    for (let j = 0; j < sum.length; j++) sum[j] += v.data[j];
  });
  if (!sum) throw new Error('computeMeanImage: empty dataset');
  const total: Float64Array = sum;
  return Float32Array.from(total, (s) => s / dataset.size);
}

export async function computeChannelStats(dataset: Dataset, view: TransformSpec = PLAIN): Promise<{ mean: number[]; std: number[] }> {
  let sum: number[] = [];
  let sumSq: number[] = [];
  let count = 0;
  await forEachView(dataset, view, (v) => {
    if (count === 0) {
      sum = new Array(v.channels).fill(0);
      sumSq = new Array(v.channels).fill(0);
    }
    const hw = v.height * v.width;
    for (let ch = 0; ch < v.channels; ch++) {
      for (let p = ch * hw; p < (ch + 1) * hw; p++) {
        sum[ch] += v.data[p];
        sumSq[ch] += v.data[p] * v.data[p];
      }
    }
    count += hw;
  });
  if (count === 0) throw new Error('computeChannelStats: empty dataset');
  const mean = sum.map((s) => s / count);
  const std = sumSq.map((s, ch) => Math.sqrt(Math.max(s / count - mean[ch] * mean[ch], 0)));
  return { mean, std };
}
