// Opening a training run (train/loop.ts runs it): a fresh run in an emptied folder, or the run
// recorded in the folder's checkpoint restored to its state; the settings of the session, its log,
// its display and its start record. `Run` is the state that the loop's steps (step, validate,
// checkpoint, finish) work on.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { Loader } from '../data/loader.js';
import type { EvalOptions } from '../eval/evaluate.js';
import { type DataInfo, type StoredNormalization, decodeNormalization, encodeMeanImage } from '../eval/metadata.js';
import type { KernelSet } from '../kernels/contract.js';
import { type NetName, isNetName } from '../models/registry.js';
import { type NetOptions, type ResNet, createNet } from '../models/resnet.js';
import { type StepShape, chooseMicroBatch, estimateMemory, fittingEvalBatch, formatBytes, memoryBudget, memoryCapacity } from '../models/memory.js';
import { Schedule } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { type Checkpoint, type ProgressState, momentumFor, readCheckpoint } from './checkpoint.js';
import { GradientAccumulator } from './accumulate.js';
import { type RunSettings, describeChanges, removeStaleTemporaries, resolveSettings } from './run-settings.js';
import { type DataSplits, fitImageFolder, holdOut, meanImage, openData, trainCrop, trainTransform } from './data.js';
import { JsonlLog, Progress, type ProgressMode } from './progress.js';
import { LibraryError } from '../io/errors.js';
import { type Recipe, type RecipeOverrides, describeRecipe, scheduleSpec, totalIterations } from './recipe.js';

export interface TrainConfig {
  net: NetName;
  /** Network options; inChannels and classes default to the dataset's. */
  netOptions?: Partial<NetOptions>;
  /** A dataset name (cifar10, fashion-mnist, fashion-mnist-sample, mnist, folder:PATH) or datasets at hand. */
  data: string | DataSplits;
  dataDir?: string;
  /**
   * The recipe, or its name (RECIPES). Default: the one that fits the data (an image folder's by its
   * image size: recipeNameForImages; other data: cifar-paper). Resuming takes the checkpoint's.
   */
  recipe?: Recipe | string;
  /** Changes to the recipe (the command line's flags), applied before it is fitted to the net and the images. */
  recipeOverrides?: RecipeOverrides;
  outDir: string;
  kernels: KernelSet;
  /** Seed of the initialization, the shuffling and the augmentation. Default 0. */
  seed?: number;
  /** Continue the run in outDir from its checkpoint (net, recipe, data and seed come from it). */
  resume?: boolean;
  /** Start afresh in an outDir that holds a run (its checkpoint, log and model are removed). */
  overwrite?: boolean;
  /** A step record every this many iterations. Default min(50, iterations per epoch). Kept by the checkpoint. */
  logEvery?: number;
  /** A checkpoint every this many iterations. Default once per epoch. Kept by the checkpoint. */
  checkpointEvery?: number;
  /** A display mode, or a display of the caller's (an experiment's, that adds its overall ETA). */
  progress?: ProgressMode | 'auto' | Progress;
  /** Aborting ends the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** End the run (with a checkpoint) after this many steps of this call. */
  stopAfter?: number;
  /** Evaluate the final weights on the test set. Default true. */
  test?: boolean;
  /** Prepare batches in a worker thread (default: when possible). */
  worker?: boolean;
  /**
   * Points of a test-error curve (the paper's Fig. 4 and 6): every `every` iterations, a `test`
   * log record with the error and loss on the test set, or on its first `images` images.
   */
  testCurve?: { every: number; images?: number };
  /**
   * Images per forward/backward pass: a batch larger runs as micro-batches whose gradients are
   * accumulated (train/accumulate.ts). Default 'auto': the batch when its estimated step memory
   * fits the kernel set, else the largest micro-batch that does.
   */
  microBatch?: number | 'auto';
  /** Image folders: the side images are trained at (default: data/image-size.ts defaultImageSize). */
  imageSize?: number;
}

export const emptyAcc = () => ({ loss: 0, wrong: 0, images: 0, steps: 0 });

/** Where a run's files go. */
export type RunPaths = { checkpoint: string; model: string; log: string };

/**
 * A run while it trains: what `openRun` restored or built, and the counters that the steps move.
 * The steps of `train()` (open, step, validate, checkpoint, finish) are functions of this state.
 */
export interface Run {
  config: TrainConfig;
  out: string;
  paths: RunPaths;
  /** Whether this session continues a checkpoint. */
  resumed: boolean;
  recipe: Recipe;
  seed: number;
  splits: DataSplits;
  trainSet: Dataset;
  val: Dataset | null;
  netName: NetName;
  net: ResNet;
  /** The normalization as stored in the checkpoint and the model file. */
  stored: StoredNormalization;
  dataInfo: DataInfo;
  loader: Loader;
  total: number;
  schedule: Schedule;
  opt: SGD;
  settings: RunSettings;
  microBatch: number;
  accumulator: GradientAccumulator | null;
  log: JsonlLog;
  progress: Progress;
  evalOptions: EvalOptions;
  /** Steps taken, resumed sessions included. */
  iteration: number;
  /** The running sums and last results, kept by the checkpoint. */
  state: ProgressState;
  /** The iteration of the last checkpoint written or resumed from. */
  lastCheckpoint: number | null;
  session: SessionClock;
}

/** This session's clock and counters, for the elapsed time, images/s and the ETA. */
export interface SessionClock {
  start: number;
  elapsedBefore: number;
  steps: number;
  images: number;
  windowStart: number;
  /** The reference point of the recent images/s and ETA, moved every 20 s. */
  recent: { t: number; iteration: number; images: number };
}

/**
 * Opens the run: the checkpoint's when resuming, else a fresh one in an emptied outDir; resolves
 * the run settings, opens the log and the display, and records the start.
 */
export async function openRun(config: TrainConfig): Promise<Run> {
  const out = resolve(config.outDir);
  mkdirSync(out, { recursive: true });
  const paths: RunPaths = { checkpoint: join(out, 'checkpoint.safetensors'), model: join(out, 'model.safetensors'), log: join(out, 'log.jsonl') };
  const k = config.kernels;
  const r = await restore(config, out, paths);
  const { ckpt, recipe, trainSet, net, netName, loader, dataInfo } = r;
  const iteration = ckpt?.iteration ?? 0;
  const budget = memoryBudget(k);
  const view = trainView(recipe, trainSet);
  const { settings, changes } = resolveSettings(ckpt?.settings, {
    logEvery: config.logEvery, checkpointEvery: config.checkpointEvery, test: config.test,
    microBatch: config.microBatch === 'auto' ? undefined : config.microBatch,
  }, {
    logEvery: Math.min(50, loader.batchesPerEpoch), checkpointEvery: loader.batchesPerEpoch, test: true,
    microBatch: ckpt?.settings ? ckpt.settings.microBatch : autoMicroBatch(netName, net.options, { batch: recipe.batchSize, ...view }, budget),
  });
  const microBatch = Math.min(settings.microBatch, recipe.batchSize);
  const accumulator = microBatch < recipe.batchSize ? new GradientAccumulator(net.parameters()) : null;
  const log = new JsonlLog(paths.log);
  if (ckpt) log.truncateAfter(iteration);
  const progress = config.progress instanceof Progress ? config.progress
    : config.progress === undefined || config.progress === 'auto' ? Progress.auto() : new Progress(config.progress);
  const testView = dataInfo.testCrop !== null ? { height: dataInfo.testCrop, width: dataInfo.testCrop } : view;
  const evalBatch = fittingEvalBatch(netName, net.options, { batch: recipe.batchSize, ...testView }, budget) ?? 1;
  const evalOptions: EvalOptions = { kernels: k, norm: r.norm, batchSize: evalBatch, resize: dataInfo.testResize ?? undefined, cropSize: dataInfo.testCrop ?? undefined };
  const state: ProgressState = ckpt ? structuredClone(ckpt.progress) : { elapsed: 0, epoch: emptyAcc(), window: emptyAcc(), lastVal: null };
  const start = performance.now();
  const run: Run = {
    config, out, paths, resumed: ckpt !== null, recipe, seed: r.seed, splits: r.splits, trainSet, val: r.val, netName, net,
    stored: r.stored, dataInfo, loader, total: r.total, schedule: r.schedule, opt: r.opt, settings, microBatch, accumulator, log,
    progress, evalOptions, iteration, state, lastCheckpoint: ckpt ? iteration : null,
    session: { start, elapsedBefore: state.elapsed, steps: 0, images: 0, windowStart: start, recent: { t: start, iteration, images: 0 } },
  };

  const { splits, val, total } = run;
  log.write({
    type: ckpt ? 'resume' : 'start', iteration, date: new Date().toISOString(), net: netName, options: net.options, recipe,
    total, data: { name: splits.name, dir: splits.dir, train: trainSet.size, val: val?.size ?? 0, test: splits.test?.size ?? 0 },
    seed: run.seed, backend: k.name, batchesPerEpoch: loader.batchesPerEpoch, settings,
  });
  if (changes.length) {
    log.write({ type: 'settings', iteration, changed: Object.fromEntries(changes.map((c) => [c.key, { from: c.from, to: c.to }])) });
  }
  progress.message(`${ckpt ? 'resuming' : 'training'} ${netName} on ${splits.name} (${trainSet.size} train, ${val?.size ?? 0} val, ` +
    `${splits.test?.size ?? 0} test images) in ${out}${ckpt ? ` from iteration ${iteration}` : ''}\n${describeRecipe(recipe, total)}`);
  if (changes.length) progress.message(`changed on resume (applied, and kept in the next checkpoint): ${describeChanges(changes)}`);
  if (accumulator) {
    progress.message(`batch ${recipe.batchSize} runs as micro-batches of at most ${microBatch} images, their gradients accumulated ` +
      `(a step of ${recipe.batchSize} needs about ${formatBytes(estimateMemory(netName, net.options, { batch: recipe.batchSize, ...view }).totalBytes)}, ` +
      `the ${k.name} kernels hold ${formatBytes(memoryCapacity(k))}); batch norm's statistics are per micro-batch, as they were per GPU in the paper`);
  }
  return run;
}

/**
 * What to run: a fresh run (refusing to overwrite one unless told) or the run recorded in the
 * checkpoint, with its recipe (as it runs for the net), data, network, normalization, loader,
 * schedule and optimizer, all restored to the checkpoint's state when resuming.
 */
async function restore(config: TrainConfig, out: string, paths: RunPaths) {
  const k = config.kernels;
  removeStaleTemporaries(out, ['checkpoint.safetensors', 'model.safetensors']);
  let ckpt: Checkpoint | null = null;
  if (config.resume) {
    if (!existsSync(paths.checkpoint)) {
      if (!existsSync(paths.log)) throw new Error(`nothing to resume: ${paths.checkpoint} does not exist`);
      throw new LibraryError((n) => `nothing to resume: the run in ${out} stopped before its first checkpoint; start it again (without ${n.option('resume')})`);
    }
    ckpt = readCheckpoint(paths.checkpoint);
  } else if (existsSync(paths.checkpoint) && !config.overwrite) {
    throw new LibraryError((n) => `${out} already holds a run: continue it with ${n.option('resume', `'${out}'`)}, replace it with ${n.option('overwrite')}, ` +
      `or choose another ${n.option('outDir')}`);
  }
  const seed = ckpt ? ckpt.seed : (config.seed ?? 0);
  const opened = typeof config.data === 'string' ? openData(ckpt ? ckpt.data.name : config.data, ckpt ? ckpt.data.dir : config.dataDir) : config.data;
  const choice = ckpt ? { recipe: ckpt.recipe, net: ckpt.net } : { recipe: config.recipe, overrides: config.recipeOverrides, net: config.net };
  const { data: splits, recipe, fit } = await fitImageFolder(opened, choice,
    ckpt ? ckpt.data.imageSize : config.imageSize, config.progress === 'none' ? undefined : (m) => process.stderr.write(`${m}\n`));
  const { train: trainSet, val } = holdOut(splits, recipe.validation);
  if (recipe.schedule.kind === 'plateau' && !val) {
    throw new LibraryError((n) => `the plateau schedule lowers lr when the validation error stops improving, and ${splits.name} has no ` +
      `validation images: hold some out with ${n.option('validation', 'N')}, or give an image folder with a val/ sub-folder`);
  }
  const netName = ckpt ? ckpt.net : config.net;
  if (!isNetName(netName)) throw new Error(`unknown network '${netName}'`);
  const options: Partial<NetOptions> = ckpt
    ? ckpt.options
    : { inChannels: trainSet.channels, classes: trainSet.classes.length, ...config.netOptions };
  const net = createNet(netName, { ...options, kernels: k, seed, skipInit: ckpt !== null });
  if (net.options.inChannels !== trainSet.channels) {
    throw new Error(`${netName} takes ${net.options.inChannels} input channels, ${splits.name} has ${trainSet.channels}`);
  }
  if (net.options.classes < trainSet.classes.length) {
    throw new Error(`${netName} has ${net.options.classes} outputs, ${splits.name} has ${trainSet.classes.length} classes`);
  }
  // A fresh run replaces what outDir holds (a run given --overwrite, or one that stopped before its
  // first checkpoint) only now that the data, recipe and network are known to be valid: a mistake in
  // the command loses nothing.
  if (!ckpt) for (const p of Object.values(paths)) rmSync(p, { force: true });
  const stored: StoredNormalization = ckpt
    ? ckpt.normalization
    : recipe.normalization === 'meanImage'
      ? await storedMeanImage(trainSet, recipe)
      : { kind: 'none' };
  const norm = decodeNormalization(stored, paths.checkpoint);
  const dataInfo: DataInfo = ckpt ? ckpt.data : {
    name: splits.name, dir: splits.dir, classes: trainSet.classes, channels: trainSet.channels, height: trainSet.height,
    width: trainSet.width, testResize: trainSet.height === null ? (recipe.testResize ?? 256) : null,
    testCrop: trainSet.height === null ? (recipe.testCrop ?? 224) : null, validation: recipe.validation,
    ...fit,
  };

  const loader = new Loader({
    dataset: trainSet, transform: trainTransform(recipe, norm, trainSet), batchSize: recipe.batchSize, seed,
    dropLast: true, start: ckpt?.loader, worker: config.worker,
  });
  const total = ckpt ? ckpt.total : totalIterations(recipe, loader.batchesPerEpoch);
  const schedule = new Schedule(scheduleSpec(recipe, total));
  const opt = new SGD(net.parameters(), { lr: schedule.lr, momentum: recipe.momentum, weightDecay: recipe.weightDecay, nesterov: recipe.nesterov });
  if (ckpt) {
    schedule.loadState(ckpt.schedule);
    net.loadStateDict(ckpt.model);
    opt.loadStateArrays(momentumFor(ckpt, net.parameters().length));
  }
  net.train();
  return { ckpt, recipe, seed, splits, trainSet, val, netName, net, stored, norm, dataInfo, loader, total, schedule, opt };
}

/** Height and width of the training views: the crop of a rescaling recipe, else the images' own size. */
function trainView(recipe: Recipe, set: Dataset): { height: number; width: number } {
  if (set.height !== null && set.width !== null && recipe.augmentation.kind !== 'scale') return { height: set.height, width: set.width };
  const side = trainCrop(recipe);
  return { height: side, width: side };
}

/** The batch itself when its step fits the budget, else the largest micro-batch that does (1 if none: the step will say what to change). */
function autoMicroBatch(net: NetName, options: NetOptions, shape: StepShape, budget: number): number {
  return chooseMicroBatch(net, options, shape, budget) ?? 1;
}


async function storedMeanImage(trainSet: Dataset, recipe: Recipe): Promise<StoredNormalization> {
  const m = await meanImage(trainSet, recipe.testResize ?? 256, trainCrop(recipe));
  return encodeMeanImage(m.mean, m.shape);
}
