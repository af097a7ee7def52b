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
//             settings   log/checkpoint frequency, testing, micro-batch (train/run-settings.ts);
//                        absent in checkpoints written before they were kept
//
// Written atomically (temporary file, then rename): a crash during the write leaves the previous one.
// The data section's CRC-32 is recorded (io/safetensors.ts) and verified on read; files written
// before it existed load without it. Every metadata field is validated on read (type, range,
// finiteness), and a problem is a FormatError naming the file and the field.

import { FormatError } from '../io/errors.js';
import { readUserFile } from '../io/file-errors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { checkFileOptions } from '../models/options-check.js';
import { isNetName } from '../models/registry.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { NetOptions, ResNet } from '../models/resnet.js';
import type { SGD } from '../optim/sgd.js';
import type { ScheduleState } from '../optim/schedule.js';
import type { LoaderPosition } from '../data/loader.js';
import { type DataInfo, type StoredNormalization, checkGeometry } from '../eval/metadata.js';
import type { Recipe } from './recipe.js';
import type { RunSettings } from './run-settings.js';

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
  settings?: RunSettings;
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
    ...(info.settings ? { settings: JSON.stringify(info.settings) } : {}),
  };
  writeFileAtomic(path, writeSafetensors(tensors, metadata, { checksum: true }));
}

export interface Checkpoint extends CheckpointInfo {
  model: Map<string, { shape: number[]; data: Float32Array }>;
  /** Momentum buffers by parameter index; null where none existed. */
  momentum: (Float32Array | null)[];
}

export function readCheckpoint(path: string): Checkpoint {
  const { metadata, tensors } = readSafetensors(readUserFile(path, 'checkpoint'), path);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new FormatError(`${path} is not a resnet-ts checkpoint (format '${metadata.format}')`);
  const model = new Map<string, { shape: number[]; data: Float32Array }>();
  const momentum: (Float32Array | null)[] = [];
  let values = 0;
  for (const [k, t] of tensors) {
    values += t.data.length;
    if (k.startsWith('model.')) model.set(k.slice('model.'.length), { shape: t.shape, data: t.data });
    else if (/^optim\.momentum\.(0|[1-9][0-9]{0,5})$/.test(k) && Number(k.slice('optim.momentum.'.length)) < tensors.size) {
      momentum[Number(k.slice('optim.momentum.'.length))] = t.data;
    } else throw new FormatError(`${path}: unexpected tensor '${k}' in a checkpoint (expected model.<name> and optim.momentum.<index>)`);
  }
  return { ...readInfo(new Fields(path, metadata), values), model, momentum };
}

/** The metadata, field by field (see the header comment for what each holds). */
function readInfo(f: Fields, values: number): CheckpointInfo {
  const net = f.string('net');
  if (!isNetName(net)) f.fail('net', `'${net.slice(0, 40)}' is not a network name`);
  const total = f.int('total', 1);
  const iteration = f.int('iteration', 0);
  if (iteration > total) f.fail('iteration', `${iteration} is past the run's total of ${total} iterations`);
  const options = checkFileOptions(f.json('options'), f.path, net, values);

  const recipe = f.object('recipe');
  f.check('recipe', recipe, {
    name: 'string', batchSize: 'count', lr: 'finite', momentum: 'finite', weightDecay: 'finite', nesterov: 'boolean',
    iterations: 'count|null', epochs: 'finite|null', schedule: 'object', warmup: 'object|null', augmentation: 'object',
    normalization: 'string', validation: 'object', evalEvery: 'count|null', testResize: 'count|null', testCrop: 'count|null',
  });
  const data = f.object('data');
  f.check('data', data, { name: 'string', dir: 'string', classes: 'array', channels: 'count', height: 'count|null', width: 'count|null' });
  if (!(data.classes as unknown[]).every((c) => typeof c === 'string')) f.fail('data', 'classes is not a list of strings');
  if (data.imageSize !== undefined) f.check('data', data, { imageSize: 'count', geometry: 'object' });
  if (data.geometry !== undefined) checkGeometry(data.geometry, (problem) => f.fail('data', `geometry ${problem}`));
  const schedule = f.object('schedule');
  f.check('schedule', schedule, { iteration: 'natural' });
  const loader = f.object('loader');
  f.check('loader', loader, { epoch: 'natural', batchIndex: 'natural' });
  const progress = f.object('progress');
  f.check('progress', progress, { elapsed: 'finite', epoch: 'object', window: 'object', lastVal: 'object|null' });
  for (const part of ['epoch', 'window'] as const) {
    f.check(`progress.${part}`, progress[part] as Record<string, unknown>, { loss: 'finite', wrong: 'natural', images: 'natural', steps: 'natural' });
  }
  const normalization = f.object('normalization');
  const kind = normalization.kind;
  if (kind === 'meanImage') f.check('normalization', normalization, { shape: 'array', base64: 'string' });
  else if (kind === 'channel') f.check('normalization', normalization, { mean: 'array', std: 'array' });
  else if (kind !== 'none') f.fail('normalization', `kind ${JSON.stringify(kind)?.slice(0, 40)} is not none, meanImage or channel`);
  let settings: RunSettings | undefined;
  if (f.has('settings')) {
    const o = f.object('settings');
    f.check('settings', o, { logEvery: 'count', checkpointEvery: 'count', test: 'boolean', microBatch: 'count' });
    settings = o as unknown as RunSettings;
  }
  return {
    net, options: options as NetOptions, recipe: recipe as unknown as Recipe, data: data as unknown as DataInfo,
    seed: f.int('seed', 0), iteration, total,
    schedule: schedule as unknown as ScheduleState, loader: loader as unknown as LoaderPosition,
    progress: progress as unknown as ProgressState, normalization: normalization as unknown as StoredNormalization,
    ...(settings ? { settings } : {}),
  };
}

type FieldType = 'string' | 'boolean' | 'finite' | 'natural' | 'count' | 'object' | 'array';

/** Reads and checks the metadata of checkpoint `path`; every problem names the file and the field. */
class Fields {
  constructor(
    readonly path: string,
    private readonly metadata: Record<string, string>,
  ) {}

  has(key: string): boolean {
    return this.metadata[key] !== undefined;
  }

  fail(key: string, problem: string): never {
    throw new FormatError(`${this.path}: checkpoint metadata '${key}': ${problem}`);
  }

  string(key: string): string {
    const v = this.metadata[key];
    if (v === undefined) this.fail(key, 'missing');
    return v!;
  }

  /** A decimal integer in [min, 2^53). */
  int(key: string, min: number): number {
    const text = this.string(key);
    const v = /^-?[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(v) || v < min) this.fail(key, `'${text.slice(0, 40)}' is not an integer ≥ ${min}`);
    return v;
  }

  /** Parsed JSON whose numbers are all finite (JSON reads 1e999 as Infinity). */
  json(key: string): unknown {
    let v: unknown;
    try {
      v = JSON.parse(this.string(key));
    } catch (e) {
      this.fail(key, `not valid JSON (${(e as Error).message})`);
    }
    const pending = [v];
    while (pending.length > 0) {
      const x = pending.pop();
      if (typeof x === 'number' && !Number.isFinite(x)) this.fail(key, `holds the non-finite number ${x}`);
      if (typeof x === 'object' && x !== null) for (const y of Object.values(x)) pending.push(y);
    }
    return v;
  }

  object(key: string): Record<string, unknown> {
    const v = this.json(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'not a JSON object');
    return v as Record<string, unknown>;
  }

  /** Each field of `o` has its type ('a|null' allows null); `key` names where `o` is. */
  check(key: string, o: Record<string, unknown>, types: Record<string, `${FieldType}` | `${FieldType}|null`>): void {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) this.fail(key, 'not a JSON object');
    for (const [field, type] of Object.entries(types)) {
      const v = o[field];
      const [base, nullable] = type.split('|') as [FieldType, string | undefined];
      if (v === null && nullable) continue;
      const ok =
        base === 'string' ? typeof v === 'string'
        : base === 'boolean' ? typeof v === 'boolean'
        : base === 'finite' ? typeof v === 'number' && Number.isFinite(v)
        : base === 'natural' ? Number.isSafeInteger(v) && (v as number) >= 0
        : base === 'count' ? Number.isSafeInteger(v) && (v as number) >= 1
        : base === 'array' ? Array.isArray(v)
        : typeof v === 'object' && v !== null && !Array.isArray(v);
      if (!ok) {
        const what = { string: 'a string', boolean: 'true or false', finite: 'a finite number', natural: 'an integer ≥ 0', count: 'an integer ≥ 1', object: 'an object', array: 'a list' }[base];
        this.fail(key, `${field} is ${v === undefined ? 'missing' : JSON.stringify(v).slice(0, 40)}, not ${what}${nullable ? ' or null' : ''}`);
      }
    }
  }
}

/** Momentum buffers for `count` parameters (null for the missing ones). */
export function momentumFor(c: Checkpoint, count: number): (Float32Array | null)[] {
  return Array.from({ length: count }, (_, i) => c.momentum[i] ?? null);
}
