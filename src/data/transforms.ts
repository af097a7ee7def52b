// The paper's augmentations and test views. A transform takes a sample's bytes [c, h, w] and an
// explicit Rng and returns floats [c, H, W]; given the same Rng state it returns the same floats.
// Transforms are plain data (TransformSpec) so that the loader's worker thread can rebuild them.
//
// Order of operations, for every transform: geometry (resize, crop with zero padding, flip) on the
// pixels scaled to [0, 1], then colour lighting (ImageNet), then normalization. Zero padding is
// therefore black (0 before normalization), as torchvision's Pad + ToTensor + Normalize do.
// Resizing and cropping are torchvision's on a PIL image, exactly (resize.ts), and so is the
// per-channel normalization: the ImageNet test views equal torchvision's tensors.
//
//   CIFAR train (Sec. 4.2): { kind: 'padCropFlip', pad: 4, flip: true, norm }
//   CIFAR test:             { kind: 'plain', norm } (the single original view)
//   ImageNet train (Sec. 3.4): { kind: 'imagenetTrain', minSize: 256, maxSize: 480, crop: 224, flip: true, lightingStd: 0.1, norm }
//   ImageNet test:          { kind: 'imagenetCenter', resize: 256, crop: 224, norm }, and tenCrop(), multiScaleViews()

import type { Sample } from './dataset.js';
import { Rng } from './rng.js';
import { centerWindow, resizeCrop, resizeShorterSide } from './resize.js';

/** How floats in [0, 1] are normalized. The paper: per-pixel mean subtraction ('meanImage'). */
export type Normalization =
  | { kind: 'none' }
  | { kind: 'meanImage'; mean: Float32Array /* [c, h, w], in [0, 1] units */ }
  | { kind: 'channel'; mean: number[]; std: number[] }; // many reimplementations' per-channel mean/std

/** torchvision's ImageNet normalization (every torchvision ResNet weights expect it). */
export const IMAGENET_NORMALIZATION: { kind: 'channel'; mean: number[]; std: number[] } = { kind: 'channel', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export type TransformSpec = (
  | { kind: 'plain' }
  | { kind: 'padCropFlip'; pad: number; flip: boolean }
  | { kind: 'imagenetTrain'; minSize: number; maxSize: number; crop: number; flip: boolean; lightingStd: number }
  | { kind: 'imagenetCenter'; resize: number; crop: number }
) & {
  norm: Normalization;
  /** Replicate a 1-channel image to this many channels (only for RGB-trained weights; see idx-dataset.ts). */
  replicateTo?: number;
};

export interface View {
  data: Float32Array; // [channels, height, width]
  channels: number;
  height: number;
  width: number;
}

export const cifarTrainTransform = (norm: Normalization): TransformSpec => ({ kind: 'padCropFlip', pad: 4, flip: true, norm });
export const cifarTestTransform = (norm: Normalization): TransformSpec => ({ kind: 'plain', norm });
export const imagenetTrainTransform = (norm: Normalization): TransformSpec => ({
  kind: 'imagenetTrain', minSize: 256, maxSize: 480, crop: 224, flip: true, lightingStd: 0.1, norm,
});
export const imagenetTestTransform = (norm: Normalization): TransformSpec => ({ kind: 'imagenetCenter', resize: 256, crop: 224, norm });

// AlexNet's PCA of ImageNet RGB pixels in [0, 1] (the values of fb.resnet.torch / Krizhevsky 2012).
export const IMAGENET_PCA_EIGVAL = [0.2175, 0.0188, 0.0045];
export const IMAGENET_PCA_EIGVEC = [
  [-0.5675, 0.7192, 0.4009],
  [-0.5808, -0.0045, -0.814],
  [-0.5836, -0.6948, 0.4203],
]; // rows: R, G, B; columns: eigenvectors

/** Applies a transform to one sample, drawing from `rng` (the same state gives the same view). */
export function applyTransform(spec: TransformSpec, sample: Sample, rng: Rng): View {
  const { image, height: h, width: w } = sample;
  const c = image.length / (h * w);
  let view: View;
  switch (spec.kind) {
    case 'plain':
      view = padCropFlip(image, c, h, w, 0, 0, 0, false);
      break;
    case 'padCropFlip': {
      const dy = rng.int(2 * spec.pad + 1); // window top in the padded image, 0..2·pad
      const dx = rng.int(2 * spec.pad + 1);
      const flip = spec.flip && rng.float() < 0.5;
      view = padCropFlip(image, c, h, w, spec.pad, dy, dx, flip);
      break;
    }
    case 'imagenetTrain': {
      const short = rng.intBetween(spec.minSize, spec.maxSize);
      const size = resizeShorterSide(h, w, short);
      const top = rng.int(size.height - spec.crop + 1);
      const left = rng.int(size.width - spec.crop + 1);
      const flip = spec.flip && rng.float() < 0.5;
      const data = resizeCrop(image, c, h, w, size.height, size.width, { top, left, height: spec.crop, width: spec.crop }, flip);
      view = { data, channels: c, height: spec.crop, width: spec.crop };
      if (spec.lightingStd > 0) addLighting(view, rng, spec.lightingStd);
      break;
    }
    case 'imagenetCenter': {
      const size = resizeShorterSide(h, w, spec.resize);
      const win = centerWindow(size.height, size.width, spec.crop);
      view = { data: resizeCrop(image, c, h, w, size.height, size.width, win), channels: c, height: spec.crop, width: spec.crop };
      break;
    }
  }
  normalize(view, spec.norm);
  return spec.replicateTo ? replicateChannels(view, spec.replicateTo) : view;
}

/**
 * Scales to [0, 1], pads `pad` zeros on each side, takes the h×w window at (dy, dx) of the padded
 * image, mirrors it when `flip`: out[ch][y][x] = in[ch][y+dy-pad][x'+dx-pad], x' = flip ? w-1-x : x.
 */
export function padCropFlip(image: Uint8Array, c: number, h: number, w: number, pad: number, dy: number, dx: number, flip: boolean): View {
  const data = new Float32Array(c * h * w); // [c, h, w], zeros where the window covers padding
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const sy = y + dy - pad;
      if (sy < 0 || sy >= h) continue;
      const src = (ch * h + sy) * w;
      const dst = (ch * h + y) * w;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx - pad;
        if (sx >= 0 && sx < w) data[dst + x] = image[src + sx] / 255;
      }
    }
  }
  return { data, channels: c, height: h, width: w };
}

/** AlexNet's PCA colour augmentation: adds Σ_i α_i λ_i v_i to every pixel, α_i ~ N(0, std²). */
export function addLighting(view: View, rng: Rng, std: number): void {
  if (view.channels !== 3) throw new Error(`lighting augmentation needs 3 channels, got ${view.channels}`);
  const alpha = IMAGENET_PCA_EIGVAL.map((l) => rng.normal() * std * l);
  const hw = view.height * view.width;
  for (let ch = 0; ch < 3; ch++) {
    const v = IMAGENET_PCA_EIGVEC[ch];
    const shift = v[0] * alpha[0] + v[1] * alpha[1] + v[2] * alpha[2];
    for (let p = ch * hw; p < (ch + 1) * hw; p++) view.data[p] += shift;
  }
}

/**
 * Normalizes in place. A mean image must match the view's size; for views of another size (the
 * fully-convolutional full-image views) pass `channelFallback` to subtract the mean image's
 * per-channel averages instead — the paper does not say what it did there.
 */
export function normalize(view: View, norm: Normalization, channelFallback = false): void {
  const { data, channels: c, height: h, width: w } = view;
  const hw = h * w;
  if (norm.kind === 'none') return;
  if (norm.kind === 'channel') {
    if (norm.mean.length !== c || norm.std.length !== c) throw new Error(`channel normalization has ${norm.mean.length} means for ${c} channels`);
    for (let ch = 0; ch < c; ch++) {
      // T.Normalize in float32, as torch computes it: (x − mean) / std, each step rounded to float32.
      const m = Math.fround(norm.mean[ch]);
      const s = Math.fround(norm.std[ch]);
      for (let p = ch * hw; p < (ch + 1) * hw; p++) data[p] = Math.fround(data[p] - m) / s;
    }
    return;
  }
  if (norm.mean.length === data.length) {
    for (let i = 0; i < data.length; i++) data[i] -= norm.mean[i];
    return;
  }
  if (!channelFallback) {
    throw new Error(`mean image has ${norm.mean.length} values, the view is ${c}×${h}×${w}: compute the mean image at the crop size`);
  }
  const mhw = norm.mean.length / c;
  for (let ch = 0; ch < c; ch++) {
    let m = 0;
    for (let p = ch * mhw; p < (ch + 1) * mhw; p++) m += norm.mean[p];
    m /= mhw;
    for (let p = ch * hw; p < (ch + 1) * hw; p++) data[p] -= m;
  }
}

/** Copies a 1-channel view to `channels` identical channels. */
export function replicateChannels(view: View, channels: number): View {
  if (view.channels === channels) return view;
  if (view.channels !== 1) throw new Error(`replicateChannels: can only replicate 1 channel, got ${view.channels}`);
  const hw = view.height * view.width;
  const data = new Float32Array(channels * hw); // [channels, h, w]
  for (let ch = 0; ch < channels; ch++) data.set(view.data, ch * hw);
  return { ...view, data, channels };
}

/**
 * 10-crop testing as torchvision's Resize(resize) + TenCrop(crop): the four corner crops and the
 * centre crop, then the same five of the mirrored image (TL, TR, BL, BR, C, then mirrored TL, …).
 * Returns [10, c, crop, crop]; average the 10 score vectors.
 */
export function tenCrop(sample: Sample, norm: Normalization, resize = 256, crop = 224): Float32Array {
  const { image, height: h, width: w } = sample;
  const c = image.length / (h * w);
  const size = resizeShorterSide(h, w, resize);
  if (crop > size.height || crop > size.width) throw new Error(`10-crop: crop ${crop} larger than the ${size.height}×${size.width} resized image`);
  const b = size.height - crop;
  const r = size.width - crop;
  const corners = [[0, 0], [0, r], [b, 0], [b, r]];
  const n = c * crop * crop;
  const out = new Float32Array(10 * n); // [10, c, crop, crop]
  [false, true].forEach((flip, f) => {
    const windows = [...corners, [0, 0]].map(([top, left], k) => {
      const win = k === 4 ? centerWindow(size.height, size.width, crop) : { top, left, height: crop, width: crop };
      // A window of the mirrored image is the mirror of the window at `r − left` of the image.
      return flip ? { ...win, left: r - win.left } : win;
    });
    windows.forEach((win, k) => {
      const data = resizeCrop(image, c, h, w, size.height, size.width, win, flip);
      normalize({ data, channels: c, height: crop, width: crop }, norm);
      out.set(data, (5 * f + k) * n);
    });
  });
  return out;
}

export const MULTI_SCALE_SIDES = [224, 256, 384, 480, 640];

/**
 * Fully-convolutional multi-scale testing (Sec. 3.4): the whole image with its shorter side at
 * each of `sides`, optionally also mirrored. Views differ in size, so run them one at a time and
 * average the scores (after the global average pool the network accepts any size).
 */
export function multiScaleViews(sample: Sample, norm: Normalization, sides = MULTI_SCALE_SIDES, withFlips = false): View[] {
  const { image, height: h, width: w } = sample;
  const c = image.length / (h * w);
  const views: View[] = [];
  for (const side of sides) {
    const size = resizeShorterSide(h, w, side);
    for (const flip of withFlips ? [false, true] : [false]) {
      const data = resizeCrop(image, c, h, w, size.height, size.width, { top: 0, left: 0, ...size }, flip);
      const view = { data, channels: c, height: size.height, width: size.width };
      normalize(view, norm, true);
      views.push(view);
    }
  }
  return views;
}
