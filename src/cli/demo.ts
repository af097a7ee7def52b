// `resnet demo` (npm run demo): ResNet-20 trained on the bundled Fashion-MNIST sample with the
// paper's CIFAR recipe shortened to a few epochs, then tested on the sample's test part.
// Needs no download; made to finish in under 5 minutes on two cores with the wasm kernels.

import { formatDuration } from '../train/progress.js';
import { type Command, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE } from './net-flags.js';
import { exitInterrupted, trainFromFlags } from './train.js';

/**
 * The demo's shortening of the CIFAR recipe, tuned on this project's 2-core machine with the wasm
 * kernels (docs/results/fashion-mnist.md has the runs): 4 epochs take 3:12 and reach 87.6% on an
 * idle machine (3 epochs: 2:30 and 85.9%). So few training images (40,000) are too few for the
 * crop/flip augmentation to pay off (it slows early training and helps long runs), and batch 32
 * gives four times the SGD steps of batch 128 at nearly the same images/s.
 */
export const DEMO_EPOCHS = 4;
export const DEMO_BATCH = 32;
export const DEMO_LR = 0.05;
export const DEMO_OUT = 'runs/demo';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'train ResNet-20 on the bundled Fashion-MNIST sample and test it (a few minutes, no download)',
  usage: `Usage: resnet demo [--epochs N] [--out DIR] [--seed N] [--backend ref|wasm] [--threads N]

Trains ResNet-20 (1 input channel, option A shortcuts) on the 10,000 training images of the bundled
Fashion-MNIST sample with the paper's CIFAR recipe shortened to ${DEMO_EPOCHS} epochs: SGD lr ${DEMO_LR}, momentum
0.9, weight decay 1e-4, lr ÷10 at 50% and 75% of the run, per-pixel mean subtracted; for so short a
run, batch ${DEMO_BATCH} instead of 128 (more steps) and no crop/flip augmentation (it pays off only in
long runs). Then tests it on the sample's 2,000 test images and prints a summary. It runs
  resnet train --net resnet20 --data fashion-mnist-sample --epochs ${DEMO_EPOCHS} --batch-size ${DEMO_BATCH} \
    --lr ${DEMO_LR} --no-augment --val 0 --out ${DEMO_OUT} --overwrite

  --epochs N             passes over the training images (default ${DEMO_EPOCHS})
  --out DIR              where the log and weights go (default ${DEMO_OUT}; a previous demo there is replaced)
  --seed N               seed of initialization, shuffling and augmentation (default 0)
  --progress bar|lines|none

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...BACKEND_FLAGS, epochs: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, progress: { type: 'string' },
    });
    const epochs = values.epochs ?? String(DEMO_EPOCHS);
    const passed = (['seed', 'progress', 'backend', 'threads'] as const).flatMap((flag) => (values[flag] === undefined ? [] : [`--${flag}`, values[flag]!]));
    const started = performance.now();
    const result = await trainFromFlags([
      '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--epochs', epochs, '--batch-size', String(DEMO_BATCH),
      '--lr', String(DEMO_LR), '--no-augment', '--val', '0', '--out', values.out ?? DEMO_OUT, '--overwrite', ...passed,
    ]);
    if (result.status !== 'completed') {
      exitInterrupted();
      return;
    }
    const wall = (performance.now() - started) / 1000;
    const t = result.test;
    if (!t) throw new Error('the sample has no test part');
    console.log(`
ResNet-20 on the Fashion-MNIST sample (${result.net.fc.weight.kernels.name} kernels)
  trained      ${result.iteration} iterations (${epochs} epochs of 10,000 images, batch ${DEMO_BATCH}) at ${result.imagesPerSecond.toFixed(0)} images/s
  train error  ${(100 * (result.trainError ?? NaN)).toFixed(2)}% (last epoch, while training)
  test error   ${(100 * t.top1Error).toFixed(2)}%  → accuracy ${(100 * (1 - t.top1Error)).toFixed(2)}% on ${t.images} test images
  time         ${formatDuration(wall)} in all (${result.seconds.toFixed(0)} s training and testing)
  log          ${result.logPath}
  weights      ${result.modelPath}
  evaluate again:  resnet eval --weights ${result.modelPath}`);
  },
};
