// Runs an experiment of the catalog: each network is an ordinary training run (train()) in its own
// folder of the experiment's folder, with the same log, checkpoints and resume as `resnet train`.
//
//   OUT/experiment.json   what was run: experiment, scale, data, recipe, runs, command, commit,
//                         machine, and each session's wall time and machine load
//   OUT/RUN/              log.jsonl, checkpoint.safetensors, model.safetensors of one network
//   OUT/responses.json    Fig. 7's layer responses (experiments that draw them)
//
// Running again continues: finished runs (a log that ends with an `end` record, and the weights)
// are skipped, an interrupted run resumes from its checkpoint, the others start.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArrayDataset, type Dataset, SubsetDataset } from '../data/dataset.js';
import { readTrainedMetadata } from '../eval/metadata.js';
import type { KernelSet } from '../kernels/contract.js';
import { summarize } from '../models/summary.js';
import { loadNet, readWeights } from '../models/weights.js';
import { Rng } from '../tensor/random.js';
import { type DataSplits, openData } from '../train/data.js';
import { train } from '../train/loop.js';
import { type LogRecord, Progress, type ProgressMode, formatDuration, readLog } from '../train/progress.js';
import { LibraryError } from '../io/errors.js';
import { type Recipe, applyOverrides, getRecipe } from '../train/recipe.js';
import { type Experiment, type RunSpec, type Scale, type ScaleSpec, getExperiment } from './catalog.js';
import { type LayerResponse, layerResponses } from './responses.js';

export const MANIFEST = 'experiment.json';
export const RESPONSES = 'responses.json';

export interface ExperimentConfig {
  name: string;
  scale: Scale;
  /** A dataset name (as `resnet train --data`); default: the experiment's. */
  data?: string;
  dataDir?: string;
  out: string;
  kernels: KernelSet;
  /** Only these runs (ids of the catalog), in this order. */
  runs?: string[];
  /** Measure the finished runs of this experiment folder instead of training (layer-responses). */
  from?: string;
  seed?: number;
  signal?: AbortSignal;
  progress?: ProgressMode | 'auto';
  /** The command line, for the record and the report. */
  command?: string;
}

export interface Session { started: string; ended: string | null; wallSeconds: number; status: string; load: number[]; loadEnd?: number[] }

export interface Manifest {
  experiment: string;
  title: string;
  paper: string;
  scale: Scale;
  scaleSummary: string;
  /** `train`: the training set before the recipe's validation hold-out. */
  data: { name: string; dir: string; train: number; test: number; channels: number; how: string };
  recipe: Recipe;
  runs: (RunSpec & { dir: string })[];
  from: string | null;
  command: string;
  commit: string;
  machine: { cpus: number; cpu: string; memoryGiB: number; platform: string; node: string; backend: string };
  sessions: Session[];
  /** Wall seconds of each run, summed over sessions. */
  runSeconds: Record<string, number>;
}

export interface ExperimentResult {
  status: 'completed' | 'interrupted';
  out: string;
  manifest: Manifest;
  /** Runs trained, continued and skipped in this call. */
  trained: string[];
  continued: string[];
  skipped: string[];
}

/** The recipe of an experiment at one scale (train() makes it the recipe of each net: recipeForNet). */
export function runRecipe(e: Experiment, scale: ScaleSpec): Recipe {
  const r = applyOverrides(getRecipe(e.recipe), scale.recipe);
  if (scale.testView) {
    r.testResize = scale.testView.resize;
    r.testCrop = scale.testView.crop;
  }
  return r;
}

/** A run folder holds a finished run: its log ends the run and its weights are there. */
export function runFinished(dir: string): boolean {
  const log = join(dir, 'log.jsonl');
  if (!existsSync(log) || !existsSync(join(dir, 'model.safetensors'))) return false;
  return readLog(log).some((r) => r.type === 'end');
}

/**
 * The experiment's default data: CIFAR-10 when present, else the full Fashion-MNIST, else the
 * bundled sample. Image-folder experiments need `data: 'folder:PATH'`.
 */
export function resolveData(e: Experiment, data?: string, dataDir?: string): { splits: DataSplits; how: string } {
  if (data) return { splits: openData(data, dataDir), how: 'given with --data' };
  if (e.data === 'folder') {
    throw new LibraryError((n) => `${e.name} trains on an image folder: pass ${n.option('data', "'folder:PATH'")} (PATH/train and PATH/val ` +
      'with one sub-folder per class, JPEG/PNG; ImageNet or a subset of it)');
  }
  const missing: string[] = [];
  for (const name of ['cifar10', 'fashion-mnist', 'fashion-mnist-sample']) {
    try {
      const splits = openData(name, dataDir);
      return { splits, how: missing.length ? `default (${missing.join(', ')} not found)` : 'default' };
    } catch {
      missing.push(name);
    }
  }
  throw new Error('no dataset found: not even the bundled Fashion-MNIST sample (assets/fashion-mnist)');
}

/** The first `n` images of an in-memory set, a seeded choice of `n` from an image folder. */
function firstImages(d: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= d.size) return d;
  if (d instanceof ArrayDataset) return d.slice(0, n);
  return new SubsetDataset(d, new Rng(0).permutation(d.size).slice(0, n).sort());
}

function limitSplits(s: DataSplits, scale: ScaleSpec): DataSplits {
  if (scale.trainImages === undefined && scale.testImages === undefined) return s;
  const test = s.test && firstImages(s.test, scale.testImages);
  const val = s.val && (s.val === s.test ? test : firstImages(s.val, scale.testImages));
  return { ...s, trainFull: firstImages(s.trainFull, scale.trainImages), test, val };
}

/** `dir` relative to `root` when inside it (a folder that moves with its runs), else absolute. */
function relativeInside(root: string, dir: string): string {
  const r = relative(root, dir);
  return r.startsWith('..') || isAbsolute(r) ? dir : r;
}

function gitCommit(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function readManifest(out: string): Manifest | null {
  const p = join(out, MANIFEST);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Manifest) : null;
}

function writeManifest(out: string, m: Manifest): void {
  writeFileSync(join(out, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
}

/** Multiply-accumulates of one training run, for the experiment's ETA (about 3× a forward pass a training image). */
function runCost(run: RunSpec, scale: ScaleSpec, recipe: Recipe, channels: number, side: number): number {
  const s = summarize(run.net, { ...scale.net, ...run.options, inChannels: channels, classes: 10 }, side);
  return 3 * s.macs * recipe.batchSize * (recipe.iterations ?? 0);
}

export async function runExperiment(config: ExperimentConfig): Promise<ExperimentResult> {
  const e = getExperiment(config.name);
  const scale = e.scales[config.scale];
  const out = resolve(config.out);
  mkdirSync(out, { recursive: true });
  const progress = config.progress === undefined || config.progress === 'auto' ? Progress.auto() : new Progress(config.progress);
  const previous = readManifest(out);
  if (previous && (previous.experiment !== e.name || previous.scale !== config.scale)) {
    throw new LibraryError((n) => `${out} holds ${previous.experiment} at scale ${previous.scale}: choose another ${n.option('out')} for ${e.name} ` +
      `at scale ${config.scale}`);
  }
  const dataName = config.data ?? previous?.data.name;
  const { splits: full, how } = resolveData(e, dataName, config.dataDir ?? previous?.data.dir);
  if (previous && previous.data.name !== full.name) {
    throw new LibraryError((n) => `${out} holds runs on ${previous.data.name}; this call would train on ${full.name}: choose another ${n.option('out')}`);
  }
  const splits = limitSplits(full, scale);
  const ids = config.runs ?? previous?.runs.map((r) => r.id) ?? e.runs.map((r) => r.id);
  for (const id of ids) {
    if (!e.runs.some((r) => r.id === id)) throw new Error(`${e.name} has no run '${id}'; its runs: ${e.runs.map((r) => r.id).join(', ')}`);
  }
  const from = config.from ? resolve(config.from) : previous?.from ?? null;
  const runs = ids.map((id) => e.runs.find((r) => r.id === id)!).map((r) => ({ ...r, dir: from ? join(from, r.id) : join(out, r.id) }));
  const manifest: Manifest = {
    experiment: e.name, title: e.title, paper: e.paper, scale: config.scale, scaleSummary: scale.summary,
    data: {
      name: full.name, dir: full.dir, train: splits.trainFull.size, test: splits.test?.size ?? 0, channels: splits.trainFull.channels,
      how: previous?.data.how ?? how,
    },
    recipe: runRecipe(e, scale), runs: runs.map((r) => ({ ...r, dir: relativeInside(out, r.dir) })), from, command: config.command ?? previous?.command ?? `resnet experiment ${e.name} --scale ${config.scale}`,
    commit: gitCommit(), machine: {
      cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), platform: process.platform,
      node: process.version, backend: config.kernels.name,
    },
    sessions: previous?.sessions ?? [], runSeconds: previous?.runSeconds ?? {},
  };
  const session: Session = { started: new Date().toISOString(), ended: null, wallSeconds: 0, status: 'running', load: loadavg() };
  manifest.sessions.push(session);
  const sessionStart = performance.now();
  writeManifest(out, manifest);
  progress.message(`${e.name} (${e.paper}) at scale ${config.scale}: ${scale.summary}\n` +
    `data: ${full.name} (${how}; ${splits.trainFull.size} training, ${splits.test?.size ?? 0} test images) in ${full.dir}\n` +
    `runs: ${runs.map((r) => r.id).join(', ')} → ${out}`);

  const side = splits.trainFull.height ?? runRecipe(e, scale).testCrop ?? 224;
  const costs = runs.map((r) => runCost(r, scale, runRecipe(e, scale), splits.trainFull.channels, side));
  const result: ExperimentResult = { status: 'completed', out, manifest, trained: [], continued: [], skipped: [] };
  let secondsPerCost: number | null = null;
  const measured = { seconds: 0, cost: 0 };
  const learnRate = (dir: string, cost: number) => {
    const end = readLog(join(dir, 'log.jsonl')).find((r) => r.type === 'end');
    if (end && typeof end.time === 'number' && cost > 0) {
      measured.seconds += end.time;
      measured.cost += cost;
      secondsPerCost = measured.seconds / measured.cost;
    }
  };

  for (const [i, run] of runs.entries()) {
    const tag = `[${i + 1}/${runs.length}] ${run.label} (${run.id})`;
    if (runFinished(run.dir)) {
      result.skipped.push(run.id);
      learnRate(run.dir, costs[i]);
      progress.message(`${tag}: finished, skipped`);
      continue;
    }
    if (from) {
      progress.message(`${tag}: not finished in ${from}, left out`);
      continue;
    }
    const resume = existsSync(join(run.dir, 'checkpoint.safetensors'));
    // What is left: this run and the unfinished runs after it (finished ones are skipped when reached).
    const unfinishedAfter = runs.map((r, j) => (j > i && !runFinished(r.dir) ? costs[j] : 0)).reduce((a, b) => a + b, 0);
    const left = costs[i] + unfinishedAfter;
    const eta = secondsPerCost === null ? 'known after the first run' : `about ${formatDuration(left * secondsPerCost)} left`;
    progress.message(`${tag}: ${resume ? 'continuing' : 'training'}; experiment: ${runs.filter((r) => runFinished(r.dir)).length} ` +
      `of ${runs.length} runs done, ${eta}`);
    const recipe = runRecipe(e, scale);
    const iterations = recipe.iterations ?? 1;
    // Overall ETA on every progress line: this run's ETA, then the runs after it at this run's speed.
    const costPerImage = costs[i] / (iterations * recipe.batchSize);
    progress.context = (p) => ` | run ${i + 1}/${runs.length}, experiment ETA ` +
      formatDuration(p.etaSeconds + (p.imagesPerSecond > 0 ? unfinishedAfter / (p.imagesPerSecond * costPerImage) : NaN));
    const started = performance.now();
    const r = await train({
      net: run.net, netOptions: { ...scale.net, ...run.options }, data: splits, recipe, outDir: run.dir, kernels: config.kernels,
      seed: config.seed ?? 0, resume, overwrite: !resume, progress, signal: config.signal,
      logEvery: Math.max(1, Math.round(iterations / scale.logPoints)),
      checkpointEvery: Math.max(1, Math.round(iterations / scale.checkpoints)),
      testCurve: { every: Math.max(1, Math.round(iterations / scale.curvePoints)), images: scale.curveImages },
    });
    progress.context = null;
    manifest.runSeconds[run.id] = (manifest.runSeconds[run.id] ?? 0) + (performance.now() - started) / 1000;
    (resume ? result.continued : result.trained).push(run.id);
    session.wallSeconds = (performance.now() - sessionStart) / 1000;
    writeManifest(out, manifest);
    if (r.status !== 'completed') {
      result.status = 'interrupted';
      break;
    }
    learnRate(run.dir, costs[i]);
    progress.message(`${tag}: done in ${formatDuration(manifest.runSeconds[run.id])}` +
      (r.test ? `, test error ${(100 * r.test.top1Error).toFixed(2)}%` : ''));
  }

  if (result.status === 'completed' && e.figures.includes('responses')) {
    await measureResponses(out, runs, config.kernels, progress, scale.responseImages);
  }
  session.ended = new Date().toISOString();
  session.wallSeconds = (performance.now() - sessionStart) / 1000;
  session.status = result.status;
  session.loadEnd = loadavg();
  writeManifest(out, manifest);
  progress.message(result.status === 'completed'
    ? `${e.name}: done in ${formatDuration(session.wallSeconds)}; \`resnet report ${out}\` draws the figures and tables`
    : `${e.name}: interrupted; run the same command again to continue`);
  return result;
}

export interface ResponsesFile {
  testImages: number;
  runs: Record<string, LayerResponse[]>;
}

/** Fig. 7's measurement of every finished run; runs already measured are kept. */
async function measureResponses(out: string, runs: (RunSpec & { dir: string })[], kernels: KernelSet, progress: Progress, limit?: number): Promise<void> {
  const path = join(out, RESPONSES);
  const file: ResponsesFile = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as ResponsesFile : { testImages: 0, runs: {} };
  for (const run of runs) {
    if (file.runs[run.id] || !runFinished(run.dir)) continue;
    const weights = join(run.dir, 'model.safetensors');
    const meta = readTrainedMetadata(readWeights(weights).metadata, weights);
    if (!meta.data || !meta.normalization) throw new Error(`${weights} does not say its data and preprocessing`);
    const start = readLog(join(run.dir, 'log.jsonl')).find((r) => r.type === 'start');
    const test = testSetOf(meta.data.name, meta.data.dir, start);
    progress.message(`${run.label}: layer responses on ${Math.min(test.size, limit ?? test.size)} test images`);
    const net = loadNet(weights, undefined, { kernels });
    file.runs[run.id] = await layerResponses(net, test, {
      kernels, norm: meta.normalization, resize: meta.data.testResize ?? undefined, cropSize: meta.data.testCrop ?? undefined, limit,
    });
    file.testImages = Math.min(test.size, limit ?? test.size);
    writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  }
}

/** The test set a run was tested on: its dataset's, cut to the number of test images its log records. */
function testSetOf(name: string, dir: string, start: LogRecord | undefined): Dataset {
  const splits = openData(name, dir);
  if (!splits.test) throw new Error(`${name} has no test set`);
  const recorded = (start?.data as { test?: number } | undefined)?.test;
  return firstImages(splits.test, recorded);
}
