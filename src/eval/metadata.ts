// What trained weights carry so that `eval` and `predict` need no flags: the normalization the
// network was trained with (the paper's per-pixel mean image, stored exactly), the dataset it
// came from with its classes and input size, the test view, and the measured errors.
//
// Safetensors metadata holds only strings; the mean image goes in as base64 of its float32
// little-endian bytes (a tensor would be an unexpected key for the strict state-dict loader).

import type { ImageGeometry } from '../data/image-size.js';
import { IMAGENET_NORMALIZATION, type Normalization } from '../data/transforms.js';

export const NORMALIZATION_KEY = 'normalization';
export const DATA_KEY = 'data';
export const METRICS_KEY = 'metrics';
/** The training recipe `resnet train` records (JSON). */
export const RECIPE_KEY = 'recipe';

/** A normalization with its mean image as base64 (JSON-safe). */
export type StoredNormalization =
  | { kind: 'none' }
  | { kind: 'meanImage'; shape: number[]; /* [c, h, w], [0, 1] units */ base64: string }
  | { kind: 'channel'; mean: number[]; std: number[] };

export interface DataInfo {
  /** The dataset name given to `train` (cifar10, fashion-mnist, folder:PATH, …). */
  name: string;
  /** Where it was read from, absolute. */
  dir: string;
  classes: string[];
  channels: number;
  /** Training image size; null for image folders (sizes vary). */
  height: number | null;
  width: number | null;
  /** Test view of variable-size images: shorter side, then center crop. */
  testResize: number | null;
  testCrop: number | null;
  /** The hold-out used for validation, so that `eval --split val` finds the same images. */
  validation: { fraction: number } | { count: number };
  /** Image folders: the size trained at (--image-size) and how each image was brought to it (data/image-size.ts). */
  imageSize?: number;
  geometry?: ImageGeometry;
}

/** Checks a geometry read from a file; `fail` is called with the problem. */
export function checkGeometry(g: unknown, fail: (problem: string) => never): asserts g is ImageGeometry {
  const o = g as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || (o.kind !== 'square' && o.kind !== 'shorterSide')) fail('kind is not square or shorterSide');
  if (!Number.isSafeInteger(o!.side) || (o!.side as number) < 1 || (o!.side as number) > 65536) fail('side is not an integer in [1, 65536]');
}

export function encodeMeanImage(mean: Float32Array, shape: number[]): StoredNormalization {
  const bytes = new Uint8Array(mean.length * 4);
  const view = new DataView(bytes.buffer);
  mean.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return { kind: 'meanImage', shape: [...shape], base64: toBase64(bytes) };
}

export function decodeNormalization(s: StoredNormalization, source = 'weights'): Normalization {
  if (s.kind === 'none') return { kind: 'none' };
  if (s.kind === 'channel') return { kind: 'channel', mean: [...s.mean], std: [...s.std] };
  if (s.kind !== 'meanImage') throw new Error(`${source}: unknown normalization '${(s as { kind: string }).kind}'`);
  const bytes = fromBase64(s.base64, source);
  const count = s.shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== 4 * count) throw new Error(`${source}: mean image has ${bytes.length / 4} values, shape [${s.shape.join(', ')}] needs ${count}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { kind: 'meanImage', mean: Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true)) };
}

/** The augmentation a training run used, as the recipe it records says (what eval's views depend on). */
export interface TrainedAugmentation {
  kind: string;
  flip?: boolean;
  pad?: number;
}

export interface TrainedMetadata {
  normalization: Normalization | null;
  data: DataInfo | null;
  metrics: Record<string, unknown> | null;
  /** The training augmentation, from the recorded recipe (null for weights from elsewhere). */
  augmentation: TrainedAugmentation | null;
}

/** The training information in a weights file's metadata (null parts where it has none). */
export function readTrainedMetadata(metadata: Record<string, string>, source = 'weights'): TrainedMetadata {
  const parse = <T>(key: string): T | null => {
    if (metadata[key] === undefined) return null;
    try {
      return JSON.parse(metadata[key]) as T;
    } catch {
      throw new Error(`${source}: metadata '${key}' is not valid JSON`);
    }
  };
  const stored = parse<StoredNormalization>(NORMALIZATION_KEY);
  return {
    normalization: stored ? decodeNormalization(stored, source) : null,
    data: parse<DataInfo>(DATA_KEY),
    metrics: parse<Record<string, unknown>>(METRICS_KEY),
    augmentation: recordedAugmentation(metadata[RECIPE_KEY]),
  };
}

/** The augmentation of a recorded recipe, or null when there is none or it is not readable. */
function recordedAugmentation(recipe: string | undefined): TrainedAugmentation | null {
  try {
    const r = JSON.parse(recipe ?? 'null') as { augmentation?: unknown } | null;
    const a = r?.augmentation;
    return typeof a === 'object' && a !== null && typeof (a as TrainedAugmentation).kind === 'string' ? a as TrainedAugmentation : null;
  } catch {
    return null;
  }
}

/** The metadata entry that says how a file's inputs are normalized (the one place it is said). */
export function normalizationMetadata(stored: StoredNormalization): Record<string, string> {
  return { [NORMALIZATION_KEY]: JSON.stringify(stored) };
}

/**
 * How an image becomes a network's input: first brought to `fit` as the image folder's images were
 * (when the network was trained on one), then shorter side to `resize`, centre `crop`, then `norm`.
 */
export interface InputView {
  resize: number;
  crop: number;
  norm: Normalization;
  fit?: ImageGeometry;
}

/**
 * The test view of the weights whose metadata is `metadata`, for a network of `family`: the
 * normalization and test view recorded by `resnet train` or `resnet import`; else torchvision's
 * ImageNet view (256, 224, ImageNet mean/std) for ImageNet nets. `guessed` when nothing applies (a
 * CIFAR net trained elsewhere): 32×32, no normalization.
 */
export function inputView(metadata: Record<string, string>, family: 'imagenet' | 'cifar', source = 'weights'): { view: InputView; guessed: boolean } {
  const { normalization, data } = readTrainedMetadata(metadata, source);
  const fallback = family === 'imagenet' ? { resize: 256, crop: 224, norm: IMAGENET_NORMALIZATION } : null;
  const norm = normalization ?? fallback?.norm ?? { kind: 'none' };
  let fit: { fit?: ImageGeometry } = {};
  if (data?.geometry !== undefined) {
    checkGeometry(data.geometry, (problem) => { throw new Error(`${source}: metadata 'data': geometry ${problem}`); });
    fit = { fit: data.geometry };
  }
  if (data && data.testResize !== null && data.testCrop !== null) return { view: { resize: data.testResize, crop: data.testCrop, norm, ...fit }, guessed: false };
  if (data && data.height !== null) {
    if (data.height !== data.width) throw new Error(`${source}: trained on ${data.height}×${data.width} images; only square inputs can be made from a photo`);
    return { view: { resize: data.height, crop: data.height, norm, ...fit }, guessed: false };
  }
  if (fallback) return { view: { ...fallback, norm }, guessed: false };
  return { view: { resize: 32, crop: 32, norm }, guessed: normalization === null };
}

/** Base64 of bytes (btoa and atob exist in Node and in browsers; Buffer only in Node). */
function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(base64: string, source: string): Uint8Array {
  let text: string;
  try {
    text = atob(base64);
  } catch {
    throw new Error(`${source}: the mean image is not valid base64`);
  }
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
