// `resnet train`: the paper's recipes on a dataset, every value overridable by a flag.

import { loadKernels } from '../kernels/select.js';
import { NET_NAMES, isNetName } from '../models/registry.js';
import { PAPER_WARMUP, RECIPES, type Recipe, type RecipeOverrides, getRecipe } from '../train/recipe.js';
import { type TrainResult, train } from '../train/loop.js';
import type { ProgressMode } from '../train/progress.js';
import { type Command, UsageError, intFlag, numberFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, NET_FLAGS, NET_FLAGS_USAGE, backendFromFlags, netOptionsFromFlags } from './net-flags.js';

export const RECIPE_FLAGS = {
  recipe: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  nesterov: { type: 'boolean' },
  iterations: { type: 'string' },
  epochs: { type: 'string' },
  milestones: { type: 'string' },
  gamma: { type: 'string' },
  patience: { type: 'string' },
  warmup: { type: 'boolean' },
  'no-warmup': { type: 'boolean' },
  'warmup-lr': { type: 'string' },
  'warmup-error': { type: 'string' },
  val: { type: 'string' },
  'eval-every': { type: 'string' },
  'no-augment': { type: 'boolean' },
  lighting: { type: 'string' },
  'no-mean': { type: 'boolean' },
} as const;

export const RECIPE_USAGE = `Recipes (--recipe; every value below overrides the recipe's):
  cifar-paper (default)  Sec. 4.2: batch 128, lr 0.1, momentum 0.9, weight decay 1e-4, lr ÷10 at
                         iterations 32000 and 48000, stop at 64000; 45k/5k train/validation split
                         (10% held out); pad 4 + random crop + flip; per-pixel mean subtracted
  imagenet-paper         Sec. 3.4: batch 256, lr 0.1 ÷10 when the validation error has not improved
                         for 2 validations (one per epoch), up to 600000 iterations, weight decay
                         1e-4, momentum 0.9; shorter side random in [256, 480], random 224 crop,
                         flip, per-pixel mean, PCA lighting (std 0.1); validates on PATH/val

  --batch-size N         images per step
  --lr X                 initial learning rate
  --momentum X           SGD momentum
  --weight-decay X       L2 weight decay (added to the gradient, PyTorch semantics)
  --nesterov             Nesterov momentum (not in the paper)
  --iterations N         length of the run in steps, or
  --epochs N             length in epochs (passes over the training part). A shorter run keeps
                         the recipe's ÷10 points at the same fractions of its length: the CIFAR
                         recipe divides at 50% and 75% (--epochs 6: after epochs 3 and 4.5)
  --milestones A,B,...   ÷10 at these iterations instead (exact step numbers)
  --gamma X              the factor at each milestone or plateau (default 0.1)
  --patience P           plateau schedule: ÷10 after P validations without improvement
  --warmup               ResNet-110's warm-up: lr 0.01 until the training error (mean of the
                         last 20 steps) is below 80%, then the recipe's lr. The cifar-paper recipe
                         has it for resnet110 and resnet1202 (as in the paper); --no-warmup
  --warmup-lr X          warm-up learning rate (default 0.01; implies --warmup)
  --warmup-error X       warm-up ends below this training error (default 0.8; implies --warmup)
  --val N                hold out N training images for validation (0: train on all); a number
                         below 1 is a fraction (the CIFAR recipe: 0.1, i.e. 5000 of 50000)
  --eval-every N         validate every N iterations (default: at the end of every epoch)
  --no-augment           no random crops, flips or scaling (the test view)
  --lighting STD         PCA lighting strength of imagenet-paper (0: off)
  --no-mean              no per-pixel mean subtraction`;

export const TRAIN_OUTPUT_USAGE = `Output:
  --out DIR              where the run goes (default runs/NET-DATA): log.jsonl (a JSON record per
                         logged step and per epoch: loss, error, validation error, lr, time,
                         images/s), checkpoint.safetensors (every --checkpoint-every iterations,
                         default once per epoch, and at the end), model.safetensors (final
                         weights with net, options, mean image and test error: eval needs no flags)
  --resume DIR           continue the run in DIR from its checkpoint, exactly as if it had not
                         stopped (net, recipe, data, seed, --log-every, --checkpoint-every,
                         --no-test and --micro-batch come from the checkpoint; those flags given
                         with --resume change the run from there on, and the log says so)
  --overwrite            start afresh in an --out that already holds a run (one that stopped
                         before its first checkpoint is started afresh without it)
  --log-every N          a step record (and a progress line off a terminal) every N iterations
  --checkpoint-every N   a checkpoint every N iterations
  --micro-batch N|auto   images per forward/backward pass: a larger batch runs as micro-batches
                         whose gradients are accumulated into the same update (batch norm's
                         statistics are then per micro-batch, as they were per GPU in the paper).
                         Default auto: the whole batch when its estimated memory fits the kernel
                         set (4 GiB for wasm), else the largest micro-batch that does
  --progress bar|lines|none   default: a bar on a terminal, lines otherwise
  --seed N               initialization, shuffling and augmentation (default 0)
  --no-test              skip the test-set evaluation at the end

Ctrl-C saves a checkpoint after the current step and exits with code 130; a NaN or infinite loss
stops the run with code 1, keeping the last good checkpoint.`;

type Values = Record<string, string | boolean | undefined>;

/**
 * The recipe named by --recipe (undefined without it: the library takes the one that fits the data)
 * and the changes the other flags ask for; train() applies them (chooseRecipe).
 */
export function recipeFromFlags(v: Values): { recipe: Recipe | undefined; overrides: RecipeOverrides } {
  const name = v.recipe as string | undefined;
  if (name !== undefined && !RECIPES[name]) throw new UsageError(`--recipe must be one of ${Object.keys(RECIPES).join(', ')}, got '${name}'`);
  const recipe = name === undefined ? undefined : getRecipe(name);
  const o: RecipeOverrides = {};
  const int = (flag: string) => (v[flag] === undefined ? undefined : intFlag(String(v[flag]), `--${flag}`, 0));
  o.batchSize = int('batch-size');
  o.lr = numberFlag(v.lr as string | undefined, '--lr');
  o.momentum = numberFlag(v.momentum as string | undefined, '--momentum', { min: 0, max: 1, maxOpen: true });
  o.weightDecay = numberFlag(v['weight-decay'] as string | undefined, '--weight-decay');
  if (v.nesterov) o.nesterov = true;
  o.iterations = int('iterations');
  o.epochs = numberFlag(v.epochs as string | undefined, '--epochs', { min: 0, minOpen: true });
  if (v.milestones !== undefined) {
    const text = String(v.milestones).trim();
    o.milestones = text === '' || text === 'none' ? [] : text.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--milestones: '${s}' is not an iteration number`);
      return n;
    });
    if (o.milestones.some((m, i) => i > 0 && m <= o.milestones![i - 1])) throw new UsageError('--milestones must increase');
  }
  o.gamma = numberFlag(v.gamma as string | undefined, '--gamma', { min: 0, minOpen: true });
  o.patience = int('patience');
  if (v.warmup || v['warmup-lr'] !== undefined || v['warmup-error'] !== undefined) {
    o.warmup = {
      ...PAPER_WARMUP,
      lr: numberFlag(v['warmup-lr'] as string | undefined, '--warmup-lr', { min: 0, minOpen: true }) ?? PAPER_WARMUP.lr,
      untilTrainError: numberFlag(v['warmup-error'] as string | undefined, '--warmup-error', { min: 0, minOpen: true, max: 1 }) ?? PAPER_WARMUP.untilTrainError,
    };
  }
  if (v.val !== undefined) {
    const x = numberFlag(String(v.val), '--val')!;
    if (x > 0 && x < 1) o.validation = { fraction: x };
    else if (Number.isInteger(x)) o.validation = { count: x };
    else throw new UsageError(`--val: give a count or a fraction below 1, got '${v.val}'`);
  }
  if (v['no-warmup']) {
    if (o.warmup) throw new UsageError('--no-warmup contradicts --warmup');
    o.warmup = null;
  }
  if (v['eval-every'] !== undefined) o.evalEvery = int('eval-every');
  if (v['no-augment']) o.augmentation = { kind: 'none' };
  o.lightingStd = numberFlag(v.lighting as string | undefined, '--lighting');
  if (v['no-mean']) o.normalization = 'none';
  return { recipe, overrides: Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as RecipeOverrides };
}

export function progressFromFlag(value: string | undefined): ProgressMode | 'auto' {
  if (value === undefined) return 'auto';
  if (!['bar', 'lines', 'none'].includes(value)) throw new UsageError(`--progress must be bar, lines or none, got '${value}'`);
  return value as ProgressMode;
}

/**
 * Runs `fn` with an abort signal that Ctrl-C (SIGINT) or SIGTERM triggers: the run saves a
 * checkpoint after its current step. A second Ctrl-C quits at once.
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${sig} again: quitting without waiting for the checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping after this step and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Exit code 130 (the shell's code for Ctrl-C) once the command returns: main.ts sets the exit code
 * from the command's outcome, so the code is set again as the process exits.
 */
export function exitInterrupted(): void {
  process.once('exit', () => {
    process.exitCode = 130;
  });
}

/** Exit code and last words of a finished run. */
export function reportRun(r: TrainResult): void {
  if (r.status !== 'completed') console.error(`resume with \`resnet train --resume ${r.outDir}\``);
  if (r.status === 'interrupted') {
    exitInterrupted();
    return;
  }
  const lines = [`done: ${r.iteration} iterations in ${r.seconds.toFixed(1)} s`];
  if (r.test) lines.push(`test error ${(100 * r.test.top1Error).toFixed(2)}%` + (r.test.top5Error !== null ? `, top-5 ${(100 * r.test.top5Error).toFixed(2)}%` : '') + ` on ${r.test.images} images`);
  if (r.lastVal) lines.push(`validation error ${(100 * r.lastVal.top1Error).toFixed(2)}%`);
  if (r.modelPath) lines.push(`weights: ${r.modelPath}`);
  lines.push(`log: ${r.logPath}`);
  console.log(lines.join('\n'));
}

export const trainCommand: Command = {
  name: 'train',
  summary: "train a network with the paper's recipe (CIFAR or ImageNet), with checkpoints and resume",
  usage: `Usage: resnet train --net NET --data DATA [--data-dir D] [--out DIR] [options]
       resnet train --resume DIR [--backend B] [--threads N]

  --net NET              one of ${NET_NAMES.join(' ')}
  --data DATA            cifar10 | fashion-mnist | fashion-mnist-sample | mnist | folder:PATH
                         (resnet data info says where each is looked for; image folders: PATH/train
                         and PATH/val with one sub-folder per class, or PATH alone)
  --data-dir D           where the dataset's files are
  --image-size N         image folders: train at N×N pixels (default: the typical (median) shorter
                         side of the images when below 128, else 224). Without --recipe, images
                         below 128 pixels get cifar-paper (pad-crop-flip, pad N/8), larger ones
                         imagenet-paper (scale augmentation at N/224 of its sizes, crop N). Each
                         image is decoded and resized once, into PATH/.resnet-cache/ (rebuilt when
                         the folder's files change)

${RECIPE_USAGE}

${TRAIN_OUTPUT_USAGE}

Input channels and classes default to the dataset's (1 and 10 for Fashion-MNIST).

${NET_FLAGS_USAGE}

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    reportRun(await trainFromFlags(argv));
  },
};

/**
 * Parses `resnet train`'s flags and runs the training, Ctrl-C saving a checkpoint. A diverged run
 * throws TrainingDiverged, whose message main.ts prints (exit code 1).
 */
export async function trainFromFlags(argv: string[]): Promise<TrainResult> {
  const { values } = parseFlags(argv, {
    ...NET_FLAGS, ...BACKEND_FLAGS, ...RECIPE_FLAGS, net: { type: 'string' }, data: { type: 'string' }, 'data-dir': { type: 'string' },
    out: { type: 'string' }, resume: { type: 'string' }, overwrite: { type: 'boolean' }, 'log-every': { type: 'string' },
    'checkpoint-every': { type: 'string' }, progress: { type: 'string' }, seed: { type: 'string' }, 'no-test': { type: 'boolean' },
    'micro-batch': { type: 'string' }, 'image-size': { type: 'string' },
  });
  const backend = backendFromFlags(values);
  const common = {
    logEvery: values['log-every'] === undefined ? undefined : intFlag(values['log-every'], '--log-every', 0),
    checkpointEvery: values['checkpoint-every'] === undefined ? undefined : intFlag(values['checkpoint-every'], '--checkpoint-every', 0),
    progress: progressFromFlag(values.progress),
    test: values['no-test'] ? false : undefined,
    microBatch: values['micro-batch'] === undefined || values['micro-batch'] === 'auto' ? undefined : intFlag(values['micro-batch'], '--micro-batch', 0),
  };
  if (values.resume !== undefined) {
    const allowed = new Set(['resume', 'backend', 'threads', 'log-every', 'checkpoint-every', 'progress', 'no-test', 'micro-batch']);
    const extra = Object.keys(values).filter((key) => !allowed.has(key));
    if (extra.length) throw new UsageError(`--resume continues the recorded run; it does not take --${extra.join(', --')}`);
    const kernels = await loadKernels(backend);
    return withInterrupt((signal) => train({
      net: 'resnet20', data: '', outDir: values.resume!, kernels, resume: true, signal, ...common,
    }));
  }
  if (!values.net) throw new UsageError('train needs --net NET (or --resume DIR)');
  if (!isNetName(values.net)) throw new UsageError(`unknown network '${values.net}'; known: ${NET_NAMES.join(', ')}`);
  if (!values.data) throw new UsageError('train needs --data (cifar10, fashion-mnist, fashion-mnist-sample, mnist or folder:PATH)');
  // The library checks the image size and the recipe's changes against the data (ConfigError: exit code 2).
  const imageSize = numberFlag(values['image-size'], '--image-size', { integer: true });
  const { recipe, overrides } = recipeFromFlags(values);
  const seed = intFlag(values.seed, '--seed', 0, { min: 0 });
  const outDir = values.out ?? `runs/${values.net}-${values.data.replace(/^folder:/, '').replace(/[^A-Za-z0-9._-]+/g, '_')}`;
  const kernels = await loadKernels(backend);
  const net = values.net;
  return withInterrupt((signal) => train({
    net, netOptions: netOptionsFromFlags(values), data: values.data!, dataDir: values['data-dir'], recipe, recipeOverrides: overrides, outDir, kernels, seed,
    overwrite: values.overwrite, signal, imageSize, ...common,
  }));
}
