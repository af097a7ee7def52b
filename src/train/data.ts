// Which data a run trains, validates and tests on, and how it is preprocessed: dataset names of
// the command line (cifar10, fashion-mnist, fashion-mnist-sample, mnist, folder:PATH) resolved to
// datasets, the recipe's validation hold-out, the per-pixel mean, train and test transforms.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { findCifar10Dir, missingCifar10, openCifar10 } from '../data/cifar10.js';
import { ArrayDataset, type Dataset, SubsetDataset } from '../data/dataset.js';
import { DEBIAN_FASHION_MNIST_DIR, bundledFashionMnistDir, findFashionMnist, findIdxPair, openFashionMnist, openMnist } from '../data/idx-dataset.js';
import { FolderCache, cacheDirFor } from '../data/image-cache.js';
import { ImageFolderDataset } from '../data/image-folder.js';
import { type ImageGeometry, defaultImageSize, geometryFor } from '../data/image-size.js';
import { computeMeanImage } from '../data/stats.js';
import type { Normalization, TransformSpec } from '../data/transforms.js';
import { Rng } from '../tensor/random.js';
import type { DataInfo } from '../eval/metadata.js';
import { LibraryError } from '../io/errors.js';
import { ConfigError, type Recipe, type RecipeChoice, chooseRecipe, recipeForImages } from './recipe.js';

export const DATA_NAMES = ['cifar10', 'fashion-mnist', 'fashion-mnist-sample', 'mnist', 'folder:PATH'] as const;

export interface DataSplits {
  /** The name given on the command line, e.g. 'cifar10' or 'folder:/data/imagenet'. */
  name: string;
  /** Where the files were found. */
  dir: string;
  /** The whole training set (before any hold-out). */
  trainFull: Dataset;
  test: Dataset | null;
  /** A validation set that comes with the data (an image folder's val/), if any. */
  val: Dataset | null;
}

/** Default directory of a dataset that may be downloaded or copied by hand. */
export function defaultDataDir(name: 'cifar10' | 'mnist'): string {
  const root = process.env.RESNET_DATA ?? join(homedir(), '.cache', 'resnet-ts');
  return join(root, name);
}

/** Where each dataset is looked for, in order (for `resnet data info` and error messages). */
export function dataSearchPaths(dataDir?: string): { name: string; paths: string[]; note: string }[] {
  const given = dataDir ? [dataDir] : [];
  return [
    {
      name: 'cifar10',
      paths: [...given, ...(process.env.CIFAR10_DIR ? [process.env.CIFAR10_DIR] : []), defaultDataDir('cifar10')],
      note: 'binary version (data_batch_1..5.bin, test_batch.bin); `resnet data get cifar10` downloads it',
    },
    {
      name: 'fashion-mnist',
      paths: [...given, ...(process.env.FASHION_MNIST_DIR ? [process.env.FASHION_MNIST_DIR] : []), DEBIAN_FASHION_MNIST_DIR],
      note: 'IDX files (train-images-idx3-ubyte[.gz] …, t10k-…); Debian package dataset-fashion-mnist',
    },
    { name: 'fashion-mnist-sample', paths: [bundledFashionMnistDir()], note: 'bundled: 10,000 train and 2,000 test images' },
    {
      name: 'mnist',
      paths: [...given, ...(process.env.MNIST_DIR ? [process.env.MNIST_DIR] : []), defaultDataDir('mnist'), '/usr/share/datasets/mnist'],
      note: 'IDX files, as Fashion-MNIST',
    },
    {
      name: 'folder:PATH', paths: ['PATH/train and PATH/val, or PATH itself'],
      note: 'one sub-folder per class, JPEG/PNG/WebP of any size; decoded once into PATH/.resnet-cache',
    },
  ];
}

function firstExisting(paths: string[], test: (d: string) => boolean): string | null {
  for (const p of paths) if (existsSync(p) && test(p)) return p;
  return null;
}

/** Opens the datasets a name stands for. */
export function openData(name: string, dataDir?: string): DataSplits {
  const paths = dataSearchPaths(dataDir);
  const where = (n: string) => paths.find((p) => p.name === n)!.paths;
  switch (name) {
    case 'cifar10': {
      const dir = firstExisting(where('cifar10'), (d) => findCifar10Dir(d) !== null);
      if (!dir) throw missingCifar10(dataDir ?? defaultDataDir('cifar10'));
      return { name, dir, trainFull: openCifar10(dir, { split: 'train' }), test: openCifar10(dir, { split: 'test' }), val: null };
    }
    case 'fashion-mnist': {
      const dir = findFashionMnist(dataDir);
      if (!dir) {
        throw new LibraryError((n) => `Fashion-MNIST not found in ${where('fashion-mnist').join(', ')}: put train-images-idx3-ubyte.gz, ` +
          `train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in one of them ` +
          `(or in the folder given as ${n.option('dataDir')}), or use ${n.option('data', "'fashion-mnist-sample'")}`);
      }
      return { name, dir, trainFull: openFashionMnist('train', dir), test: openFashionMnist('test', dir), val: null };
    }
    case 'fashion-mnist-sample': {
      const dir = bundledFashionMnistDir();
      return { name, dir, trainFull: openFashionMnist('train', dir), test: openFashionMnist('test', dir), val: null };
    }
    case 'mnist': {
      const dir = firstExisting(where('mnist'), (d) => findIdxPair(d, 'train') !== null && findIdxPair(d, 'test') !== null);
      if (!dir) {
        throw new LibraryError((n) => `MNIST not found in ${where('mnist').join(', ')}: put the four IDX files in one of them ` +
          `(or in the folder given as ${n.option('dataDir')})`);
      }
      return { name, dir, trainFull: openMnist(dir, 'train'), test: openMnist(dir, 'test'), val: null };
    }
  }
  if (name.startsWith('folder:')) {
    const root = resolve(name.slice('folder:'.length));
    if (!existsSync(root)) throw new Error(`image folder ${root} does not exist`);
    const train = join(root, 'train');
    if (existsSync(train)) {
      const valDir = ['val', 'validation', 'test'].map((d) => join(root, d)).find((d) => existsSync(d));
      const val = valDir ? new ImageFolderDataset(valDir) : null;
      const trainSet = new ImageFolderDataset(train);
      if (val && val.classes.join('\n') !== trainSet.classes.join('\n')) throw new Error(`${valDir} and ${train} have different class folders`);
      return { name: `folder:${root}`, dir: root, trainFull: trainSet, test: val, val };
    }
    return { name: `folder:${root}`, dir: root, trainFull: new ImageFolderDataset(root), test: null, val: null };
  }
  throw new Error(`unknown dataset '${name}'; choose one of ${DATA_NAMES.join(', ')}`);
}

/** The training and validation sets after the recipe's hold-out. */
export function holdOut(data: DataSplits, validation: Recipe['validation']): { train: Dataset; val: Dataset | null } {
  const n = data.trainFull.size;
  const count = 'count' in validation ? validation.count : Math.round(validation.fraction * n);
  if (count === 0) return { train: data.trainFull, val: data.val };
  if (!Number.isInteger(count) || count < 0 || count >= n) throw new Error(`cannot hold out ${count} of ${n} training images for validation`);
  const full = data.trainFull;
  // The last `count` images: CIFAR-10's 45k/5k split is the last 5,000 (see data/cifar10.ts).
  if (full instanceof ArrayDataset) return { train: full.slice(0, n - count), val: full.slice(n - count, n) };
  // Image folders are ordered by class: a seeded random hold-out, the same for every run.
  const perm = new Rng(0).permutation(n);
  return {
    train: new SubsetDataset(full, perm.slice(0, n - count).sort()),
    val: new SubsetDataset(full, perm.slice(n - count).sort()),
  };
}

/** Images per sample for the mean image of variable-size datasets (decoding all of ImageNet would take hours). */
export const MEAN_IMAGE_SAMPLES = 10000;

/**
 * The paper's per-pixel mean over the training set, [c, h, w] in [0, 1] units. Fixed-size data:
 * every training image. Variable-size data: the test view (shorter side `resize`, center `crop`)
 * of up to MEAN_IMAGE_SAMPLES seeded random training images.
 */
export async function meanImage(train: Dataset, resize: number, crop: number): Promise<{ mean: Float32Array; shape: number[] }> {
  if (train.height !== null && train.width !== null) {
    return { mean: await computeMeanImage(train), shape: [train.channels, train.height, train.width] };
  }
  let sample: Dataset = train;
  if (train.size > MEAN_IMAGE_SAMPLES) sample = new SubsetDataset(train, new Rng(0).permutation(train.size).slice(0, MEAN_IMAGE_SAMPLES).sort());
  const mean = await computeMeanImage(sample, { kind: 'imagenetCenter', resize, crop, norm: { kind: 'none' } });
  return { mean, shape: [train.channels, crop, crop] };
}

/** The training transform of a recipe. */
export function trainTransform(r: Recipe, norm: Normalization, dataset: Dataset): TransformSpec {
  const a = r.augmentation;
  const fixed = dataset.height !== null;
  switch (a.kind) {
    case 'none':
      if (!fixed) return { kind: 'imagenetCenter', resize: r.testResize ?? 256, crop: r.testCrop ?? 224, norm };
      return { kind: 'plain', norm };
    case 'padCropFlip':
      if (!fixed) throw new Error(`${r.name}: pad-and-crop augmentation needs images of one size (image folders are brought to one by fitImageFolder)`);
      return { kind: 'padCropFlip', pad: a.pad, flip: a.flip, norm };
    case 'scale':
      if (a.lightingStd > 0 && dataset.channels !== 3) throw new ConfigError((n) => `${r.name}: PCA lighting needs RGB images; pass ${n.option('lightingStd', '0')}`);
      return { kind: 'imagenetTrain', minSize: a.minSize, maxSize: a.maxSize, crop: a.crop, flip: a.flip, lightingStd: a.lightingStd, norm };
  }
}

/** The crop side of a recipe's training views on variable-size images (for the mean image). */
export function trainCrop(r: Recipe): number {
  return r.augmentation.kind === 'scale' ? r.augmentation.crop : (r.testCrop ?? 224);
}

/** How a run brings an image folder's images to one size: the image size and the stored geometry (data/image-size.ts). */
export interface ImageFit {
  imageSize: number;
  geometry: ImageGeometry;
}

/** The image folders of a data set (train, val), or null for other data. */
function folders(data: DataSplits): ImageFolderDataset[] | null {
  if (!(data.trainFull instanceof ImageFolderDataset)) return null;
  return [data.trainFull, ...(data.test instanceof ImageFolderDataset && data.test !== data.trainFull ? [data.test] : [])];
}

/** The caches of a data set's image folders (train first), the cache folder found once; null for other data. */
function folderCaches(data: DataSplits): FolderCache[] | null {
  const f = folders(data);
  if (!f) return null;
  const dir = cacheDirFor(data.dir);
  return f.map((folder) => new FolderCache(folder, data.dir, dir));
}

/**
 * An image folder made ready for a run: the image size (given, else image-size.ts's default from the
 * training images), the recipe chosen for it (chooseRecipe: without a recipe, the one that fits the
 * image size) and fitted to it (recipeForImages), and the images read from the image cache at the
 * matching geometry (built first where missing or stale, `onMessage` told). Every image is looked
 * at (a stat) once. Other data come back as they are, with the recipe chosen for them (`imageSize`
 * must then be unset).
 */
export async function fitImageFolder(
  data: DataSplits, choice: RecipeChoice, imageSize?: number, onMessage?: (text: string) => void,
): Promise<{ data: DataSplits; recipe: Recipe; fit: ImageFit | null }> {
  const caches = folderCaches(data);
  if (!caches) {
    if (imageSize !== undefined) throw new ConfigError((n) => `${n.option('imageSize')} applies to image folders (folder:PATH); ${data.name} has images of one size`);
    return { data, recipe: chooseRecipe(choice, null), fit: null };
  }
  const side = imageSize ?? defaultImageSize(await caches[0]!.imageSizes());
  const fitted = recipeForImages(chooseRecipe(choice, side), side, data.val !== null);
  const geometry = geometryFor(fitted.augmentation.kind === 'scale', side);
  return { data: await cacheFolderImages(data, geometry, { onMessage, caches }), recipe: fitted, fit: { imageSize: side, geometry } };
}

/**
 * The data with each image folder replaced by its cached images at `geometry` (`caches`: the
 * folders' caches, if opened already). `only: 'test'` reads the test (and validation) folder alone,
 * leaving the training folder undecoded.
 */
export async function cacheFolderImages(
  data: DataSplits, geometry: ImageGeometry, o: { onMessage?: (text: string) => void; caches?: FolderCache[] | null; only?: 'test' } = {},
): Promise<DataSplits> {
  const { onMessage, caches = folderCaches(data), only } = o;
  if (!caches) return data;
  const open = (d: Dataset | null) => {
    const cache = caches.find((c) => c.folder === d);
    return cache ? cache.images(geometry, (n, where) => onMessage?.(`decoding ${n} images of ${cache.folder.root} once, into ${where} …`)) : Promise.resolve(d);
  };
  const trainFull = only === 'test' && data.test !== data.trainFull ? data.trainFull : (await open(data.trainFull))!;
  const test = data.test === data.trainFull ? trainFull : await open(data.test);
  const val = data.val === data.test ? test : await open(data.val);
  return { ...data, trainFull, test, val };
}

/**
 * The images trained weights are tested on (`resnet eval`): the data named by `data`, else the
 * data they were trained on (in the folder training found it in, unless `dataDir`); its test set,
 * or with `split: 'val'` the run's validation hold-out. Image folders trained on are read from the
 * image cache at the geometry trained at: the test split decodes only the test folder; the val split
 * the training folder (its hold-out) and a val/ folder if there is one.
 */
export async function evalDataset(
  meta: { data: DataInfo | null }, o: { data?: string; dataDir?: string; split: 'test' | 'val'; source: string; onMessage?: (text: string) => void },
): Promise<{ name: string; dataset: Dataset }> {
  const name = o.data ?? meta.data?.name;
  if (!name) throw new ConfigError((n) => `${o.source} does not say which data it was trained on: pass ${n.option('data')}`);
  const same = meta.data !== null && meta.data.name === name;
  const opened = openData(name, o.dataDir ?? (same ? meta.data!.dir : undefined));
  const geometry = same ? meta.data!.geometry : undefined;
  if (o.split === 'val') {
    const validation = meta.data?.validation;
    if (!validation) throw new ConfigError((n) => `${o.source} does not record a validation hold-out; use ${n.option('split', "'test'")}`);
    const data = geometry ? await cacheFolderImages(opened, geometry, { onMessage: o.onMessage }) : opened;
    const val = holdOut(data, validation).val;
    if (!val) throw new ConfigError(`the run of ${o.source} held out no validation images`);
    return { name, dataset: val };
  }
  if (!opened.test) throw new ConfigError(`${name} has no test set`);
  const data = geometry ? await cacheFolderImages(opened, geometry, { onMessage: o.onMessage, only: 'test' }) : opened;
  return { name, dataset: data.test! };
}
