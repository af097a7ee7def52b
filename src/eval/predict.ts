// Classifying photographs: class probabilities (softmax) and the top k classes of each image, with
// the test view and class names that the weights record. A photo becomes an input exactly as an
// image folder's image does in `evaluate` (the same decoding, the same single test view).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CIFAR10_CLASSES } from '../data/cifar10.js';
import { decodeImage } from '../data/decode.js';
import { fitImage, toGray } from '../data/image-size.js';
import type { View } from '../data/transforms.js';
import type { ResNet } from '../models/resnet.js';
import { viewsOf } from './evaluate.js';
import { type InputView, readTrainedMetadata } from './metadata.js';
import { type ClassScore, classify } from './classify.js';

export interface Prediction {
  image: string;
  top: ClassScore[];
}

export interface PredictOptions {
  /** Resize, crop and normalization (inputView reads them from the weights' metadata). */
  view: InputView;
  /** Class names in class-index order; a missing name reads `class N`. */
  labels: string[];
  /** How many classes to list per image (default 5, at most the net's classes). */
  top?: number;
  /** Images per forward pass (default 8). */
  batchSize?: number;
}

/**
 * Decodes, preprocesses and classifies the image files `images` (JPEG, PNG, WebP) with `net` in
 * eval mode: a one-channel network sees the images in grayscale, a three-channel one in RGB.
 */
export async function predict(net: ResNet, images: string[], o: PredictOptions): Promise<Prediction[]> {
  const channels = net.options.inChannels;
  if (channels !== 1 && channels !== 3) throw new Error(`predict makes 1- or 3-channel inputs from images; ${net.name} takes ${channels} channels`);
  const batchSize = o.batchSize ?? 8;
  const side = o.view.crop;
  const size = channels * side * side;
  const out: Prediction[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const names = images.slice(start, start + batchSize);
    const batch = new Float32Array(names.length * size); // [n, channels, crop, crop]
    for (let i = 0; i < names.length; i++) batch.set((await imageInput(names[i]!, o.view, channels)).data, i * size);
    const tops = classify(net, batch, [names.length, channels, side, side], o.labels, o.top ?? 5);
    names.forEach((image, i) => out.push({ image, top: tops[i]! }));
  }
  return out;
}

/**
 * The network input made from an image file: decoded (to grayscale for `channels` 1), brought to the
 * image folder's geometry when the view has one (as the cache did in training), then eval's single
 * test view: [channels, crop, crop].
 */
export async function imageInput(path: string, view: InputView, channels = 3): Promise<View> {
  let decoded;
  try {
    decoded = await decodeImage(path);
  } catch (e) {
    throw new Error(`cannot decode '${path}' as JPEG, PNG or WebP: ${(e as Error).message}`);
  }
  let { image, height, width } = decoded;
  if (view.fit) ({ image, height, width } = fitImage(image, 3, height, width, view.fit));
  if (channels === 1) image = toGray(image, height, width);
  return viewsOf({ image, height, width, label: 0 }, 'center', { norm: view.norm, resize: view.resize, cropSize: view.crop }, false)[0]!;
}

/**
 * The class names of `net`: `given` (e.g. read from --labels FILE; one per class), else the weights'
 * metadata (`labels`, or the classes of the dataset it was trained on), else the 1000 ImageNet
 * classes for 1000-way nets and CIFAR-10's for 10-way CIFAR nets, else `class N`. Recorded names
 * fewer than the outputs (a net trained with more --classes than folders) read `class N` for the rest.
 */
export function classLabels(net: ResNet, metadata: Record<string, string>, given?: string[]): string[] {
  const classes = net.options.classes;
  if (given !== undefined) {
    if (given.length !== classes) throw new Error(`${given.length} labels for a network with ${classes} classes: give one name per line, ${classes} lines`);
    return given;
  }
  const recorded = recordedLabels(metadata);
  if (recorded !== null && recorded.length <= classes) return Array.from({ length: classes }, (_, i) => recorded[i] ?? `class ${i}`);
  if (classes === 1000) return imagenetClasses();
  if (classes === 10 && net.spec.family === 'cifar') return CIFAR10_CLASSES;
  return Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** Class names a weights file records: its `labels` entry, else its training data's classes; null if neither. */
function recordedLabels(metadata: Record<string, string>): string[] | null {
  for (const read of [() => JSON.parse(metadata.labels!) as unknown, () => (readTrainedMetadata(metadata).data?.classes as unknown)]) {
    let v: unknown;
    try {
      v = read();
    } catch {
      continue;
    }
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  }
  return null;
}

/** The 1000 ImageNet class names bundled in assets/ (torchvision's list, in class-index order). */
export function imagenetClasses(): string[] {
  // Compiled: dist/src/eval/predict.js → <package root>/assets (three levels up); from the sources, two.
  for (const up of ['../../../', '../../']) {
    const path = fileURLToPath(new URL(`${up}assets/imagenet-classes.txt`, import.meta.url));
    if (existsSync(path)) return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  }
  throw new Error('assets/imagenet-classes.txt is missing from the installation');
}
