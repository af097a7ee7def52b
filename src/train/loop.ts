// The training loop as a library function: `train(config)` runs a recipe on a dataset and leaves
// in `outDir`:
//   log.jsonl                 one JSON record per logged step, per epoch, per validation, at start and end
//   checkpoint.safetensors    written atomically every `checkpointEvery` iterations and at the end;
//                             `resume: true` continues from it, bit for bit as an uninterrupted run
//   model.safetensors         the final weights, with the net, its options and preprocessing
//                             (mean image, dataset, test view) and the test error in the metadata
//
// A step: batch → forward → loss (checked: a NaN/Inf loss stops the run with TrainingDiverged and
// keeps the last good checkpoint) → backward → SGD step at the schedule's lr (ends the step: its
// tensors are released, so the loss and logits are read before) → schedule.afterStep.
// An abort signal (the CLI's Ctrl-C) or `stopAfter` steps end the run early with a checkpoint.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { Loader } from '../data/loader.js';
import { type EvalResult, evaluate } from '../eval/evaluate.js';
import { type DataInfo, DATA_KEY, METRICS_KEY, type StoredNormalization, decodeNormalization, encodeMeanImage, normalizationMetadata } from '../eval/metadata.js';
import type { KernelSet } from '../kernels/contract.js';
import { type NetName, isNetName } from '../models/registry.js';
import { type NetOptions, type ResNet, createNet } from '../models/resnet.js';
import { type StepShape, chooseMicroBatch, estimateMemory, fittingEvalBatch, formatBytes, memoryBudget, memoryCapacity } from '../models/memory.js';
import { saveWeights } from '../models/weights.js';
import { Schedule } from '../optim/schedule.js';
import { SGD } from '../optim/sgd.js';
import { sgdStep } from './step.js';
import { type Checkpoint, type ProgressState, momentumFor, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { GradientAccumulator, microBatches } from './accumulate.js';
import { describeChanges, removeStaleTemporaries, resolveSettings } from './run-settings.js';
import { type DataSplits, holdOut, meanImage, openData, trainCrop, trainTransform } from './data.js';
import { JsonlLog, Progress, type ProgressMode, formatValue } from './progress.js';
import { type Recipe, describeRecipe, recipeForNet, scheduleSpec, totalIterations, warmupOf } from './recipe.js';

export interface TrainConfig {
  net: NetName;
  /** Network options; inChannels and classes default to the dataset's. */
  netOptions?: Partial<NetOptions>;
  /** A dataset name (cifar10, fashion-mnist, fashion-mnist-sample, mnist, folder:PATH) or datasets at hand. */
  data: string | DataSplits;
  dataDir?: string;
  recipe: Recipe;
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
}

export interface TrainResult {
  status: 'completed' | 'interrupted' | 'stopped';
  iteration: number;
  total: number;
  outDir: string;
  logPath: string;
  checkpointPath: string;
  /** Written when the run completed. */
  modelPath: string | null;
  test: EvalResult | null;
  lastVal: ProgressState['lastVal'];
  /** Mean loss and error of the last finished epoch (or of the steps since, if none finished). */
  trainLoss: number | null;
  trainError: number | null;
  /** Seconds of training of the whole run (resumed sessions included), and this session's training speed. */
  seconds: number;
  imagesPerSecond: number;
  net: ResNet;
}

/** The loss became NaN or infinite: the run stopped, its last good checkpoint is kept. */
export class TrainingDiverged extends Error {
  constructor(message: string, readonly iteration: number, readonly loss: number, readonly checkpoint: string | null) {
    super(message);
    this.name = 'TrainingDiverged';
  }
}

const emptyAcc = () => ({ loss: 0, wrong: 0, images: 0, steps: 0 });

/** Where a run's files go. */
type RunPaths = { checkpoint: string; model: string; log: string };

/**
 * What to run: a fresh run (refusing to overwrite one unless told) or the run recorded in the
 * checkpoint, with its recipe (as it runs for the net), data, network, normalization, loader,
 * schedule and optimizer, all restored to the checkpoint's state when resuming.
 */
async function openRun(config: TrainConfig, out: string, paths: RunPaths) {
  const k = config.kernels;
  removeStaleTemporaries(out, ['checkpoint.safetensors', 'model.safetensors']);
  let ckpt: Checkpoint | null = null;
  if (config.resume) {
    if (!existsSync(paths.checkpoint)) {
      throw new Error(existsSync(paths.log)
        ? `nothing to resume: the run in ${out} stopped before its first checkpoint; start it again (without --resume)`
        : `nothing to resume: ${paths.checkpoint} does not exist`);
    }
    ckpt = readCheckpoint(paths.checkpoint);
  } else if (existsSync(paths.checkpoint)) {
    if (!config.overwrite) throw new Error(`${out} already holds a run: continue it with --resume ${out}, or choose another --out`);
    for (const p of Object.values(paths)) rmSync(p, { force: true });
  } else {
    // A run that stopped before its first checkpoint (an error, an empty folder): nothing to keep.
    for (const p of Object.values(paths)) rmSync(p, { force: true });
  }
  const recipe = ckpt ? ckpt.recipe : recipeForNet(config.recipe, config.net);
  const seed = ckpt ? ckpt.seed : (config.seed ?? 0);
  const splits = typeof config.data === 'string' ? openData(ckpt ? ckpt.data.name : config.data, ckpt ? ckpt.data.dir : config.dataDir) : config.data;
  const { train: trainSet, val } = holdOut(splits, recipe.validation);
  if (recipe.schedule.kind === 'plateau' && !val) {
    throw new Error(`the plateau schedule lowers lr when the validation error stops improving, and ${splits.name} has no validation ` +
      'images: hold some out with --val N, or give an image folder with a val/ sub-folder');
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

export async function train(config: TrainConfig): Promise<TrainResult> {
  const out = resolve(config.outDir);
  mkdirSync(out, { recursive: true });
  const paths: RunPaths = { checkpoint: join(out, 'checkpoint.safetensors'), model: join(out, 'model.safetensors'), log: join(out, 'log.jsonl') };
  const k = config.kernels;

  const { ckpt, recipe, seed, splits, trainSet, val, netName, net, stored, norm, dataInfo, loader, total, schedule, opt } = await openRun(config, out, paths);

  let iteration = ckpt?.iteration ?? 0;
  const state: ProgressState = ckpt ? structuredClone(ckpt.progress) : { elapsed: 0, epoch: emptyAcc(), window: emptyAcc(), lastVal: null };
  const budget = memoryBudget(k);
  const view = trainView(recipe, trainSet);
  const { settings, changes } = resolveSettings(ckpt?.settings, {
    logEvery: config.logEvery, checkpointEvery: config.checkpointEvery, test: config.test,
    microBatch: config.microBatch === 'auto' ? undefined : config.microBatch,
  }, {
    logEvery: Math.min(50, loader.batchesPerEpoch), checkpointEvery: loader.batchesPerEpoch, test: true,
    microBatch: ckpt?.settings ? ckpt.settings.microBatch : autoMicroBatch(netName, net.options, { batch: recipe.batchSize, ...view }, budget),
  });
  const { logEvery, checkpointEvery } = settings;
  const microBatch = Math.min(settings.microBatch, recipe.batchSize);
  const accumulator = microBatch < recipe.batchSize ? new GradientAccumulator(net.parameters()) : null;
  const log = new JsonlLog(paths.log);
  if (ckpt) log.truncateAfter(iteration);
  const progress = config.progress instanceof Progress ? config.progress
    : config.progress === undefined || config.progress === 'auto' ? Progress.auto() : new Progress(config.progress);
  const testView = dataInfo.testCrop !== null ? { height: dataInfo.testCrop, width: dataInfo.testCrop } : view;
  const evalBatch = fittingEvalBatch(netName, net.options, { batch: recipe.batchSize, ...testView }, budget) ?? 1;
  const evalOptions = { kernels: k, norm, batchSize: evalBatch, resize: dataInfo.testResize ?? undefined, cropSize: dataInfo.testCrop ?? undefined };

  log.write({
    type: ckpt ? 'resume' : 'start', iteration, date: new Date().toISOString(), net: netName, options: net.options, recipe,
    total, data: { name: splits.name, dir: splits.dir, train: trainSet.size, val: val?.size ?? 0, test: splits.test?.size ?? 0 },
    seed, backend: k.name, batchesPerEpoch: loader.batchesPerEpoch, settings,
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

  // ---------------------------------------------------------------- helpers
  const sessionStart = performance.now();
  const elapsedBefore = state.elapsed;
  const elapsed = () => elapsedBefore + (performance.now() - sessionStart) / 1000;
  let sessionImages = 0;
  let lastCheckpoint: number | null = ckpt ? iteration : null;
  let windowStart = performance.now();
  let recent = { t: performance.now(), iteration, images: 0 }; // for images/s and ETA

  const saveCheckpoint = () => {
    state.elapsed = elapsed();
    const arrays = net.stateDictArrays();
    for (const [key, t] of arrays) {
      if (!t.data.every(Number.isFinite)) {
        throw diverged(`weights '${key}' are no longer finite at iteration ${iteration}`, NaN);
      }
    }
    writeCheckpoint(paths.checkpoint, net, opt, {
      net: netName, options: net.options, recipe, data: dataInfo, seed, iteration, total, schedule: schedule.state(),
      loader: loader.position, progress: state, normalization: stored, settings,
    });
    lastCheckpoint = iteration;
  };
  const diverged = (what: string, loss: number) => {
    const kept = lastCheckpoint === null ? 'no checkpoint had been written yet' : `the last good checkpoint (iteration ${lastCheckpoint}) is kept in ${paths.checkpoint}`;
    log.write({ type: 'diverged', iteration, loss: String(loss), lr: opt.lr, time: elapsed() });
    return new TrainingDiverged(`training diverged: ${what} (lr ${formatValue(opt.lr)}); ${kept}. Lower --lr, or try --warmup.`, iteration, loss, lastCheckpoint === null ? null : paths.checkpoint);
  };
  const runValidation = async () => {
    if (!val) return null;
    const r = await evaluate(net, val, evalOptions);
    state.lastVal = { iteration, top1Error: r.top1Error, top5Error: r.top5Error, loss: r.loss };
    const before = schedule.lr;
    if (schedule.afterEval(r.top1Error)) {
      log.write({ type: 'lr', iteration, lr: schedule.lr, previous: before, reason: 'plateau' });
      progress.message(`validation error stopped improving: lr ${formatValue(before)} → ${formatValue(schedule.lr)}`);
    }
    return r;
  };

  // ---------------------------------------------------------------- the loop
  let status: TrainResult['status'] = 'completed';
  let sessionSteps = 0;
  try {
    while (iteration < total) {
      // Let signal handlers run: batches prepared ahead resolve as microtasks, which never yield.
      await new Promise((r) => setImmediate(r));
      if (config.signal?.aborted) { status = 'interrupted'; break; }
      if (config.stopAfter !== undefined && sessionSteps >= config.stopAfter) { status = 'stopped'; break; }
      const batch = await loader.next();
      const lr = schedule.lr;
      opt.lr = lr;
      const { loss: lossValue, wrong } = sgdStep(net, opt, batch, microBatch, accumulator);
      if (!Number.isFinite(lossValue)) throw diverged(`the loss is ${lossValue} at iteration ${iteration + 1}`, lossValue);
      iteration++;
      sessionSteps++;
      sessionImages += batch.n;
      const warming = schedule.warmingUp;
      schedule.afterStep(wrong / batch.n);
      if (warming && !schedule.warmingUp) {
        log.write({ type: 'lr', iteration, lr: schedule.lr, previous: lr, reason: 'warm-up ended' });
        progress.message(`training error below ${warmupOf(recipe)!.untilTrainError * 100}% at iteration ${iteration}: warm-up over, lr ${formatValue(schedule.lr)}`);
      } else if (schedule.lr !== lr && recipe.schedule.kind === 'multistep') {
        log.write({ type: 'lr', iteration, lr: schedule.lr, previous: lr, reason: 'milestone' });
      }
      for (const acc of [state.epoch, state.window]) {
        acc.loss += lossValue * batch.n;
        acc.wrong += wrong;
        acc.images += batch.n;
        acc.steps++;
      }
      const now = performance.now();
      const rate = (sessionImages > 0 && now > recent.t) ? (sessionImages - recent.images) / ((now - recent.t) / 1000) : 0;
      const itRate = (iteration - recent.iteration) / Math.max(1e-9, (now - recent.t) / 1000);
      if (now - recent.t > 20000) recent = { t: now, iteration, images: sessionImages };
      const logged = iteration % logEvery === 0 || iteration === total;
      if (logged) {
        const w = state.window;
        const seconds = (now - windowStart) / 1000;
        log.write({
          type: 'step', iteration, epoch: batch.epoch + 1, loss: w.loss / w.images, error: w.wrong / w.images, lr,
          time: elapsed(), imagesPerSecond: seconds > 0 ? w.images / seconds : null,
        });
        progress.update({
          iteration, total, epoch: batch.epoch + 1, loss: w.loss / w.images, error: w.wrong / w.images, lr,
          imagesPerSecond: rate, etaSeconds: (total - iteration) / itRate,
        }, true);
        state.window = emptyAcc();
        windowStart = now;
      } else if (progress.mode === 'bar') {
        progress.update({
          iteration, total, epoch: batch.epoch + 1, loss: lossValue, error: wrong / batch.n, lr, imagesPerSecond: rate,
          etaSeconds: (total - iteration) / itRate,
        }, false);
      }
      const epochEnded = loader.position.batchIndex === 0;
      const evalDue = recipe.evalEvery !== null ? iteration % recipe.evalEvery === 0 : epochEnded;
      const v = evalDue ? await runValidation() : null;
      if (v && !epochEnded) {
        log.write({ type: 'eval', iteration, valLoss: v.loss, valError: v.top1Error, valTop5Error: v.top5Error, lr: schedule.lr, time: elapsed() });
      }
      if (epochEnded) {
        const e = state.epoch;
        const record = {
          type: 'epoch', iteration, epoch: batch.epoch + 1, trainLoss: e.loss / e.images, trainError: e.wrong / e.images,
          valLoss: v?.loss ?? null, valError: v?.top1Error ?? null, valTop5Error: v?.top5Error ?? null, lr: schedule.lr,
          time: elapsed(), imagesPerSecond: sessionImages / ((now - sessionStart) / 1000),
        };
        log.write(record);
        progress.message(`epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)}, train error ${pct(record.trainError)}` +
          (v ? `, val error ${pct(v.top1Error)}` : '') + `, lr ${formatValue(schedule.lr)}, ${record.imagesPerSecond.toFixed(1)} img/s`);
        state.lastEpoch = { loss: record.trainLoss, error: record.trainError };
        state.epoch = emptyAcc();
      }
      if (config.testCurve && splits.test && iteration % config.testCurve.every === 0 && iteration < total) {
        const t = await evaluate(net, splits.test, { ...evalOptions, limit: config.testCurve.images });
        log.write({ type: 'test', iteration, testError: t.top1Error, testLoss: t.loss, images: t.images, time: elapsed() });
      }
      if (iteration % checkpointEvery === 0 && iteration < total) saveCheckpoint();
    }
    if (status !== 'completed') {
      saveCheckpoint();
      log.write({ type: status, iteration, time: elapsed() });
      progress.message(`${status === 'interrupted' ? 'interrupted' : 'stopped'} at iteration ${iteration}/${total}; ` +
        `checkpoint saved: resume with \`resnet train --resume ${out}\``);
    }
  } finally {
    progress.finish();
    await loader.close();
  }

  // ---------------------------------------------------------------- the end
  let test: EvalResult | null = null;
  let modelPath: string | null = null;
  if (status === 'completed') {
    saveCheckpoint();
    if (settings.test && splits.test) {
      progress.message(`testing on ${splits.test.size} images …`);
      test = await evaluate(net, splits.test, evalOptions);
    }
    const metrics = {
      iteration, seconds: elapsed(), test: test && { images: test.images, crop: test.crop, top1Error: test.top1Error, top5Error: test.top5Error, loss: test.loss },
      val: state.lastVal,
    };
    saveWeights(paths.model, net, {
      recipe: JSON.stringify(recipe), seed: String(seed), ...normalizationMetadata(stored), [DATA_KEY]: JSON.stringify(dataInfo),
      [METRICS_KEY]: JSON.stringify(metrics),
    });
    modelPath = paths.model;
    log.write({
      type: 'end', iteration, time: elapsed(), testError: test?.top1Error ?? null, testTop5Error: test?.top5Error ?? null,
      testLoss: test?.loss ?? null, valError: state.lastVal?.top1Error ?? null,
    });
  }
  const lastEpoch = state.lastEpoch ?? (state.epoch.images > 0 ? { loss: state.epoch.loss / state.epoch.images, error: state.epoch.wrong / state.epoch.images } : null);
  return {
    status, iteration, total, outDir: out, logPath: paths.log, checkpointPath: paths.checkpoint, modelPath, test, lastVal: state.lastVal,
    trainLoss: lastEpoch?.loss ?? null, trainError: lastEpoch?.error ?? null, seconds: elapsed(),
    imagesPerSecond: sessionImages / Math.max(1e-9, (performance.now() - sessionStart) / 1000), net,
  };
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


function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
