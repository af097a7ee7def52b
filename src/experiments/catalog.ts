// The paper's experiments as data: which networks, which recipe, at which scale, what is drawn and
// which of the paper's numbers stand beside ours. The runner (runner.ts) trains each network as an
// ordinary training run; the report (src/report) draws the figures and tables from the logs.
//
// Scales:
//   paper  the recipe exactly (CIFAR: 64k iterations at batch 128, lr ÷10 at 32k and 48k).
//   small  the recipe scaled to about an hour of a 2-core machine for the four nets of the slice
//          (CIFAR: 1/200 of the paper, 320 iterations at batch 128, ÷10 at 160 and 240: the
//          same fractions); test-curve points on the first 1,000 test images, the final test
//          error on the whole test set; Fig. 7's responses on the first 2,000 test images.
//   smoke  a few iterations of narrow nets (width 4) on a few images: for tests, seconds each.

import type { NetOptions } from '../models/resnet.js';
import { type NetName, depth, netSpec } from '../models/registry.js';
import type { RecipeOverrides } from '../train/recipe.js';
import { type PaperRow, TABLE_2, TABLE_3, TABLE_6 } from './paper.js';

export const SCALES = ['paper', 'small', 'smoke'] as const;
export type Scale = (typeof SCALES)[number];

export interface RunSpec {
  /** Folder of the run inside the experiment's folder. */
  id: string;
  net: NetName;
  options?: Partial<NetOptions>;
  /** As the figures' legends say it: 'plain-20', 'ResNet-56', 'ResNet-20 B'. */
  label: string;
  family: 'plain' | 'residual';
  depth: number;
  /** The paper's row for this run (default: the row of the same id). */
  paperRow?: string;
}

export interface ScaleSpec {
  /** One line for `--list` and the reports. */
  summary: string;
  recipe: RecipeOverrides;
  /** Test views of variable-size images at this scale (shorter side, crop). */
  testView?: { resize: number; crop: number };
  /** Network options of this scale (smoke: narrow nets). */
  net?: Partial<NetOptions>;
  /** Only this many training / test images (smoke; a seeded choice for image folders). */
  trainImages?: number;
  testImages?: number;
  /** Step records (training loss and error) per run. */
  logPoints: number;
  /** Test-error points per run, on the first `curveImages` test images (all if absent). */
  curvePoints: number;
  curveImages?: number;
  /** Checkpoints per run (what an interrupted experiment continues from). */
  checkpoints: number;
  /** Fig. 7's responses on the first this many test images (all if absent). */
  responseImages?: number;
}

export interface Experiment {
  name: string;
  title: string;
  /** The figures and tables of the paper it reproduces. */
  paper: string;
  description: string;
  recipe: 'cifar-paper' | 'imagenet-paper';
  runs: RunSpec[];
  /** 'auto': CIFAR-10 if present, else Fashion-MNIST, else the bundled sample. 'folder': --data folder:PATH. */
  data: 'auto' | 'folder';
  figures: ('curves' | 'responses')[];
  /** The table of final errors, the paper's rows beside ours; what the paper measured. */
  table: { caption: string; rows: PaperRow[]; paperSetting: string } | null;
  scales: Record<Scale, ScaleSpec>;
}

/** A network of the paper, named as the figures name it (ResNet-110's warm-up comes with the recipe: recipeForNet). */
const paperRun = (net: NetName, extra: Partial<RunSpec> = {}): RunSpec => {
  const spec = netSpec(net);
  const d = depth(spec);
  return { id: net, net, label: spec.residual ? `ResNet-${d}` : `plain-${d}`, family: spec.residual ? 'residual' : 'plain', depth: d, ...extra };
};

const CIFAR_SCALES: Record<Scale, ScaleSpec> = {
  paper: {
    summary: '64,000 iterations at batch 128, lr ÷10 at 32,000 and 48,000 (the paper)',
    recipe: {}, logPoints: 640, curvePoints: 64, checkpoints: 64,
  },
  small: {
    summary: '320 iterations at batch 128 (1/200 of the paper), lr ÷10 at 160 and 240; test curve on 1,000 test images',
    recipe: { iterations: 320 }, logPoints: 40, curvePoints: 10, curveImages: 1000, checkpoints: 8, responseImages: 2000,
  },
  smoke: {
    summary: '4 iterations at batch 8 of width-4 nets on 32 training and 8 test images (for tests)',
    recipe: { iterations: 4, batchSize: 8, validation: { count: 0 } }, net: { width: 4 }, trainImages: 32, testImages: 8,
    logPoints: 4, curvePoints: 2, checkpoints: 2,
  },
};

const IMAGENET_SCALES: Record<Scale, ScaleSpec> = {
  paper: {
    summary: 'batch 256, lr ÷10 when the validation error plateaus, up to 600,000 iterations (the paper)',
    recipe: {}, logPoints: 1200, curvePoints: 60, checkpoints: 300,
  },
  small: {
    summary: '250 iterations at batch 32 on 64×64 views (shorter side random in [73, 137]; test 73 then center 64), ' +
      'lr ÷10 after 2 validations (every 50 iterations) without improvement',
    recipe: {
      iterations: 250, batchSize: 32, evalEvery: 50,
      augmentation: { kind: 'scale', minSize: 73, maxSize: 137, crop: 64, flip: true, lightingStd: 0.1 },
    },
    testView: { resize: 73, crop: 64 }, logPoints: 50, curvePoints: 5, curveImages: 1000, checkpoints: 5,
  },
  smoke: {
    summary: '4 iterations at batch 4 of width-4 nets on 32×32 views (shorter side random in [36, 48]; for tests)',
    recipe: {
      iterations: 4, batchSize: 4, evalEvery: 2,
      augmentation: { kind: 'scale', minSize: 36, maxSize: 48, crop: 32, flip: true, lightingStd: 0.1 },
    },
    testView: { resize: 36, crop: 32 }, net: { width: 4 }, trainImages: 32, testImages: 8, logPoints: 4, curvePoints: 2, checkpoints: 2,
  },
};

/**
 * An experiment of the CIFAR recipe (on CIFAR-10 if present, else Fashion-MNIST, else the bundled
 * sample) or of the ImageNet recipe (on an image folder), with the scales of its recipe.
 */
function experiment(recipe: Experiment['recipe'], e: Omit<Experiment, 'recipe' | 'data' | 'scales'>): Experiment {
  const cifar = recipe === 'cifar-paper';
  return {
    name: e.name, title: e.title, paper: e.paper, description: e.description, recipe, runs: e.runs,
    data: cifar ? 'auto' : 'folder', figures: e.figures, table: e.table, scales: cifar ? CIFAR_SCALES : IMAGENET_SCALES,
  };
}

const DEGRADATION_CIFAR = experiment('cifar-paper', {
  name: 'degradation-cifar',
  title: 'Plain and residual nets on CIFAR-10: training and test error against depth',
  paper: 'Fig. 6 (left, middle), Table 6',
  description: 'plain-20/32/44/56 and ResNet-20/32/44/56/110 (option A), the CIFAR recipe. Degradation: the ' +
    'deeper plain nets have higher training error; the deeper residual nets lower.',
  runs: [
    paperRun('plain20'), paperRun('plain32'), paperRun('plain44'), paperRun('plain56'),
    paperRun('resnet20'), paperRun('resnet32'), paperRun('resnet44'), paperRun('resnet56'), paperRun('resnet110'),
  ],
  figures: ['curves'],
  table: { caption: 'Table 6: test error (%)', rows: TABLE_6, paperSetting: 'CIFAR-10, 64k iterations, single view, ResNet-110 best of 5' },
});

const DEGRADATION_IMAGENET = experiment('imagenet-paper', {
  name: 'degradation-imagenet',
  title: 'Plain and residual nets on ImageNet: training and validation error, 18 and 34 layers',
  paper: 'Fig. 4, Table 2',
  description: 'plain-18/34 and ResNet-18/34 (option B, the paper\'s choice for ImageNet), the ImageNet recipe, ' +
    'on an image folder (--data folder:PATH with PATH/train and PATH/val).',
  runs: [paperRun('plain18'), paperRun('plain34'), paperRun('resnet18'), paperRun('resnet34')],
  figures: ['curves'],
  table: { caption: 'Table 2: top-1 error (%)', rows: TABLE_2, paperSetting: 'ImageNet validation, 10-crop testing' },
});

const SHORTCUTS = experiment('cifar-paper', {
  name: 'shortcuts',
  title: 'Shortcut options A, B and C on the same network and data',
  paper: 'Table 3',
  description: 'ResNet-20 with shortcut A (zero-padding identity), B (projections where dimensions grow) and C ' +
    '(projections everywhere), and plain-20, the CIFAR recipe. The paper\'s Table 3 is ResNet-34 on ImageNet.',
  runs: [
    paperRun('plain20', { paperRow: 'plain' }),
    paperRun('resnet20', { id: 'resnet20-A', options: { shortcut: 'A' }, label: 'ResNet-20 A', paperRow: 'A' }),
    paperRun('resnet20', { id: 'resnet20-B', options: { shortcut: 'B' }, label: 'ResNet-20 B', paperRow: 'B' }),
    paperRun('resnet20', { id: 'resnet20-C', options: { shortcut: 'C' }, label: 'ResNet-20 C', paperRow: 'C' }),
  ],
  figures: ['curves'],
  table: { caption: 'Table 3: error (%) by shortcut option', rows: TABLE_3, paperSetting: 'ResNet-34 and plain-34 on ImageNet validation, 10-crop testing' },
});

const LAYER_RESPONSES = experiment('cifar-paper', {
  name: 'layer-responses',
  title: 'Standard deviations of the layer responses',
  paper: 'Fig. 7',
  description: 'plain-20/56 and ResNet-20/56/110, the CIFAR recipe; the std of each 3×3 layer\'s output after BN, ' +
    'before the ReLU and the addition, on the test set; in layer order and sorted by magnitude. ' +
    '--from DIR measures the finished runs of another experiment folder instead of training.',
  runs: [paperRun('plain20'), paperRun('plain56'), paperRun('resnet20'), paperRun('resnet56'), paperRun('resnet110')],
  figures: ['responses'],
  table: null,
});

export const EXPERIMENTS: Experiment[] = [DEGRADATION_CIFAR, DEGRADATION_IMAGENET, SHORTCUTS, LAYER_RESPONSES];

export function getExperiment(name: string): Experiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new Error(`unknown experiment '${name}'; choose one of ${EXPERIMENTS.map((x) => x.name).join(', ')}`);
  return e;
}

export function isScale(s: string): s is Scale {
  return (SCALES as readonly string[]).includes(s);
}
