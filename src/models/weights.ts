// Network weights on disk: safetensors (ours and others'), and PyTorch .pth files.
// Files written here carry the network name, its options and its preprocessing in
// the safetensors metadata, so a later command needs no flags to rebuild the net.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { readPth } from '../io/pth.js';
import { type StoredTensor, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { FormatError } from '../io/errors.js';
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

/** Reads a .safetensors or .pth/.pt file. */
export function readWeights(path: string): WeightsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read weights '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (isTorchFile(bytes)) return { tensors: stripStored(readPth(bytes, path)), metadata: {} };
  const ext = extname(path).toLowerCase();
  if (ext !== '.safetensors') {
    throw new Error(`unknown weights format '${ext}' for '${path}': expected .safetensors or a torch.save file (.pth, .pt)`);
  }
  const { metadata, tensors } = readSafetensors(bytes, path);
  const out: WeightsFile = { tensors: stripStored(tensors), metadata };
  if (metadata.net) {
    if (!isNetName(metadata.net)) throw new FormatError(`${path}: metadata 'net' is '${metadata.net.slice(0, 40)}', not a network name`);
    out.net = metadata.net;
  }
  if (metadata.options) {
    let options: unknown;
    try {
      options = JSON.parse(metadata.options);
    } catch {
      throw new FormatError(`${path}: metadata 'options' is not valid JSON`);
    }
    const values = [...tensors.values()].reduce((n, t) => n + t.data.length, 0);
    out.options = checkFileOptions(options, path, metadata.net, values);
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

/**
 * Reads a weights file and builds the network it holds, with its weights loaded. `net` and
 * `options` given here win over the file's metadata; a file without metadata needs `net`.
 */
export function loadNet(path: string, net?: string, options: CreateOptions = {}): ResNet {
  return netFromWeights(readWeights(path), path, net, options);
}

/** The network a weights file already read holds (see loadNet); `source` names the file in errors. */
export function netFromWeights(file: WeightsFile, source: string, net?: string, options: CreateOptions = {}): ResNet {
  const name = net ?? file.net;
  if (name === undefined) throw new Error(`'${source}' does not say which network it holds: pass --net`);
  if (!isNetName(name)) throw new Error(`unknown network '${name}'`);
  const model = createNet(name, { ...file.options, ...withoutUndefined(options), skipInit: true });
  try {
    model.loadStateDict(file.tensors);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return model;
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

/** Writes the network's state dict as safetensors (with a checksum of the data), atomically (temporary file, then rename). */
export function saveWeights(path: string, model: ResNet, extra: Record<string, string> = {}): void {
  writeFileAtomic(path, writeSafetensors(model.stateDictArrays(), netMetadata(model, extra), { checksum: true }));
}

export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
