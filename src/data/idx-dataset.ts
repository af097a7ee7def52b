// Image/label IDX pairs: MNIST and Fashion-MNIST (train-images-idx3-ubyte[.gz] with
// train-labels-idx1-ubyte[.gz], and t10k-* for the test set). Images are 1×28×28 grayscale.
//
// Grayscale on our networks: we use `--in-channels 1` (the network's first conv takes one channel)
// rather than replicating the gray channel three times. Replicating carries no information — a
// 3-channel conv on three equal channels is exactly a 1-channel conv whose weights are the sum of the
// three — while it triples the first layer's memory traffic and multiply-accumulates. Replicate only
// to feed weights trained on RGB (transforms.ts `replicateChannels`). The CIFAR nets are fully
// convolutional up to the global average pool, so 28×28 inputs need no padding to 32×32 (the maps are
// 28, 14, 7 instead of 32, 16, 8).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArrayDataset } from './dataset.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, idxDataset } from './idx-bytes.js';

export { FASHION_MNIST_CLASSES, MNIST_CLASSES, idxDataset } from './idx-bytes.js';

export type IdxSplit = 'train' | 'test';

/** Where Debian's dataset-fashion-mnist package puts the full set. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The subset committed with the project (assets/fashion-mnist: 10,000 train, 2,000 test images). */
export function bundledFashionMnistDir(): string {
  // Compiled: dist/src/data/idx-dataset.js → <package root>/assets/fashion-mnist (three levels up);
  // run from the sources (src/data/idx-dataset.ts) it is two levels up.
  for (const up of ['../../../', '../../']) {
    const dir = fileURLToPath(new URL(`${up}assets/fashion-mnist/`, import.meta.url));
    if (existsSync(join(dir, 'train-images-idx3-ubyte.gz'))) return dir;
  }
  return fileURLToPath(new URL('../../../assets/fashion-mnist/', import.meta.url));
}

function idxPrefix(split: IdxSplit): string {
  return split === 'train' ? 'train' : 't10k';
}

/** The path of `name` or `name.gz` in dir, or null. */
function findFile(dir: string, name: string): string | null {
  for (const f of [name, `${name}.gz`]) if (existsSync(join(dir, f))) return join(dir, f);
  return null;
}

/** The image and label files of a split in dir, or null when either is missing. */
export function findIdxPair(dir: string, split: IdxSplit): { images: string; labels: string } | null {
  const images = findFile(dir, `${idxPrefix(split)}-images-idx3-ubyte`);
  const labels = findFile(dir, `${idxPrefix(split)}-labels-idx1-ubyte`);
  return images && labels ? { images, labels } : null;
}

/**
 * The directory holding the full Fashion-MNIST (all four files), looked up in order: `dir` if
 * given, $FASHION_MNIST_DIR, the Debian package's directory. Null when none has it; the bundled
 * subset is not "the full dataset" and is not returned here.
 */
export function findFashionMnist(dir?: string): string | null {
  const candidates = [dir, process.env.FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR];
  for (const d of candidates) {
    if (d && findIdxPair(d, 'train') && findIdxPair(d, 'test')) return d;
  }
  return null;
}

/** An IDX image file [n, h, w] with its label file [n], as a 1-channel dataset. */
export function openIdxPair(imagesPath: string, labelsPath: string, classes: string[]): ArrayDataset {
  return idxDataset(readFileSync(imagesPath), readFileSync(labelsPath), classes, { images: imagesPath, labels: labelsPath });
}

function openIdxDir(dir: string, split: IdxSplit, classes: string[], what: string): ArrayDataset {
  const pair = findIdxPair(dir, split);
  if (!pair) {
    const p = idxPrefix(split);
    throw new Error(`${what} ${split} files not found in ${dir}: need ${p}-images-idx3-ubyte[.gz] and ${p}-labels-idx1-ubyte[.gz]`);
  }
  return openIdxPair(pair.images, pair.labels, classes);
}

/** Fashion-MNIST from dir; default: the bundled subset. */
export function openFashionMnist(split: IdxSplit, dir: string = bundledFashionMnistDir()): ArrayDataset {
  return openIdxDir(dir, split, FASHION_MNIST_CLASSES, 'Fashion-MNIST');
}

export function openMnist(dir: string, split: IdxSplit): ArrayDataset {
  return openIdxDir(dir, split, MNIST_CLASSES, 'MNIST');
}
