// Network weights as bytes (safetensors, ours and others'; PyTorch .pth), with no file system:
// what the Node host reads from disk (weights.ts) and a browser page gets from a dropped file.
// Files written by resnet-ts carry the network name and its options in the safetensors metadata,
// so that the net can be rebuilt without flags.

import { readPth } from '../io/pth.js';
import { type StoredTensor, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { FormatError, LibraryError } from '../io/errors.js';
import { type CreateOptions, type NetOptions, type ResNet, createNet } from './resnet.js';
import { checkFileOptions } from './options-check.js';
import { isNetName } from './registry.js';

export interface WeightsFile {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** The network and options recorded in the file, when it was written by resnet-ts. */
  net?: string;
  options?: Partial<NetOptions>;
  metadata: Record<string, string>;
}

/**
 * Parses the bytes of a .safetensors or a torch.save (.pth/.pt) file; `source` is its name, whose
 * extension tells a safetensors file (torch files are recognized by their first bytes).
 */
export function parseWeights(bytes: Uint8Array, source: string): WeightsFile {
  if (isTorchFile(bytes)) return { tensors: stripStored(readPth(bytes, source)), metadata: {} };
  const dot = source.lastIndexOf('.');
  const ext = dot > source.lastIndexOf('/') && dot >= 0 ? source.slice(dot).toLowerCase() : '';
  if (ext !== '.safetensors') {
    throw new Error(`unknown weights format '${ext}' for '${source}': expected .safetensors or a torch.save file (.pth, .pt)`);
  }
  const { metadata, tensors } = readSafetensors(bytes, source);
  const out: WeightsFile = { tensors: stripStored(tensors), metadata };
  if (metadata.net) {
    if (!isNetName(metadata.net)) throw new FormatError(`${source}: metadata 'net' is '${metadata.net.slice(0, 40)}', not a network name`);
    out.net = metadata.net;
  }
  if (metadata.options) {
    let options: unknown;
    try {
      options = JSON.parse(metadata.options);
    } catch {
      throw new FormatError(`${source}: metadata 'options' is not valid JSON`);
    }
    const values = [...tensors.values()].reduce((n, t) => n + t.data.length, 0);
    out.options = checkFileOptions(options, source, metadata.net, values);
  }
  return out;
}

/** torch.save writes a zip archive ('PK\x03\x04') or, before torch 1.6, a pickle (protocol 2: 0x80 0x02). */
function isTorchFile(bytes: Uint8Array): boolean {
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  return zip || (bytes[0] === 0x80 && bytes[1] === 0x02);
}

function stripStored(m: Map<string, StoredTensor | { shape: number[]; data: Float32Array }>): WeightsFile['tensors'] {
  return new Map([...m].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
}

/** The network a weights file already read holds (see loadNet); `source` names the file in errors. */
export function netFromWeights(file: WeightsFile, source: string, net?: string, options: CreateOptions = {}): ResNet {
  const name = net ?? file.net;
  if (name === undefined) throw new LibraryError((n) => `'${source}' does not say which network it holds: pass ${n.option('net')}`);
  if (!isNetName(name)) throw new Error(`unknown network '${name}'`);
  const model = createNet(name, { ...file.options, ...withoutUndefined(options), skipInit: true });
  try {
    model.loadStateDict(file.tensors);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return model;
}

/**
 * The options a state dict's shapes tell, for files that record none (torchvision's): the width
 * (filters of conv1), the input channels and the classes (outputs of fc). Absent keys tell nothing.
 */
export function shapeOptions(file: WeightsFile): Partial<NetOptions> {
  const o: Partial<NetOptions> = {};
  const conv1 = file.tensors.get('conv1.weight');
  if (conv1?.shape.length === 4) {
    o.width = conv1.shape[0]!;
    o.inChannels = conv1.shape[1]!;
  }
  const fc = file.tensors.get('fc.weight');
  if (fc?.shape.length === 2) o.classes = fc.shape[0]!;
  return o;
}

/** Metadata that lets `predict` and `forward` rebuild the net without flags. */
export function netMetadata(model: ResNet, extra: Record<string, string> = {}): Record<string, string> {
  return {
    format: 'resnet-ts',
    net: model.name,
    options: JSON.stringify(model.options),
    ...extra,
  };
}

/** The network's state dict as safetensors bytes (with a checksum of the data), with its metadata (netMetadata) and `extra`. */
export function weightsBytes(model: ResNet, extra: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(model.stateDictArrays(), netMetadata(model, extra), { checksum: true });
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
