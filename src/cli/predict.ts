// `resnet predict`: top-5 labels for photographs, with torchvision's evaluation preprocessing.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { noGrad } from '../autograd/tape.js';
import { CIFAR10_CLASSES } from '../data/cifar10.js';
import {
  decodeRgb, type EvalPreprocessing, IMAGENET_EVAL, preprocessForEval, preprocessingFromMetadata,
} from '../data/preprocess.js';
import { loadKernels } from '../kernels/select.js';
import { type CreateOptions, type ResNet, createNet } from '../models/resnet.js';
import { isNetName } from '../models/registry.js';
import { type WeightsFile, readWeights } from '../models/weights.js';
import { fromArray } from '../tensor/tensor.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, NET_FLAGS, NET_FLAGS_USAGE, backendFromFlags, netOptionsFromFlags } from './net-flags.js';

/** Images per forward pass. */
const BATCH = 8;

export interface Prediction {
  image: string;
  top: { index: number; label: string; probability: number }[];
}

export const predictCommand: Command = {
  name: 'predict',
  summary: 'top-5 labels for JPEG/PNG images',
  usage: `Usage: resnet predict --weights W [--net NET] [options] IMAGE...

  --weights W            .safetensors written by resnet-ts (net, options and preprocessing come
                         from its metadata), or torchvision .pth/.safetensors weights with --net
  --net NET              the network, for weights without resnet-ts metadata; torchvision's
                         ResNet-50/101/152 weights also need --stride-in 3x3
  --top K                how many classes to list (default 5)
  --labels FILE          class names, one per line (default: from the weights' metadata, else the
                         1000 ImageNet classes for 1000-way nets, CIFAR-10's for 10-way CIFAR nets)
  --json                 print {image, top: [{index, label, probability}]} objects as a JSON array

Preprocessing is torchvision's evaluation transform, reproduced exactly (PIL's antialiased
bilinear resize): shorter side to 256, center crop 224, ImageNet mean/std — or what the weights'
metadata records. The image's ICC profile and EXIF orientation are ignored, as PIL does.

${NET_FLAGS_USAGE}

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...NET_FLAGS, ...BACKEND_FLAGS, net: { type: 'string' }, weights: { type: 'string' },
      top: { type: 'string' }, labels: { type: 'string' }, json: { type: 'boolean' },
    }, true);
    if (!values.weights) throw new UsageError('predict needs --weights');
    if (positionals.length === 0) throw new UsageError('predict needs at least one image');
    for (const image of positionals) if (!existsSync(image)) throw new UsageError(`no such image: '${image}'`);

    const kernels = await loadKernels(backendFromFlags(values));
    const { net, file } = openNet(values.weights, values.net, { ...netOptionsFromFlags(values), kernels });
    if (net.options.inChannels !== 3) throw new UsageError(`predict needs a network with 3 input channels, ${name} has ${net.options.inChannels}`);

    const preprocessing = choosePreprocessing(net, file, values.weights);
    const labels = chooseLabels(net, file, values.labels);
    const top = intFlag(values.top, '--top', 5);
    const predictions = await predict(net, positionals, preprocessing, labels, Math.min(top, net.options.classes));

    if (values.json) {
      console.log(JSON.stringify(predictions, null, 2));
      return;
    }
    for (const p of predictions) {
      console.log(p.image);
      for (const t of p.top) console.log(`  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${String(t.index).padStart(4)}  ${t.label}`);
    }
  },
};

/**
 * Reads a weights file once and builds the network it holds, in eval mode. Flags win over the file's
 * metadata; a file without metadata needs `netName`.
 */
export function openNet(path: string, netName: string | undefined, options: CreateOptions): { net: ResNet; file: WeightsFile } {
  const file = readWeights(path);
  return { net: buildNet(file, path, netName, options), file };
}

/** The network `file` holds (see openNet), with its weights loaded. */
export function buildNet(file: WeightsFile, path: string, netName: string | undefined, options: CreateOptions): ResNet {
  const name = netName ?? file.net;
  if (name === undefined) throw new UsageError(`'${path}' does not say which network it holds: pass --net`);
  if (!isNetName(name)) throw new UsageError(`unknown network '${name}'`);
  const net = createNet(name, { ...file.options, ...options, skipInit: true });
  try {
    net.loadStateDict(file.tensors);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return net.eval();
}

/** Decodes, preprocesses and classifies `images` in batches; returns the top `k` of each. */
export async function predict(net: ResNet, images: string[], preprocessing: EvalPreprocessing, labels: string[], k: number): Promise<Prediction[]> {
  const out: Prediction[] = [];
  const side = preprocessing.crop;
  const size = 3 * side * side;
  for (let start = 0; start < images.length; start += BATCH) {
    const names = images.slice(start, start + BATCH);
    const batch = new Float32Array(names.length * size); // [n, 3, crop, crop]
    for (let i = 0; i < names.length; i++) {
      let decoded;
      try {
        decoded = await decodeRgb(names[i]!);
      } catch (e) {
        throw new Error(`cannot decode '${names[i]}' as JPEG or PNG: ${(e as Error).message}`);
      }
      batch.set(preprocessForEval(decoded, preprocessing), i * size);
    }
    const logits = noGrad(() => net.forward(fromArray(batch, [names.length, 3, side, side], { kernels: net.fc.weight.kernels })).toArray());
    const classes = net.options.classes;
    names.forEach((image, i) => {
      const probabilities = softmax(logits.subarray(i * classes, (i + 1) * classes));
      out.push({ image, top: topK(probabilities, k).map((index) => ({ index, label: labels[index] ?? `class ${index}`, probability: probabilities[index]! })) });
    });
  }
  return out;
}

/** Numerically stable softmax in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / total);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[b]! - values[a]! || a - b);
  return order.slice(0, k);
}

function choosePreprocessing(net: ResNet, file: WeightsFile, source: string): EvalPreprocessing {
  const recorded = preprocessingFromMetadata(file.metadata, source);
  if (recorded) return recorded;
  if (net.spec.family === 'imagenet') return IMAGENET_EVAL;
  // A CIFAR net trained elsewhere: the image is brought to 32×32; normalization is unknown.
  console.warn(`resnet predict: '${source}' records no preprocessing; using shorter side 32, center crop 32, no normalization`);
  return { resize: 32, crop: 32, mean: [0, 0, 0], std: [1, 1, 1] };
}

function chooseLabels(net: ResNet, file: WeightsFile, labelsPath: string | undefined): string[] {
  const classes = net.options.classes;
  let labels: string[] | undefined;
  if (labelsPath !== undefined) {
    try {
      labels = readFileSync(labelsPath, 'utf8').split('\n').filter((l) => l.length > 0);
    } catch (e) {
      throw new UsageError(`cannot read labels '${labelsPath}': ${(e as NodeJS.ErrnoException).code}`);
    }
  } else if (file.metadata.labels !== undefined) {
    labels = JSON.parse(file.metadata.labels) as string[];
  } else if (classes === 1000) {
    labels = imagenetClasses();
  } else if (classes === 10 && net.spec.family === 'cifar') {
    labels = CIFAR10_CLASSES;
  }
  if (labels !== undefined && labels.length !== classes) {
    throw new UsageError(`${labels.length} labels for a network with ${classes} classes`);
  }
  return labels ?? Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** The 1000 ImageNet class names bundled in assets/ (torchvision's list, in class-index order). */
export function imagenetClasses(): string[] {
  // Compiled: dist/src/cli/predict.js → <package root>/assets (three levels up); from the sources, two.
  for (const up of ['../../../', '../../']) {
    const path = fileURLToPath(new URL(`${up}assets/imagenet-classes.txt`, import.meta.url));
    if (existsSync(path)) return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  }
  throw new Error('assets/imagenet-classes.txt is missing from the installation');
}
