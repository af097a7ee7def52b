// Network weights on disk: safetensors (ours and others'), and PyTorch .pth files. The formats
// themselves, without files, are in weights-bytes.ts (the browser app uses that part).

import { writeFileAtomic } from '../io/atomic-write.js';
import { readUserFile } from '../io/file-errors.js';
import type { CreateOptions, NetOptions, ResNet } from './resnet.js';
import { NETS, isNetName } from './registry.js';
import { type WeightsFile, netFromWeights, parseWeights, weightsBytes } from './weights-bytes.js';

export { type WeightsFile, netFromWeights, netMetadata, parseWeights, shapeOptions, weightsBytes } from './weights-bytes.js';

/** Reads a .safetensors or .pth/.pt file. */
export function readWeights(path: string): WeightsFile {
  return parseWeights(readUserFile(path, 'weights'), path);
}

/**
 * Reads a weights file and builds the network it holds, with its weights loaded. `net` and
 * `options` given here win over the file's metadata; a file without metadata needs `net`.
 */
export function loadNet(path: string, net?: string, options: CreateOptions = {}): ResNet {
  return netFromWeights(readWeights(path), path, net, options);
}

/** Writes the network's state dict as safetensors (with a checksum of the data), atomically (temporary file, then rename). */
export function saveWeights(path: string, model: ResNet, extra: Record<string, string> = {}): void {
  writeFileAtomic(path, weightsBytes(model, extra));
}

/**
 * Options for weights made elsewhere (a .pth, or safetensors without resnet-ts metadata): the
 * layout of torchvision, where nearly all such files come from, unless an option says otherwise.
 * Its bottlenecks stride the 3×3 conv (v1.5), the paper the first 1×1; the shapes are the same,
 * so only this choice tells them apart (the paper's layout on torchvision weights gives logits
 * several percent off). Returns the options and the assumption made, if any, to report it.
 */
export function importedNetOptions(net: string, given: Partial<NetOptions>): { options: Partial<NetOptions>; assumed: string | null } {
  if (!isNetName(net) || NETS[net].block !== 'bottleneck' || given.strideIn !== undefined) return { options: given, assumed: null };
  return {
    options: { ...given, strideIn: '3x3' },
    assumed: "torchvision's layout: the 3×3 conv of each bottleneck strides (--stride-in 3x3); pass --stride-in 1x1 for weights in the paper's layout",
  };
}
