// `resnet predict`: top-5 labels for photographs, with the test view of `resnet eval` (torchvision's
// evaluation preprocessing for ImageNet nets); the work is eval/predict.ts's.

import { existsSync } from 'node:fs';
import { readUserFile } from '../io/file-errors.js';
import { inputView } from '../eval/metadata.js';
import { classLabels, predict } from '../eval/predict.js';
import { loadKernels } from '../kernels/select.js';
import { netFromWeights, readWeights } from '../models/weights.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, NET_FLAGS, NET_FLAGS_USAGE, backendFromFlags, netOptionsFromFlags } from './net-flags.js';

export const predictCommand: Command = {
  name: 'predict',
  summary: 'top-5 labels for JPEG/PNG/WebP images',
  usage: `Usage: resnet predict --weights W [--net NET] [options] IMAGE...

  --weights W            .safetensors written by resnet-ts (net, options and preprocessing come
                         from its metadata), or torchvision .pth/.safetensors weights with --net
  --net NET              the network, for weights without resnet-ts metadata; torchvision's
                         ResNet-50/101/152 weights also need --stride-in 3x3
  --top K                how many classes to list (default 5)
  --labels FILE          class names, one per line (default: from the weights' metadata, i.e. the
                         class folders of an image folder run; else the 1000 ImageNet classes for
                         1000-way nets, CIFAR-10's for 10-way CIFAR nets)
  --json                 print {image, top: [{index, label, probability}]} objects as a JSON array

The image goes through resnet eval's single test view, which is torchvision's evaluation transform
reproduced exactly (PIL's antialiased bilinear resize): shorter side to 256, center crop 224,
ImageNet mean/std — or the input size, test view and normalization that the weights' metadata
records (a net trained here on an image folder sees the image resized exactly as its training
images were; a one-channel net, e.g. the demo's Fashion-MNIST model, sees it in grayscale). The
image's ICC profile and EXIF orientation are ignored, as PIL does.

${NET_FLAGS_USAGE}

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...NET_FLAGS, ...BACKEND_FLAGS, net: { type: 'string' }, weights: { type: 'string' },
      top: { type: 'string' }, labels: { type: 'string' }, json: { type: 'boolean' },
    }, true);
    if (!values.weights) throw new UsageError('predict needs --weights');
    if (positionals.length === 0) throw new UsageError('predict needs at least one image');
    for (const image of positionals) if (!existsSync(image)) throw new Error(`cannot read image '${image}': no such file`);
    const top = intFlag(values.top, '--top', 5);
    const given = values.labels === undefined ? undefined : readLabels(values.labels);

    const kernels = await loadKernels(backendFromFlags(values));
    const file = readWeights(values.weights);
    const net = netFromWeights(file, values.weights, values.net, { ...netOptionsFromFlags(values), kernels });
    if (net.options.inChannels !== 1 && net.options.inChannels !== 3) {
      throw new UsageError(`predict makes 1- or 3-channel inputs from images; ${net.name} takes ${net.options.inChannels} channels`);
    }
    const { view, guessed } = inputView(file.metadata, net.spec.family, values.weights);
    if (guessed) console.warn(`resnet predict: '${values.weights}' records no normalization; using shorter side 32, center crop 32, no normalization`);
    let labels: string[];
    try {
      labels = classLabels(net, file.metadata, given);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const predictions = await predict(net, positionals, { view, labels, top });

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

function readLabels(path: string): string[] {
  return readUserFile(path, 'labels').toString('utf8').split('\n').filter((l) => l.length > 0);
}
