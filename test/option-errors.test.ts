// The library's errors name the options of the call (`microBatch`, `setReadLimits`) and list them
// in `option`; the `resnet` command prints the same errors with its flags (`--micro-batch`,
// `--read-limit`), rendered in one place (cli/command.ts errorMessage, cli/option-flags.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../src/cli/run.js';
import { errorMessage } from '../src/cli/command.js';
import { OPTION_FLAGS } from '../src/cli/option-flags.js';
import { missingCifar10 } from '../src/data/cifar10.js';
import { LibraryError, LimitError } from '../src/io/errors.js';
import { checkLimit, readLimits } from '../src/io/limits.js';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { createNet } from '../src/models/resnet.js';
import { SGD } from '../src/optim/sgd.js';
import { fitImageFolder, openData } from '../src/train/data.js';
import { CIFAR_PAPER, ConfigError, applyOverrides } from '../src/train/recipe.js';
import { sgdStep } from '../src/train/step.js';
import { runResnet } from './run-resnet.js';

/** The error `fn` throws (or its promise rejects with). */
async function caught(fn: () => unknown): Promise<LibraryError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof LibraryError, `a LibraryError, got ${String(e)}`);
    return e;
  }
  throw new Error('nothing was thrown');
}

/** The library's message names no flag; the CLI's names each of `flags`. */
function namesFlagsOnlyInCli(e: LibraryError, flags: string[]): void {
  assert.doesNotMatch(e.message, /--[a-z]/, e.message);
  const cli = errorMessage(e);
  for (const flag of flags) assert.ok(cli.includes(flag), `'${flag}' in: ${cli}`);
}

describe('errors name options, not flags', () => {
  it('a recipe override the recipe cannot take: ConfigError with the overrides named', async () => {
    const both = await caught(() => applyOverrides(CIFAR_PAPER, { iterations: 10, epochs: 2 }));
    assert.ok(both instanceof ConfigError);
    assert.equal(both.message, 'give iterations or epochs, not both');
    assert.deepEqual(both.option, ['iterations', 'epochs']);
    namesFlagsOnlyInCli(both, ['give --iterations or --epochs, not both']);

    const lighting = await caught(() => applyOverrides(CIFAR_PAPER, { lightingStd: 0.1 }));
    assert.deepEqual(lighting.option, ['lightingStd']);
    assert.match(lighting.message, /^lightingStd applies to the imagenet-paper scale augmentation only$/);
    namesFlagsOnlyInCli(lighting, ['--lighting applies']);
  });

  it('an image size for data of one size names imageSize', async () => {
    const e = await caught(() => fitImageFolder(openData('fashion-mnist-sample'), { net: 'resnet20' }, 16));
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.option, ['imageSize']);
    assert.match(e.message, /^imageSize applies to image folders \(folder:PATH\); fashion-mnist-sample has images of one size$/);
    namesFlagsOnlyInCli(e, ['--image-size applies to image folders']);
  });

  it('an over-limit file names the read limit and setReadLimits; the CLI names --read-limit', async () => {
    const e = await caught(() => checkLimit('f.npy', 'the rank', 9, readLimits({ maxRank: 4 }), 'maxRank'));
    assert.ok(e instanceof LimitError);
    assert.deepEqual(e.option, ['maxRank']);
    assert.match(e.message, /over the limit 4 \(maxRank\); if the file is genuine, raise the limit: setReadLimits\(\{ maxRank: N \}\)$/);
    namesFlagsOnlyInCli(e, ['raise the limit: --read-limit maxRank=N']);
  });

  it('out of memory in a training step names microBatch and batchSize', async () => {
    const kernels = refKernels as KernelSet;
    const net = createNet('resnet20', { width: 4, kernels });
    net.forward = () => {
      throw new Error('wasm kernels: out of memory (4 GiB) allocating 123 bytes');
    };
    const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0 });
    const batch = { x: new Float32Array(2 * 3 * 8 * 8), labels: new Int32Array(2), n: 2, channels: 3, height: 8, width: 8 };
    const e = await caught(() => sgdStep(net, opt, batch));
    assert.deepEqual(e.option, ['microBatch', 'batchSize']);
    assert.match(e.message, /with 2 images per pass: lower microBatch \(or batchSize\) .*; microBatch: 'auto' \(the default\)/);
    namesFlagsOnlyInCli(e, ['lower --micro-batch (or --batch-size)', '--micro-batch auto (the default)']);
  });

  it('a missing CIFAR-10 names downloadCifar10; the CLI names `resnet data get cifar10`', async () => {
    const e = missingCifar10('data/c10');
    assert.deepEqual(e.option, []);
    assert.match(e.message, /or download them with downloadCifar10\('data\/c10'\) where the network allows\.$/);
    assert.match(errorMessage(e), /or download them with `resnet data get cifar10 --dir data\/c10` where the network allows\.$/);
  });

  it('every flag of the table is a flag of some command', () => {
    const usage = COMMANDS.map((c) => c.usage).join('\n');
    for (const [option, flag] of Object.entries(OPTION_FLAGS)) assert.ok(usage.includes(flag), `${option} → ${flag}`);
  });

  it('the command prints the library error with its flags (exit code 2 for a ConfigError)', () => {
    const r = runResnet(['train', '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--lighting', '0.1', '--backend', 'ref']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^resnet train: --lighting applies to the imagenet-paper scale augmentation only\n/);
  });
});
