// DIR/checkpoint.safetensors: everything a run needs to continue as if it had never stopped.
//
//   tensors   model.<state_dict key>   weights and BN statistics (num_batches_tracked included)
//             optim.momentum.<i>       SGD momentum buffer of parameter i (absent before its first step)
//   metadata  format, net, options, recipe, data, seed, iteration, total,
//             schedule   the lr schedule's state (optim/schedule.ts ScheduleState)
//             loader     the position of the next batch ({epoch, batchIndex})
//             rng        the randomness of the run: the seed its streams are derived from and the
//                        position they are keyed by (data/batch.ts: batch (e, b) draws from
//                        Rng.derive(seed, stream, e, b), so seed + position is the whole state)
//             progress   running sums for the log (epoch and log-window accumulators, elapsed time)
//             normalization  the mean image (eval/metadata.ts), not recomputed on resume
//
// Written atomically (temporary file, then rename): a crash during the write leaves the previous one.

import { readFileSync } from 'node:fs';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../models/weights.js';
import type { NetOptions, ResNet } from '../models/resnet.js';
import type { SGD } from '../optim/sgd.js';
import type { ScheduleState } from '../optim/schedule.js';
import type { LoaderPosition } from '../data/loader.js';
import type { DataInfo, StoredNormalization } from '../eval/metadata.js';
import type { Recipe } from './recipe.js';

export const CHECKPOINT_FORMAT = 'resnet-ts-checkpoint-1';

/** Running sums that the log's records are made of. */
export interface ProgressState {
  /** Seconds of training (steps, evaluation, checkpoints) before this session. */
  elapsed: number;
  epoch: { loss: number; wrong: number; images: number; steps: number };
  window: { loss: number; wrong: number; images: number; steps: number };
  lastVal: { iteration: number; top1Error: number; top5Error: number | null; loss: number } | null;
  /** Mean loss and error of the last finished epoch. */
  lastEpoch?: { loss: number; error: number };
}

export interface CheckpointInfo {
  net: string;
  options: NetOptions;
  recipe: Recipe;
  data: DataInfo;
  seed: number;
  iteration: number;
  total: number;
  schedule: ScheduleState;
  loader: LoaderPosition;
  progress: ProgressState;
  normalization: StoredNormalization;
}

export function writeCheckpoint(path: string, net: ResNet, opt: SGD, info: CheckpointInfo): void {
  const tensors: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const [k, v] of net.stateDictArrays()) tensors.push([`model.${k}`, v]);
  opt.stateArrays().forEach((b, i) => {
    if (b) tensors.push([`optim.momentum.${i}`, { shape: [b.length], data: b }]);
  });
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    net: info.net,
    options: JSON.stringify(info.options),
    recipe: JSON.stringify(info.recipe),
    data: JSON.stringify(info.data),
    seed: String(info.seed),
    iteration: String(info.iteration),
    total: String(info.total),
    schedule: JSON.stringify(info.schedule),
    loader: JSON.stringify(info.loader),
    rng: JSON.stringify({ seed: info.seed, position: info.loader }),
    progress: JSON.stringify(info.progress),
    normalization: JSON.stringify(info.normalization),
  };
  writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

export interface Checkpoint extends CheckpointInfo {
  model: Map<string, { shape: number[]; data: Float32Array }>;
  /** Momentum buffers by parameter index; null where none existed. */
  momentum: (Float32Array | null)[];
}

export function readCheckpoint(path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read checkpoint '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { metadata, tensors } = readSafetensors(bytes, path);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${path} is not a resnet-ts checkpoint (format '${metadata.format}')`);
  const json = <T>(key: string): T => {
    if (metadata[key] === undefined) throw new Error(`${path}: checkpoint metadata lacks '${key}'`);
    return JSON.parse(metadata[key]) as T;
  };
  const model = new Map<string, { shape: number[]; data: Float32Array }>();
  const momentum: (Float32Array | null)[] = [];
  for (const [k, t] of tensors) {
    if (k.startsWith('model.')) model.set(k.slice('model.'.length), { shape: t.shape, data: t.data });
    else if (k.startsWith('optim.momentum.')) momentum[Number(k.slice('optim.momentum.'.length))] = t.data;
  }
  return {
    net: metadata.net,
    options: json<NetOptions>('options'),
    recipe: json<Recipe>('recipe'),
    data: json<DataInfo>('data'),
    seed: Number(metadata.seed),
    iteration: Number(metadata.iteration),
    total: Number(metadata.total),
    schedule: json<ScheduleState>('schedule'),
    loader: json<LoaderPosition>('loader'),
    progress: json<ProgressState>('progress'),
    normalization: json<StoredNormalization>('normalization'),
    model,
    momentum,
  };
}

/** Momentum buffers for `count` parameters (null for the missing ones). */
export function momentumFor(c: Checkpoint, count: number): (Float32Array | null)[] {
  return Array.from({ length: count }, (_, i) => c.momentum[i] ?? null);
}
