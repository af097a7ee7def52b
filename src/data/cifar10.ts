// CIFAR-10 from a directory of the binary version: data_batch_1.bin .. data_batch_5.bin,
// test_batch.bin, batches.meta.txt (class names, one a line). The directory may also be the one
// that holds the archive's `cifar-10-batches-bin/` folder.
//
// The paper (Sec. 4.2) trains on 45k images and validates on 5k. `split: 'train45k' | 'val5k'`
// gives that split; which 5k is chosen by `valSplit`:
//   'last'   (default) the last 5,000 training images (the second half of data_batch_5.bin):
//            no randomness, the same split everywhere, memory shared with the full set;
//   {seed}   a seeded random 5,000 (Rng(seed).permutation(50000), last 5,000 of it), for repeats.
// The paper's final Table 6 numbers train on all 50k ('train') and test on 'test'.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCifarBatch, CIFAR_IMAGE_BYTES } from '../io/cifar.js';
import { LibraryError } from '../io/errors.js';
import { ArrayDataset, SubsetDataset, sharedBytes, type Dataset } from './dataset.js';
import { Rng } from './rng.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_VAL_SIZE = 5000;

export type CifarSplit = 'train' | 'train45k' | 'val5k' | 'test';

export interface Cifar10Options {
  split: CifarSplit;
  valSplit?: 'last' | { seed: number };
}

/** The directory that actually holds the .bin files (`dir` or `dir/cifar-10-batches-bin`), or null. */
export function findCifar10Dir(dir: string): string | null {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if ([...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].every((f) => existsSync(join(d, f)))) return d;
  }
  return null;
}

/** Where to put the CIFAR-10 files (a message for a download that failed). */
export function missingCifar10Message(dir: string): string {
  return (
    `CIFAR-10 binary files not found in ${dir}. Put ${CIFAR10_TRAIN_FILES.join(', ')}, ${CIFAR10_TEST_FILE} ` +
    `and batches.meta.txt there (extract https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, ` +
    `e.g. \`tar xzf cifar-10-binary.tar.gz --strip-components=1 -C ${dir}\`)`
  );
}

/** The error for CIFAR-10 missing from `dir`: where to put the files, or to download them. */
export function missingCifar10(dir: string): LibraryError {
  return new LibraryError((n) => `${missingCifar10Message(dir)}, or download them with ${n.call('downloadCifar10', dir)} where the network allows.`);
}

function readClassNames(dir: string): string[] {
  const meta = join(dir, 'batches.meta.txt');
  if (!existsSync(meta)) return CIFAR10_CLASSES;
  const names = readFileSync(meta, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 10) throw new Error(`${meta}: expected 10 class names, found ${names.length}`);
  return names;
}

/** Reads the given batch files into one shared-memory dataset. */
function readBatches(dir: string, files: string[], classes: string[]): ArrayDataset {
  const batches = files.map((f) => readCifarBatch(readFileSync(join(dir, f)), join(dir, f)));
  const n = batches.reduce((a, b) => a + b.labels.length, 0);
  const images = sharedBytes(n * CIFAR_IMAGE_BYTES); // [n, 3, 32, 32]
  const labels = sharedBytes(n); // [n]
  let at = 0;
  for (const b of batches) {
    images.set(b.images, at * CIFAR_IMAGE_BYTES);
    labels.set(b.labels, at);
    at += b.labels.length;
  }
  return new ArrayDataset(images, labels, 3, 32, 32, classes);
}

export function openCifar10(dir: string, options: Cifar10Options): Dataset {
  const found = findCifar10Dir(dir);
  if (!found) throw missingCifar10(dir);
  const classes = readClassNames(found);
  if (options.split === 'test') return readBatches(found, [CIFAR10_TEST_FILE], classes);
  const train = readBatches(found, CIFAR10_TRAIN_FILES, classes);
  if (options.split === 'train') return train;
  return splitTrainVal(train, options.split, options.valSplit ?? 'last');
}

/** The paper's 45k/5k split of a 50k training set (see the header comment). */
export function splitTrainVal(train: ArrayDataset, which: 'train45k' | 'val5k', valSplit: 'last' | { seed: number }): Dataset {
  const nTrain = train.size - CIFAR10_VAL_SIZE;
  if (nTrain <= 0) throw new Error(`splitTrainVal: ${train.size} training images, need more than ${CIFAR10_VAL_SIZE}`);
  if (valSplit === 'last') return which === 'train45k' ? train.slice(0, nTrain) : train.slice(nTrain, train.size);
  const perm = new Rng(valSplit.seed).permutation(train.size);
  const part = which === 'train45k' ? perm.subarray(0, nTrain) : perm.subarray(nTrain);
  return new SubsetDataset(train, part.slice().sort());
}
