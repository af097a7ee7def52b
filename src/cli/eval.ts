// `resnet eval`: top-1 and top-5 error of trained weights on a dataset, with the paper's views.

import { IMAGENET_NORMALIZATION, type Normalization } from '../data/transforms.js';
import { CROP_MODES, type CropMode, type EvalResult, defaultEvalBatch, evaluate, viewWarning } from '../eval/evaluate.js';
import { readTrainedMetadata } from '../eval/metadata.js';
import { loadKernels } from '../kernels/select.js';
import { loadNet, readWeights } from '../models/weights.js';
import { evalDataset } from '../train/data.js';
import { type Command, UsageError, asUsage, intFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, NET_FLAGS, NET_FLAGS_USAGE, backendFromFlags, netOptionsFromFlags } from './net-flags.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'top-1/top-5 error of weights on a dataset (1-crop, 10-crop, multi-scale)',
  usage: `Usage: resnet eval --weights W [--data DATA] [--split test|val] [--crop center|10crop|multiscale] [options]

Weights written by \`resnet train\` carry their network, dataset and preprocessing (the per-pixel
mean image): \`resnet eval --weights runs/demo/model.safetensors\` needs nothing else.

  --weights W            .safetensors (or .pth with --net and --norm)
  --data DATA            cifar10 | fashion-mnist | fashion-mnist-sample | mnist | folder:PATH
                         (default: the dataset the weights were trained on)
  --data-dir D           where the dataset's files are (default: where training found them)
  --split test|val       the test set (default) or the validation images held out in training
  --crop center          the single test view: the image itself (32×32, 28×28 data), or the
                         center 224 crop of the image resized to shorter side 256 (image folders)
  --crop 10crop          average softmax of 10 views: 4 corners + center, and their mirrors.
                         Fixed-size images: windows of the image padded by 4 pixels (the
                         corners and center of the training crops); image folders: 224 crops of
                         the image at shorter side 256
  --crop multiscale      fully convolutional: average softmax of the whole image at shorter sides
                         224, 256, 384, 480, 640 (Sec. 3.4). For small images the sides are scaled
                         by side/224: 32×32 → 32, 37, 55, 69, 91; 28×28 → 28, 32, 48, 60, 80.
                         Views not of the training size subtract the mean image's channel averages
  --sides A,B,...        multi-scale shorter sides instead
  --norm meta|none|imagenet   normalization: from the weights' metadata (default), none, or
                         torchvision's ImageNet mean/std (for imported weights)
  --batch-size N         views per forward pass (default 128, or fewer where the memory estimate
                         says 128 do not fit the kernel set)
  --limit N              only the first N images
  --json                 print the result as JSON
  --net NET              network of weights without resnet-ts metadata

Top-5 error is given with 5 or more classes. 10-crop and multi-scale help a network trained with
the matching augmentation (crops and flips; scale augmentation); on one trained without it they
usually score worse than the single view, and eval says so (the weights record the recipe).

${NET_FLAGS_USAGE}

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...NET_FLAGS, ...BACKEND_FLAGS, weights: { type: 'string' }, data: { type: 'string' }, 'data-dir': { type: 'string' },
      split: { type: 'string' }, crop: { type: 'string' }, sides: { type: 'string' }, norm: { type: 'string' },
      'batch-size': { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, net: { type: 'string' },
    });
    if (!values.weights) throw new UsageError('eval needs --weights W');
    const crop = (values.crop ?? 'center') as CropMode;
    if (!CROP_MODES.includes(crop)) throw new UsageError(`--crop must be one of ${CROP_MODES.join(', ')}, got '${values.crop}'`);
    const split = values.split ?? 'test';
    if (split !== 'test' && split !== 'val') throw new UsageError(`--split must be test or val, got '${split}'`);
    const sides = values.sides?.split(',').map((s) => intFlag(s.trim(), '--sides', 0));
    if (sides && crop !== 'multiscale') throw new UsageError('--sides goes with --crop multiscale');

    const file = readWeights(values.weights);
    const meta = readTrainedMetadata(file.metadata, values.weights);
    const { name: dataName, dataset } = await evalDataset(meta, {
      data: values.data, dataDir: values['data-dir'], split, source: values.weights,
      onMessage: values.json ? undefined : (m) => process.stderr.write(`${m}\n`),
    });

    const normFlag = values.norm ?? 'meta';
    let norm: Normalization;
    const resize = meta.data?.testResize ?? undefined;
    const cropSize = meta.data?.testCrop ?? undefined;
    if (normFlag === 'none') norm = { kind: 'none' };
    else if (normFlag === 'imagenet') norm = IMAGENET_NORMALIZATION;
    else if (normFlag === 'meta') {
      if (!meta.normalization) throw new UsageError(`${values.weights} records no normalization: pass --norm none or --norm imagenet`);
      norm = meta.normalization;
    } else throw new UsageError(`--norm must be meta, none or imagenet, got '${normFlag}'`);

    const kernels = await loadKernels(backendFromFlags(values));
    const net = loadNet(values.weights, values.net, { ...netOptionsFromFlags(values), kernels });
    if (net.options.inChannels !== dataset.channels) {
      throw new UsageError(`${net.name} takes ${net.options.inChannels} channels, ${dataName} has ${dataset.channels}`);
    }
    const limit = values.limit === undefined ? undefined : intFlag(values.limit, '--limit', 0);
    const warning = viewWarning(meta.augmentation, crop);
    if (warning) console.warn(`resnet eval: ${warning}`);
    const pad = meta.augmentation?.kind === 'padCropFlip' ? meta.augmentation.pad : undefined;
    const imageSize = dataset.height !== null && dataset.width !== null ? { height: dataset.height, width: dataset.width } : null;
    const batchSize = values['batch-size'] !== undefined
      ? intFlag(values['batch-size'], '--batch-size', 0)
      : asUsage(() => defaultEvalBatch(net, kernels, crop, { imageSize, resize, cropSize, sides }));
    const tty = process.stderr.isTTY && !values.json;
    const result = await evaluate(net, dataset, {
      kernels, norm, crop, batchSize, resize, cropSize, sides, limit, pad,
      onProgress: tty ? (done, total) => process.stderr.write(`\r${done}/${total} images`) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (values.json) {
      console.log(JSON.stringify({ weights: values.weights, net: net.name, data: dataName, split, ...result }, null, 2));
    } else {
      console.log(formatResult(result, `${net.name} on ${dataName} ${split}`, dataset.classes));
    }
  },
};

export function formatResult(r: EvalResult, what: string, classes: string[] = []): string {
  const view = r.crop === 'multiscale' ? `multi-scale (sides ${r.sides!.join(', ')})` : r.crop === '10crop' ? '10-crop' : '1-crop';
  const lines = [
    `${what}, ${view}, ${r.images} images:`,
    `  top-1 error ${(100 * r.top1Error).toFixed(2)}%  (accuracy ${(100 * (1 - r.top1Error)).toFixed(2)}%)`,
    r.top5Error === null ? '  top-5 error: not meaningful with fewer than 5 classes' : `  top-5 error ${(100 * r.top5Error).toFixed(2)}%`,
    `  loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)} s`,
  ];
  // Per-class errors where they fit a few lines (an image folder's classes, CIFAR-10's).
  if (classes.length > 0 && classes.length <= 20) {
    lines.push(`  error per class: ${classes.map((c, i) => `${c} ${(100 * (r.perClassError[i] ?? 0)).toFixed(1)}%`).join(', ')}`);
  }
  return lines.join('\n');
}
