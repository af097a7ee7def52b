// The paper's two training recipes as data, and how flags override them.
//
//   cifar-paper (Sec. 4.2): batch 128, SGD lr 0.1, momentum 0.9, weight decay 1e-4, lr ÷10 at
//     32k and 48k iterations, stop at 64k; 45k/5k train/validation split; pad 4 + random crop +
//     horizontal flip; per-pixel mean subtraction; ResNet-110 and ResNet-1202 add a warm-up
//     (lr 0.01 until the training error is below 80%), applied by `recipeForNet`.
//   imagenet-paper (Sec. 3.4): batch 256, lr 0.1 ÷10 when the validation error plateaus, up to
//     60×10^4 iterations, weight decay 1e-4, momentum 0.9; shorter side random in [256, 480],
//     random 224 crop, flip, per-pixel mean, PCA lighting.
//
// A recipe's length is given either in iterations or in epochs. Milestones are kept as fractions
// of the preset's length (32k/64k = 0.5, 48k/64k = 0.75), so a shorter run (`--epochs 6`) divides
// lr at the same fractions of its own length; explicit `--milestones` are iterations, as given.

import { SMALL_IMAGE_LIMIT, scaledToCrop } from '../data/image-size.js';
import { LibraryError } from '../io/errors.js';
import { type ScheduleSpec, type WarmupSpec } from '../optim/schedule.js';

/** 'paper': the paper's warm-up (PAPER_WARMUP) for the nets that need it (PAPER_WARMUP_NETS), none for the others. */
export type RecipeWarmup = WarmupSpec | null | 'paper';

export type Augmentation =
  | { kind: 'none' }
  | { kind: 'padCropFlip'; pad: number; flip: boolean }
  | { kind: 'scale'; minSize: number; maxSize: number; crop: number; flip: boolean; lightingStd: number };

export type NormalizationKind = 'meanImage' | 'none';

export interface Recipe {
  name: string;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Length of the run: exactly one of iterations and epochs is set. */
  iterations: number | null;
  epochs: number | null;
  schedule:
    | { kind: 'multistep'; milestones: { fractions: number[] } | { iterations: number[] }; gamma: number }
    | { kind: 'plateau'; patience: number; gamma: number; threshold: number };
  warmup: RecipeWarmup;
  augmentation: Augmentation;
  normalization: NormalizationKind;
  /** Part of the training set held out for validation: a fraction of it (0.1 = CIFAR's 5k of 50k) or a count. */
  validation: { fraction: number } | { count: number };
  /** Validate every this many iterations; null: at the end of every epoch. */
  evalEvery: number | null;
  /** Side of the test view of variable-size images (ImageNet: 256 then center 224 crop). */
  testResize: number | null;
  testCrop: number | null;
}

export const CIFAR_PAPER: Recipe = {
  name: 'cifar-paper',
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 1e-4,
  nesterov: false,
  iterations: 64000,
  epochs: null,
  schedule: { kind: 'multistep', milestones: { fractions: [32000 / 64000, 48000 / 64000] }, gamma: 0.1 },
  warmup: 'paper',
  augmentation: { kind: 'padCropFlip', pad: 4, flip: true },
  normalization: 'meanImage',
  validation: { fraction: 0.1 },
  evalEvery: null,
  testResize: null,
  testCrop: null,
};

export const IMAGENET_PAPER: Recipe = {
  name: 'imagenet-paper',
  batchSize: 256,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 1e-4,
  nesterov: false,
  iterations: 600000,
  epochs: null,
  // The paper does not give the patience; 2 validations (one per epoch) without improvement.
  schedule: { kind: 'plateau', patience: 2, gamma: 0.1, threshold: 0 },
  warmup: null,
  augmentation: { kind: 'scale', minSize: 256, maxSize: 480, crop: 224, flip: true, lightingStd: 0.1 },
  normalization: 'meanImage',
  validation: { count: 0 }, // the image folder's val/ (ImageNet's 50k validation images)
  evalEvery: null,
  testResize: 256,
  testCrop: 224,
};

export const RECIPES: Record<string, Recipe> = { 'cifar-paper': CIFAR_PAPER, 'imagenet-paper': IMAGENET_PAPER };

/** The ResNet-110 warm-up of Sec. 4.2: lr 0.01 until the training error is below 80%. */
export const PAPER_WARMUP: WarmupSpec = { lr: 0.01, untilTrainError: 0.8, window: 20 };

/** Sec. 4.2: lr 0.1 is slightly too large for ResNet-110 to start converging (and ResNet-1202 is deeper still). */
export const PAPER_WARMUP_NETS: readonly string[] = ['resnet110', 'resnet1202'];

/** The recipe as it runs for `net`: a 'paper' warm-up becomes PAPER_WARMUP for the nets that need it, else none. */
export function recipeForNet(r: Recipe, net: string): Recipe {
  if (r.warmup !== 'paper') return structuredClone(r);
  return { ...structuredClone(r), warmup: PAPER_WARMUP_NETS.includes(net) ? { ...PAPER_WARMUP } : null };
}

/** The warm-up of a recipe made for a network (recipeForNet). */
export function warmupOf(r: Recipe): WarmupSpec | null {
  if (r.warmup === 'paper') throw new Error(`recipe '${r.name}': the paper's warm-up depends on the network; make the recipe with recipeForNet(recipe, net)`);
  return r.warmup;
}

/** What a caller asked for cannot be done as asked; the message (and `option`) names the options to change. */
export class ConfigError extends LibraryError {}

export function getRecipe(name: string): Recipe {
  const r = RECIPES[name];
  if (!r) throw new ConfigError(`unknown recipe '${name}'; choose one of ${Object.keys(RECIPES).join(', ')}`);
  return structuredClone(r);
}

/** Values that override a recipe; every field optional. */
export interface RecipeOverrides {
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  iterations?: number;
  epochs?: number;
  milestones?: number[];
  gamma?: number;
  patience?: number;
  warmup?: RecipeWarmup;
  augmentation?: Augmentation;
  normalization?: NormalizationKind;
  validation?: { fraction: number } | { count: number };
  evalEvery?: number | null;
  /** The std of the scale augmentation's PCA lighting (imagenet-paper's augmentation only). */
  lightingStd?: number;
}

export function applyOverrides(base: Recipe, o: RecipeOverrides): Recipe {
  const r = structuredClone(base);
  if (o.iterations !== undefined && o.epochs !== undefined) throw new ConfigError((n) => `give ${n.option('iterations')} or ${n.option('epochs')}, not both`);
  for (const k of ['batchSize', 'lr', 'momentum', 'weightDecay', 'nesterov', 'augmentation', 'normalization', 'validation', 'evalEvery'] as const) {
    if (o[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = structuredClone(o[k]);
  }
  if (o.warmup !== undefined) r.warmup = o.warmup;
  if (o.iterations !== undefined) {
    r.iterations = o.iterations;
    r.epochs = null;
  }
  if (o.epochs !== undefined) {
    r.epochs = o.epochs;
    r.iterations = null;
  }
  if (o.milestones !== undefined || o.gamma !== undefined) {
    if (r.schedule.kind !== 'multistep') {
      if (o.milestones !== undefined) r.schedule = { kind: 'multistep', milestones: { iterations: o.milestones }, gamma: o.gamma ?? r.schedule.gamma };
      else r.schedule.gamma = o.gamma!;
    } else {
      if (o.milestones !== undefined) r.schedule.milestones = { iterations: o.milestones };
      if (o.gamma !== undefined) r.schedule.gamma = o.gamma;
    }
  }
  if (o.patience !== undefined) {
    const gamma = r.schedule.gamma;
    r.schedule = { kind: 'plateau', patience: o.patience, gamma, threshold: r.schedule.kind === 'plateau' ? r.schedule.threshold : 0 };
  }
  if (o.lightingStd !== undefined) {
    if (r.augmentation.kind !== 'scale') throw new ConfigError((n) => `${n.option('lightingStd')} applies to the imagenet-paper scale augmentation only`);
    r.augmentation = { ...r.augmentation, lightingStd: o.lightingStd };
  }
  return r;
}

/** Which recipe a run takes: a recipe or its name (default: the one that fits the data), the changes asked for, and the net it runs for. */
export interface RecipeChoice {
  recipe?: Recipe | string;
  overrides?: RecipeOverrides;
  net: string;
}

/**
 * The recipe of a run as it runs for its net: `choice.recipe`, else the one that fits the data (an
 * image folder trained at `imageSide` pixels: recipeNameForImages; other data, `imageSide` null:
 * cifar-paper), with the overrides applied, then recipeForNet.
 */
export function chooseRecipe(choice: RecipeChoice, imageSide: number | null): Recipe {
  const given = choice.recipe ?? (imageSide === null ? 'cifar-paper' : recipeNameForImages(imageSide));
  const base = typeof given === 'string' ? getRecipe(given) : given;
  return recipeForNet(applyOverrides(base, choice.overrides ?? {}), choice.net);
}

/** The image sizes a folder can be trained at. */
export const MIN_IMAGE_SIZE = 8;
export const MAX_IMAGE_SIZE = 4096;

/**
 * A recipe fitted to an image folder trained at `side` pixels: CIFAR's pad of 4 at 32 pixels scales
 * to round(side/8); ImageNet's scale augmentation (256..480, crop 224) and test view (256, crop 224)
 * scale by side/224. A plateau schedule on a folder without val/ holds out 10% for validation.
 * Applying it again with the same arguments changes nothing.
 */
export function recipeForImages(r: Recipe, side: number, hasVal: boolean): Recipe {
  if (!Number.isInteger(side) || side < MIN_IMAGE_SIZE || side > MAX_IMAGE_SIZE) {
    throw new ConfigError((n) => `image size (${n.option('imageSize')}) ${side}: give a whole number of pixels from ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE}`);
  }
  const out = structuredClone(r);
  const a = out.augmentation;
  if (a.kind === 'padCropFlip') out.augmentation = { ...a, pad: Math.max(1, Math.round(side / 8)) };
  if (a.kind === 'scale') out.augmentation = { ...a, minSize: scaledToCrop(256, side), maxSize: scaledToCrop(480, side), crop: side };
  const rescales = a.kind === 'scale';
  out.testResize = rescales ? scaledToCrop(256, side) : null;
  out.testCrop = rescales ? side : null;
  if (!hasVal && out.schedule.kind === 'plateau' && 'count' in out.validation && out.validation.count === 0) out.validation = { fraction: 0.1 };
  return out;
}

/** The recipe that fits images of `side` pixels: the CIFAR recipe for small images, the ImageNet recipe for photos. */
export function recipeNameForImages(side: number): 'cifar-paper' | 'imagenet-paper' {
  return side < SMALL_IMAGE_LIMIT ? 'cifar-paper' : 'imagenet-paper';
}

/** Total iterations of a recipe the number of batches per epoch is known. */
export function totalIterations(r: Recipe, batchesPerEpoch: number): number {
  if (r.iterations !== null) return r.iterations;
  if (r.epochs === null) throw new Error(`recipe '${r.name}' gives neither iterations nor epochs`);
  return Math.round(r.epochs * batchesPerEpoch);
}

/** The schedule of a recipe for a run of `total` iterations. */
export function scheduleSpec(r: Recipe, total: number): ScheduleSpec {
  const s = r.schedule;
  const warmup = warmupOf(r);
  if (s.kind === 'plateau') return { kind: 'plateau', lr: r.lr, patience: s.patience, gamma: s.gamma, threshold: s.threshold, warmup };
  const milestones = 'fractions' in s.milestones ? milestonesAt(s.milestones.fractions, total) : [...s.milestones.iterations];
  return { kind: 'multistep', lr: r.lr, milestones, gamma: s.gamma, warmup };
}

/**
 * The iterations of milestones given as fractions of a run of `total` iterations. A short run
 * collapses them: each comes at least one step after the one before, and those that would fall at
 * or after the end are dropped (a 1-step run has none; a 3-step run of the CIFAR recipe ÷10 once,
 * after step 2).
 */
export function milestonesAt(fractions: number[], total: number): number[] {
  const out: number[] = [];
  for (const f of fractions) {
    const m = Math.max(Math.round(f * total), (out[out.length - 1] ?? 0) + 1);
    if (m < total) out.push(m);
  }
  return out;
}

/** One line that says what a recipe does, for logs and the start of a run. */
export function describeRecipe(r: Recipe, total: number): string {
  const spec = scheduleSpec(r, total);
  const sched = spec.kind === 'multistep'
    ? `lr ${r.lr} ×${r.schedule.gamma} at iterations ${spec.milestones.join(', ') || '(none)'}`
    : `lr ${r.lr} ×${r.schedule.gamma} after ${spec.patience} validations without improvement`;
  const warm = spec.warmup ? `, warm-up lr ${spec.warmup.lr} until training error < ${spec.warmup.untilTrainError * 100}%` : '';
  return `${r.name}: batch ${r.batchSize}, ${total} iterations, ${sched}${warm}, momentum ${r.momentum}${r.nesterov ? ' (Nesterov)' : ''}, ` +
    `weight decay ${r.weightDecay}`;
}
