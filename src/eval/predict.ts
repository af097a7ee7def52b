// Classifying photographs: class probabilities (softmax) and the top k classes of each image, with
// the test view and class names that the weights record. A photo becomes an input exactly as an
// image folder's image does in `evaluate` (the same decoding, the same single test view).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CIFAR10_CLASSES } from '../data/cifar10.js';
import { decodeImage } from '../data/decode.js';
import type { View } from '../data/transforms.js';
import type { ResNet } from '../models/resnet.js';
import { viewsOf } from './evaluate.js';
import type { InputView } from './metadata.js';
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

/** Decodes, preprocesses and classifies the image files `images` (JPEG, PNG) with `net` in eval mode. */
export async function predict(net: ResNet, images: string[], o: PredictOptions): Promise<Prediction[]> {
  if (net.options.inChannels !== 3) throw new Error(`predict needs a network with 3 input channels, ${net.name} has ${net.options.inChannels}`);
  const batchSize = o.batchSize ?? 8;
  const side = o.view.crop;
  const size = 3 * side * side;
  const out: Prediction[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const names = images.slice(start, start + batchSize);
    const batch = new Float32Array(names.length * size); // [n, 3, crop, crop]
    for (let i = 0; i < names.length; i++) batch.set((await imageInput(names[i]!, o.view)).data, i * size);
    const tops = classify(net, batch, [names.length, 3, side, side], o.labels, o.top ?? 5);
    names.forEach((image, i) => out.push({ image, top: tops[i]! }));
  }
  return out;
}

/** The network input made from an image file: eval's single test view of the decoded image, [3, crop, crop]. */
export async function imageInput(path: string, view: InputView): Promise<View> {
  let decoded;
  try {
    decoded = await decodeImage(path);
  } catch (e) {
    throw new Error(`cannot decode '${path}' as JPEG or PNG: ${(e as Error).message}`);
  }
  return viewsOf({ ...decoded, label: 0 }, 'center', { norm: view.norm, resize: view.resize, cropSize: view.crop }, false)[0]!;
}

/**
 * The class names of `net`: `given` (e.g. read from a file), else the weights' metadata, else the
 * 1000 ImageNet classes for 1000-way nets and CIFAR-10's for 10-way CIFAR nets, else `class N`.
 */
export function classLabels(net: ResNet, metadata: Record<string, string>, given?: string[]): string[] {
  const classes = net.options.classes;
  let labels = given;
  if (labels === undefined && metadata.labels !== undefined) labels = JSON.parse(metadata.labels) as string[];
  else if (labels === undefined && classes === 1000) labels = imagenetClasses();
  else if (labels === undefined && classes === 10 && net.spec.family === 'cifar') labels = CIFAR10_CLASSES;
  if (labels !== undefined && labels.length !== classes) throw new Error(`${labels.length} labels for a network with ${classes} classes`);
  return labels ?? Array.from({ length: classes }, (_, i) => `class ${i}`);
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
