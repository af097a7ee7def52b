// Testing as the paper does it (Sec. 3.4, 4.2): top-1 and top-5 error of
//   center      the single test view: the image itself (CIFAR, MNIST) or the 224 center crop of
//               the image resized to shorter side 256 (image folders);
//   10crop      the average softmax of ten views: four corners, center, and their mirrors
//               (torchvision TenCrop's order). Image folders: 224 crops of the 256 image.
//               Fixed-size images: h×w windows of the image padded by `pad` (4) on each side,
//               i.e. the corners and center of the training crops (Sec. 4.2's augmentation);
//   multiscale  fully-convolutional: the average softmax of the whole image resized to each
//               shorter side in `sides` (the paper: 224, 256, 384, 480, 640). For fixed-size
//               images the list is scaled by side/224 (32×32: 32, 37, 55, 69, 91), unless given.
//
// The mean image fits views of the training size; views of other sizes (multi-scale) subtract
// its per-channel averages instead (data/transforms.ts `normalize`).

import { noGrad } from '../autograd/tape.js';
import type { Dataset, Sample } from '../data/dataset.js';
import { MULTI_SCALE_SIDES, type Normalization, type TransformSpec, type View, applyTransform, multiScaleViews, normalize, padCropFlip, tenCrop } from '../data/transforms.js';
import { LibraryError } from '../io/errors.js';
import type { KernelSet } from '../kernels/contract.js';
import { fittingEvalBatch, formatBytes, memoryBudget, memoryCapacity } from '../models/memory.js';
import type { NetName } from '../models/registry.js';
import type { NetOptions, ResNet } from '../models/resnet.js';
import { endStep } from '../tensor/engine.js';
import { Rng } from '../tensor/random.js';
import { fromArray } from '../tensor/tensor.js';
import { softmax } from './scores.js';

export type CropMode = 'center' | '10crop' | 'multiscale';
export const CROP_MODES: CropMode[] = ['center', '10crop', 'multiscale'];

export interface EvalOptions {
  kernels: KernelSet;
  norm: Normalization;
  crop?: CropMode; // default 'center'
  /** Images per forward pass (center); 10-crop passes batchSize/10 images of 10 views. Default 128. */
  batchSize?: number;
  /** Test view of variable-size images: shorter side and center crop (default 256, 224). */
  resize?: number;
  cropSize?: number;
  /** 10-crop on fixed-size images: padding around the image (default 4, as in training). */
  pad?: number;
  /** Multi-scale shorter sides (default: the paper's, scaled for fixed-size images as said above). */
  sides?: number[];
  /** Only the first `limit` images (quick looks). */
  limit?: number;
  /** Called after every batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

export interface EvalResult {
  images: number;
  crop: CropMode;
  top1Error: number;
  /** null with fewer than 5 classes (top-5 would be 0 or meaningless). */
  top5Error: number | null;
  /** Mean −log p(label) of the (averaged) softmax. */
  loss: number;
  /** Errors per class: [class] → fraction wrong among that class's images. */
  perClassError: number[];
  seconds: number;
  /** Multi-scale sides used, for the record. */
  sides?: number[];
}

/** The shorter sides of multi-scale testing for images of `side` pixels: the paper's list for 224 and above. */
export function scaledSides(side: number | null, sides = MULTI_SCALE_SIDES): number[] {
  if (side === null || side >= 224) return [...sides];
  return sides.map((s) => Math.round((s * side) / 224));
}

/** What the views of a sample depend on. */
export type ViewOptions = Pick<EvalOptions, 'norm' | 'resize' | 'cropSize' | 'pad' | 'sides'>;

/** The views of one sample under a crop mode, each [c, h, w]. */
export function viewsOf(sample: Sample, mode: CropMode, o: ViewOptions, fixedSize: boolean): View[] {
  const c = sample.image.length / (sample.height * sample.width);
  if (mode === 'center') {
    const spec: TransformSpec = fixedSize
      ? { kind: 'plain', norm: o.norm }
      : { kind: 'imagenetCenter', resize: o.resize ?? 256, crop: o.cropSize ?? 224, norm: o.norm };
    return [applyTransform(spec, sample, new Rng(0))]; // deterministic views draw nothing
  }
  if (mode === '10crop') {
    if (!fixedSize) {
      const crop = o.cropSize ?? 224;
      const all = tenCrop(sample, o.norm, o.resize ?? 256, crop); // [10, c, crop, crop]
      const n = c * crop * crop;
      return Array.from({ length: 10 }, (_, k) => ({ data: all.subarray(k * n, (k + 1) * n), channels: c, height: crop, width: crop }));
    }
    const pad = o.pad ?? 4;
    const { height: h, width: w } = sample;
    const corners = [[0, 0], [0, 2 * pad], [2 * pad, 0], [2 * pad, 2 * pad], [pad, pad]]; // (dy, dx): TL, TR, BL, BR, C
    const views: View[] = [];
    for (const flip of [false, true]) {
      for (const [dy, dx] of corners) {
        const v = padCropFlip(sample.image, c, h, w, pad, dy, dx, flip);
        normalize(v, o.norm);
        views.push(v);
      }
    }
    return views;
  }
  const side = fixedSize ? Math.min(sample.height, sample.width) : null;
  return multiScaleViews(sample, o.norm, o.sides ?? scaledSides(side));
}

/** Runs a forward pass; the wasm kernels' out-of-memory error then says what to change. */
function withMemoryHint<T>(fn: () => T, views: number, h: number, w: number): T {
  try {
    return fn();
  } catch (e) {
    if (!/out of memory/i.test((e as Error).message)) throw e;
    throw new LibraryError((n) => `${(e as Error).message} evaluating ${views} views of ${h}×${w} at once: lower ${n.option('batchSize')}, ` +
      `or test fewer or smaller views (${n.option('crop', "'center'")}, or fewer ${n.option('sides')})`);
  }
}

/**
 * The largest evaluation batch (at most `wanted`, counted in views as EvalOptions.batchSize is) whose
 * forward passes fit `budget` bytes (models/memory.ts), for views of the given size; null when not
 * even the smallest pass fits. `largest`: the largest view (multi-scale), else the test view.
 */
export function evalBatchFor(net: NetName, options: Partial<NetOptions>, mode: CropMode, view: { height: number; width: number },
  wanted: number, budget: number, fixedSize: boolean): number | null {
  // Multi-scale runs a fifth of the batch at each size (fixed-size data) or one image at a time.
  const perPass = mode === 'multiscale' ? (fixedSize ? 5 : wanted) : 1;
  const b = fittingEvalBatch(net, options, { batch: Math.max(1, Math.floor(wanted / perPass)), ...view }, budget);
  return b === null ? null : mode === 'multiscale' && !fixedSize ? wanted : b * perPass;
}

/** What picking eval's default batch needs to know of the data and the views. */
export interface DefaultBatchOptions {
  /** The data's image size, or null for images of many sizes (an image folder's photos). */
  imageSize: { height: number; width: number } | null;
  resize?: number;
  cropSize?: number;
  sides?: number[];
}

/**
 * Eval's default batch: 128 views, or fewer where the memory estimate says they do not fit the
 * kernel set. Throws, saying what to change, when not even one view fits.
 */
export function defaultEvalBatch(net: ResNet, kernels: KernelSet, mode: CropMode, o: DefaultBatchOptions): number {
  const fixed = o.imageSize !== null;
  let view = o.imageSize ?? { height: o.cropSize ?? 224, width: o.cropSize ?? 224 };
  if (mode === 'multiscale') {
    const { height, width } = o.imageSize ?? { height: 3, width: 4 }; // photos: 4:3 assumed
    const largest = Math.max(...(o.sides ?? scaledSides(o.imageSize ? Math.min(height, width) : null)));
    view = { height: largest, width: Math.ceil((largest * Math.max(height, width)) / Math.min(height, width)) };
  }
  const batch = evalBatchFor(net.name, net.options, mode, view, 128, memoryBudget(kernels), fixed);
  if (batch === null) {
    throw new LibraryError((n) => `one ${view.height}×${view.width} view of ${net.name} needs more than the ${kernels.name} kernels hold ` +
      `(${formatBytes(memoryCapacity(kernels))}): test smaller views (${n.option('crop', "'center'")}, or ${n.option('sides')} with smaller sides)` +
      `${kernels.name === 'wasm' ? `, or use ${n.option('backend', "'ref'")}` : ''}`);
  }
  return batch;
}

/**
 * Why a view of testing may not suit weights trained with `augmentation` (the recipe the weights
 * record), or null: 10-crop averages shifted and mirrored views, multi-scale rescaled ones; a network
 * that never saw such views in training usually scores worse on them than on the single view.
 */
export function viewWarning(augmentation: { kind: string; flip?: boolean } | null, mode: CropMode): string | null {
  if (augmentation === null || mode === 'center') return null;
  if (mode === '10crop' && augmentation.kind === 'none') {
    return 'the network was trained without crop or flip augmentation: 10-crop testing averages shifted and mirrored views it never saw, ' +
      'and usually scores worse than the single view (--crop center)';
  }
  if (mode === 'multiscale' && augmentation.kind !== 'scale') {
    return 'the network was trained at one scale (no scale augmentation): multi-scale testing shows it the images larger and smaller ' +
      'than it saw them, and usually scores worse than the single view (--crop center)';
  }
  return null;
}

/** Top-1/top-5 error of `net` (put in eval mode here) on `dataset`. */
export async function evaluate(net: ResNet, dataset: Dataset, options: EvalOptions): Promise<EvalResult> {
  const started = performance.now();
  const mode = options.crop ?? 'center';
  const k = options.kernels;
  const fixedSize = dataset.height !== null && dataset.width !== null;
  const total = Math.min(dataset.size, options.limit ?? dataset.size);
  const classes = net.options.classes;
  const batch = options.batchSize ?? 128;
  // Samples per chunk: views of one chunk of the same size go through the network together.
  const chunk = mode === 'center' ? batch : mode === '10crop' ? Math.max(1, Math.floor(batch / 10)) : fixedSize ? Math.max(1, Math.floor(batch / 5)) : 1;
  const wasTraining = net.training;
  net.eval();
  let wrong1 = 0;
  let wrong5 = 0;
  let lossSum = 0;
  const classCount = new Array<number>(classes).fill(0);
  const classWrong = new Array<number>(classes).fill(0);
  try {
    for (let start = 0; start < total; start += chunk) {
      const end = Math.min(total, start + chunk);
      const samples: Sample[] = [];
      for (let i = start; i < end; i++) samples.push(await dataset.get(i));
      const probs = new Float64Array(samples.length * classes); // [samples, classes], summed softmax
      const counts = new Int32Array(samples.length);
      // Group views by size: key "c×h×w" → (sample index, view)
      const groups = new Map<string, { owner: number; view: View }[]>();
      samples.forEach((s, i) => {
        for (const view of viewsOf(s, mode, options, fixedSize)) {
          const key = `${view.channels}x${view.height}x${view.width}`;
          let g = groups.get(key);
          if (!g) groups.set(key, (g = []));
          g.push({ owner: i, view });
        }
      });
      for (const g of groups.values()) {
        const { channels: c, height: h, width: w } = g[0].view;
        const n = c * h * w;
        const x = new Float32Array(g.length * n); // [views, c, h, w]
        g.forEach((e, j) => x.set(e.view.data, j * n));
        const logits = withMemoryHint(() => noGrad(() => net.forward(fromArray(x, [g.length, c, h, w], { kernels: k })).toArray()), g.length, h, w);
        endStep(k);
        g.forEach((e, j) => {
          const p = softmax(logits.subarray(j * classes, (j + 1) * classes));
          for (let c = 0; c < classes; c++) probs[e.owner * classes + c] += p[c];
          counts[e.owner]++;
        });
      }
      samples.forEach((s, i) => {
        const p = probs.subarray(i * classes, (i + 1) * classes);
        const label = s.label;
        const target = p[label] / counts[i];
        lossSum += -Math.log(Math.max(target, 1e-30));
        let above = 0; // classes scored higher than the label (ties count against it)
        for (let j = 0; j < classes; j++) if (j !== label && p[j] >= p[label]) above++;
        if (!Number.isFinite(p[label])) above = classes; // NaN scores are wrong, not right by default
        classCount[label]++;
        if (above >= 1) {
          wrong1++;
          classWrong[label]++;
        }
        if (above >= 5) wrong5++;
      });
      options.onProgress?.(end, total);
    }
  } finally {
    net.train(wasTraining);
  }
  const result: EvalResult = {
    images: total,
    crop: mode,
    top1Error: wrong1 / total,
    top5Error: classes >= 5 ? wrong5 / total : null,
    loss: lossSum / total,
    perClassError: classCount.map((n, c) => (n === 0 ? 0 : classWrong[c] / n)),
    seconds: (performance.now() - started) / 1000,
  };
  if (mode === 'multiscale') result.sides = options.sides ?? scaledSides(fixedSize ? Math.min(dataset.height!, dataset.width!) : null);
  return result;
}
