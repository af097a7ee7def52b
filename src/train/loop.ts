// The training loop as a library function: `train(config)` runs a recipe on a dataset and leaves
// in `outDir`:
//   log.jsonl                 one JSON record per logged step, per epoch, per validation, at start and end
//   checkpoint.safetensors    written atomically every `checkpointEvery` iterations and at the end;
//                             `resume: true` continues from it, bit for bit as an uninterrupted run
//   model.safetensors         the final weights, with the net, its options and preprocessing
//                             (mean image, dataset, test view) and the test error in the metadata
//
// The run is opened by train/run.ts (`openRun`: fresh or restored from the checkpoint), then each
// iteration is `step` and `afterStep` (`validate`, the epoch's record, a test-curve point,
// `checkpoint`), and the session ends with `stop` (interrupted or stopped) and `finish`; each is a
// function of the run's state (`Run`).
//
// A step: batch → forward → loss (checked: a NaN/Inf loss stops the run with TrainingDiverged and
// keeps the last good checkpoint) → backward → SGD step at the schedule's lr (ends the step: its
// tensors are released, so the loss and logits are read before) → schedule.afterStep.
// An abort signal (the CLI's Ctrl-C) or `stopAfter` steps end the run early with a checkpoint.

import { type EvalResult, evaluate } from '../eval/evaluate.js';
import { DATA_KEY, METRICS_KEY, RECIPE_KEY, normalizationMetadata } from '../eval/metadata.js';
import type { ResNet } from '../models/resnet.js';
import { saveWeights } from '../models/weights.js';
import { sgdStep } from './step.js';
import { type ProgressState, writeCheckpoint } from './checkpoint.js';
import { formatValue } from './progress.js';
import { LibraryError, type OptionText } from '../io/errors.js';
import { warmupOf } from './recipe.js';
import { type Run, type TrainConfig, emptyAcc, openRun } from './run.js';

export type { TrainConfig } from './run.js';

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
export class TrainingDiverged extends LibraryError {
  constructor(text: string | OptionText, readonly iteration: number, readonly loss: number, readonly checkpoint: string | null) {
    super(text);
    this.name = 'TrainingDiverged';
  }
}

/** What a step leaves for the work after it. */
interface StepDone {
  /** The epoch of the step's batch (counted from 0). */
  epoch: number;
  /** When the step ended (performance.now()). */
  now: number;
}

export async function train(config: TrainConfig): Promise<TrainResult> {
  const run = await openRun(config);
  let status: TrainResult['status'] = 'completed';
  try {
    while (run.iteration < run.total) {
      // Let signal handlers run: batches prepared ahead resolve as microtasks, which never yield.
      await new Promise((r) => setImmediate(r));
      if (config.signal?.aborted) { status = 'interrupted'; break; }
      if (config.stopAfter !== undefined && run.session.steps >= config.stopAfter) { status = 'stopped'; break; }
      const done = await step(run);
      await afterStep(run, done);
    }
    if (status !== 'completed') stop(run, status);
  } finally {
    run.progress.finish();
    await run.loader.close();
  }
  return finish(run, status);
}

/** Seconds of training of the whole run so far, resumed sessions included. */
function elapsed(run: Run): number {
  return run.session.elapsedBefore + (performance.now() - run.session.start) / 1000;
}

/**
 * One iteration: the next batch, the SGD step at the schedule's lr (a NaN or infinite loss stops
 * the run), the schedule's step, the running sums, and the step record and display.
 */
async function step(run: Run): Promise<StepDone> {
  const { recipe, schedule, log, progress, state, session, total } = run;
  const batch = await run.loader.next();
  const lr = schedule.lr;
  run.opt.lr = lr;
  const { loss: lossValue, wrong } = sgdStep(run.net, run.opt, batch, run.microBatch, run.accumulator);
  if (!Number.isFinite(lossValue)) throw diverged(run, `the loss is ${lossValue} at iteration ${run.iteration + 1}`, lossValue);
  const iteration = ++run.iteration;
  session.steps++;
  session.images += batch.n;
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
  const { recent } = session;
  const rate = (session.images > 0 && now > recent.t) ? (session.images - recent.images) / ((now - recent.t) / 1000) : 0;
  const itRate = (iteration - recent.iteration) / Math.max(1e-9, (now - recent.t) / 1000);
  if (now - recent.t > 20000) session.recent = { t: now, iteration, images: session.images };
  const logged = iteration % run.settings.logEvery === 0 || iteration === total;
  if (logged) {
    const w = state.window;
    const seconds = (now - session.windowStart) / 1000;
    log.write({
      type: 'step', iteration, epoch: batch.epoch + 1, loss: w.loss / w.images, error: w.wrong / w.images, lr,
      time: elapsed(run), imagesPerSecond: seconds > 0 ? w.images / seconds : null,
    });
    progress.update({
      iteration, total, epoch: batch.epoch + 1, loss: w.loss / w.images, error: w.wrong / w.images, lr,
      imagesPerSecond: rate, etaSeconds: (total - iteration) / itRate,
    }, true);
    state.window = emptyAcc();
    session.windowStart = now;
  } else if (progress.mode === 'bar') {
    progress.update({
      iteration, total, epoch: batch.epoch + 1, loss: lossValue, error: wrong / batch.n, lr, imagesPerSecond: rate,
      etaSeconds: (total - iteration) / itRate,
    }, false);
  }
  return { epoch: batch.epoch, now };
}

/** After a step: validation when due, the epoch's record, a test-curve point, a checkpoint when due. */
async function afterStep(run: Run, done: StepDone): Promise<void> {
  const { iteration, total, recipe, config, splits } = run;
  const epochEnded = run.loader.position.batchIndex === 0;
  const evalDue = recipe.evalEvery !== null ? iteration % recipe.evalEvery === 0 : epochEnded;
  const v = evalDue ? await validate(run) : null;
  if (v && !epochEnded) {
    run.log.write({ type: 'eval', iteration, valLoss: v.loss, valError: v.top1Error, valTop5Error: v.top5Error, lr: run.schedule.lr, time: elapsed(run) });
  }
  if (epochEnded) endEpoch(run, done, v);
  if (config.testCurve && splits.test && iteration % config.testCurve.every === 0 && iteration < total) {
    const t = await evaluate(run.net, splits.test, { ...run.evalOptions, limit: config.testCurve.images });
    run.log.write({ type: 'test', iteration, testError: t.top1Error, testLoss: t.loss, images: t.images, time: elapsed(run) });
  }
  if (iteration % run.settings.checkpointEvery === 0 && iteration < total) checkpoint(run);
}

/** Evaluates on the validation images (null without them); the plateau schedule may lower lr. */
async function validate(run: Run): Promise<EvalResult | null> {
  if (!run.val) return null;
  const { schedule } = run;
  const r = await evaluate(run.net, run.val, run.evalOptions);
  run.state.lastVal = { iteration: run.iteration, top1Error: r.top1Error, top5Error: r.top5Error, loss: r.loss };
  const before = schedule.lr;
  if (schedule.afterEval(r.top1Error)) {
    run.log.write({ type: 'lr', iteration: run.iteration, lr: schedule.lr, previous: before, reason: 'plateau' });
    run.progress.message(`validation error stopped improving: lr ${formatValue(before)} → ${formatValue(schedule.lr)}`);
  }
  return r;
}

/** The epoch's record and summary line; its sums start again. */
function endEpoch(run: Run, done: StepDone, v: EvalResult | null): void {
  const { state, session } = run;
  const e = state.epoch;
  const record = {
    type: 'epoch', iteration: run.iteration, epoch: done.epoch + 1, trainLoss: e.loss / e.images, trainError: e.wrong / e.images,
    valLoss: v?.loss ?? null, valError: v?.top1Error ?? null, valTop5Error: v?.top5Error ?? null, lr: run.schedule.lr,
    time: elapsed(run), imagesPerSecond: session.images / ((done.now - session.start) / 1000),
  };
  run.log.write(record);
  run.progress.message(`epoch ${record.epoch}: train loss ${record.trainLoss.toFixed(4)}, train error ${pct(record.trainError)}` +
    (v ? `, val error ${pct(v.top1Error)}` : '') + `, lr ${formatValue(run.schedule.lr)}, ${record.imagesPerSecond.toFixed(1)} img/s`);
  state.lastEpoch = { loss: record.trainLoss, error: record.trainError };
  state.epoch = emptyAcc();
}

/** Writes the checkpoint (atomically); weights that are no longer finite stop the run instead. */
function checkpoint(run: Run): void {
  run.state.elapsed = elapsed(run);
  for (const [key, t] of run.net.stateDictArrays()) {
    if (!t.data.every(Number.isFinite)) {
      throw diverged(run, `weights '${key}' are no longer finite at iteration ${run.iteration}`, NaN);
    }
  }
  writeCheckpoint(run.paths.checkpoint, run.net, run.opt, {
    net: run.netName, options: run.net.options, recipe: run.recipe, data: run.dataInfo, seed: run.seed, iteration: run.iteration,
    total: run.total, schedule: run.schedule.state(), loader: run.loader.position, progress: run.state, normalization: run.stored,
    settings: run.settings,
  });
  run.lastCheckpoint = run.iteration;
}

/** Records the divergence and returns the error that says which checkpoint is kept. */
function diverged(run: Run, what: string, loss: number): TrainingDiverged {
  const { lastCheckpoint, paths, opt } = run;
  const kept = lastCheckpoint === null ? 'no checkpoint had been written yet' : `the last good checkpoint (iteration ${lastCheckpoint}) is kept in ${paths.checkpoint}`;
  run.log.write({ type: 'diverged', iteration: run.iteration, loss: String(loss), lr: opt.lr, time: elapsed(run) });
  return new TrainingDiverged((n) => `training diverged: ${what} (lr ${formatValue(opt.lr)}); ${kept}. Lower ${n.option('lr')}, or try ${n.option('warmup')}.`,
    run.iteration, loss, lastCheckpoint === null ? null : paths.checkpoint);
}

/** An interrupted or stopped run: a checkpoint to resume from, and where it is. */
function stop(run: Run, status: 'interrupted' | 'stopped'): void {
  checkpoint(run);
  run.log.write({ type: status, iteration: run.iteration, time: elapsed(run) });
  run.progress.message(`${status} at iteration ${run.iteration}/${run.total}; checkpoint saved in ${run.paths.checkpoint}`);
}

/**
 * The end of the session. A completed run writes its last checkpoint, tests the final weights
 * (unless told not to) and saves the model with its metadata and metrics.
 */
async function finish(run: Run, status: TrainResult['status']): Promise<TrainResult> {
  const { splits, state, paths, iteration } = run;
  let test: EvalResult | null = null;
  let modelPath: string | null = null;
  if (status === 'completed') {
    checkpoint(run);
    if (run.settings.test && splits.test) {
      run.progress.message(`testing on ${splits.test.size} images …`);
      test = await evaluate(run.net, splits.test, run.evalOptions);
    }
    const metrics = {
      iteration, seconds: elapsed(run), test: test && { images: test.images, crop: test.crop, top1Error: test.top1Error, top5Error: test.top5Error, loss: test.loss },
      val: state.lastVal,
    };
    saveWeights(paths.model, run.net, {
      [RECIPE_KEY]: JSON.stringify(run.recipe), seed: String(run.seed), ...normalizationMetadata(run.stored), [DATA_KEY]: JSON.stringify(run.dataInfo),
      labels: JSON.stringify(run.dataInfo.classes),
      [METRICS_KEY]: JSON.stringify(metrics),
    });
    modelPath = paths.model;
    run.log.write({
      type: 'end', iteration, time: elapsed(run), testError: test?.top1Error ?? null, testTop5Error: test?.top5Error ?? null,
      testLoss: test?.loss ?? null, valError: state.lastVal?.top1Error ?? null,
    });
  }
  const lastEpoch = state.lastEpoch ?? (state.epoch.images > 0 ? { loss: state.epoch.loss / state.epoch.images, error: state.epoch.wrong / state.epoch.images } : null);
  return {
    status, iteration, total: run.total, outDir: run.out, logPath: paths.log, checkpointPath: paths.checkpoint, modelPath, test, lastVal: state.lastVal,
    trainLoss: lastEpoch?.loss ?? null, trainError: lastEpoch?.error ?? null, seconds: elapsed(run),
    imagesPerSecond: run.session.images / Math.max(1e-9, (performance.now() - run.session.start) / 1000), net: run.net,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
