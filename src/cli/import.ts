// `resnet import`: PyTorch weights (.pth) → safetensors, read without Python.

import { readUserFile } from '../io/file-errors.js';
import { basename } from 'node:path';
import { IMAGENET_NORMALIZATION } from '../data/transforms.js';
import { normalizationMetadata } from '../eval/metadata.js';
import { writeSafetensors } from '../io/safetensors.js';
import { type WeightsFile, importedNetOptions, netFromWeights, netMetadata, readWeights } from '../models/weights.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readPth } from '../io/pth.js';
import { type Command, UsageError, parseFlags } from './command.js';
import { NET_FLAGS, NET_FLAGS_USAGE, netOptionsFromFlags } from './net-flags.js';

export const importCommand: Command = {
  name: 'import',
  summary: 'convert PyTorch .pth weights to safetensors (no Python needed)',
  usage: `Usage: resnet import MODEL.pth --out MODEL.safetensors [--net NET] [options]

  MODEL.pth              a torch.save file (zip or legacy format) holding a state dict, or a
                         checkpoint with one under 'state_dict' or 'model'; only tensors, dicts
                         and the functions that rebuild them are read: nothing in it is executed
  --out FILE             where to write the safetensors file (float32)
  --net NET              check the weights against this network (strict: missing, unexpected
                         and mis-shaped keys are errors) and record it, its options and (for
                         ImageNet nets) torchvision's ImageNet normalization in the metadata,
                         so that predict, forward and export need no flags later.
                         A file without resnet-ts metadata is taken to be in torchvision's layout:
                         ResNet-50/101/152 stride the bottleneck's 3×3 conv (--stride-in 3x3,
                         said when assumed); give --stride-in 1x1 for the paper's layout. The
                         written file records every option, so later commands need none.

${NET_FLAGS_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { ...NET_FLAGS, net: { type: 'string' }, out: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new UsageError('import needs exactly one .pth file');
    if (!values.out) throw new UsageError('import needs --out FILE.safetensors');
    const input = positionals[0]!;
    const source = { source: basename(input) };

    const file = readInput(input);
    if (values.net === undefined) {
      writeFileAtomic(values.out, writeSafetensors(file.tensors, { format: 'resnet-ts', ...source }, { checksum: true }));
      console.error(`wrote ${file.tensors.size} tensors to ${values.out} (no --net: not checked against a network)`);
      return;
    }
    const { options, assumed } = file.net === undefined ? importedNetOptions(values.net, netOptionsFromFlags(values)) : { options: netOptionsFromFlags(values), assumed: null };
    if (assumed) console.error(`resnet import: assuming ${assumed}`);
    const net = netFromWeights(file, input, values.net, options);
    const normalization = net.spec.family === 'imagenet' ? normalizationMetadata(IMAGENET_NORMALIZATION) : {};
    writeFileAtomic(values.out, writeSafetensors(net.stateDictArrays(), netMetadata(net, { ...source, ...normalization }), { checksum: true }));
    console.error(`wrote ${net.name} (${net.stateDict().size} tensors, options ${JSON.stringify(net.options)}) to ${values.out}`);
  },
};

/** A torch.save file whatever its extension (.pth, .pt, .pth.tar, .ckpt, …); .safetensors as such. */
function readInput(path: string): WeightsFile {
  if (path.toLowerCase().endsWith('.safetensors')) return readWeights(path);
  return { tensors: readPth(readUserFile(path, 'weights'), path), metadata: {} };
}
