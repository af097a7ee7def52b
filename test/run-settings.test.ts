// What a run keeps beside its recipe (issue 12 item 4, issue 13 item 4): --log-every,
// --checkpoint-every, --no-test and --micro-batch are stored in the checkpoint and restored on
// resume, a change given on resume is applied and recorded; leftover temporary files are removed;
// a run that stopped before its first checkpoint starts again without --overwrite; micro-batched
// runs stopped and resumed end bit for bit as uninterrupted ones, on both kernel sets.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelSet } from '../src/kernels/contract.js';
import { refKernels } from '../src/kernels/ref/index.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import type { DataSplits } from '../src/train/data.js';
import { type TrainConfig, train } from '../src/train/loop.js';
import { readLog } from '../src/train/progress.js';
import { CIFAR_PAPER, applyOverrides } from '../src/train/recipe.js';
import { resolveSettings } from '../src/train/run-settings.js';
import { REFERENCE, kernelSet } from './kernel-sets.js';
import { assertSameTensors, tinySet } from './train-fixtures.js';

const data: DataSplits = { name: 'tiny', dir: '(memory)', trainFull: tinySet(48, 1), test: tinySet(16, 2), val: null };
const tmp = () => mkdtempSync(join(tmpdir(), 'resnet-settings-'));

function config(outDir: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  // 40 training images (8 held out), batch 8: 5 steps an epoch; 10 steps.
  const recipe = applyOverrides(CIFAR_PAPER, { batchSize: 8, iterations: 10, validation: { count: 8 } });
  return {
    net: 'resnet20', netOptions: { width: 4 }, data, recipe, outDir, kernels: refKernels as KernelSet, seed: 3, progress: 'none',
    worker: false, ...extra,
  };
}

describe('run settings', () => {
  it('are kept in the checkpoint and restored on resume; a change given on resume is applied and logged', async () => {
    const dir = tmp();
    await train(config(dir, { logEvery: 3, checkpointEvery: 2, test: false, microBatch: 4, stopAfter: 5 }));
    assert.deepEqual(readCheckpoint(join(dir, 'checkpoint.safetensors')).settings, { logEvery: 3, checkpointEvery: 2, test: false, microBatch: 4 });

    // No flags, or --micro-batch auto (the flag's default): the stored settings, not a new automatic choice.
    const resumed = await train(config(dir, { resume: true, stopAfter: 2, microBatch: 'auto' }));
    assert.equal(resumed.iteration, 7);
    const steps = readLog(resumed.logPath).filter((r) => r.type === 'step').map((r) => r.iteration);
    assert.deepEqual(steps, [3, 6]);
    assert.deepEqual(readCheckpoint(join(dir, 'checkpoint.safetensors')).settings, { logEvery: 3, checkpointEvery: 2, test: false, microBatch: 4 });

    const changed = await train(config(dir, { resume: true, logEvery: 1 }));
    assert.equal(changed.status, 'completed');
    assert.equal(changed.test, null, '--no-test was kept');
    const log = readLog(changed.logPath);
    assert.deepEqual(log.find((r) => r.type === 'settings'), { type: 'settings', iteration: 7, changed: { logEvery: { from: 3, to: 1 } } });
    assert.deepEqual(log.filter((r) => r.type === 'step' && r.iteration! > 7).map((r) => r.iteration), [8, 9, 10]);
    assert.equal(readCheckpoint(join(dir, 'checkpoint.safetensors')).settings!.logEvery, 1);
  });

  it('resolve: stored ones win over the defaults, given ones over both, and only a real change is reported', () => {
    const defaults = { logEvery: 50, checkpointEvery: 100, test: true, microBatch: 128 };
    assert.deepEqual(resolveSettings(undefined, { logEvery: 5 }, defaults), { settings: { ...defaults, logEvery: 5 }, changes: [] });
    const stored = { logEvery: 5, checkpointEvery: 10, test: false, microBatch: 32 };
    assert.deepEqual(resolveSettings(stored, {}, defaults).settings, stored);
    const r = resolveSettings(stored, { logEvery: 5, microBatch: 16 }, defaults);
    assert.deepEqual(r.changes, [{ key: 'microBatch', flag: '--micro-batch', from: 32, to: 16 }]);
  });

  it('leftover temporary files of a killed write are removed on the next start; a live writer\'s are kept', async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const dead = join(dir, 'checkpoint.safetensors.tmp-999999999');
    const live = join(dir, `checkpoint.safetensors.tmp-${process.ppid}`);
    const other = join(dir, 'notes.txt.tmp-999999999');
    for (const f of [dead, live, other]) writeFileSync(f, 'partial');
    await train(config(dir, { stopAfter: 1 }));
    assert.equal(existsSync(dead), false);
    assert.equal(existsSync(live), true);
    assert.equal(existsSync(other), true, 'only the run\'s own files');
  });

  it('a run that stopped before its first checkpoint is started again without --overwrite', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'log.jsonl'), `${JSON.stringify({ type: 'start', iteration: 0 })}\n`);
    await assert.rejects(train(config(dir, { resume: true })), /nothing to resume: the run in .* stopped before its first checkpoint; start it again \(without resume\)/);
    const r = await train(config(dir, { stopAfter: 1 }));
    assert.equal(r.status, 'stopped');
    assert.equal(readLog(r.logPath).filter((x) => x.type === 'start').length, 1, 'the old log is replaced');
    await assert.rejects(train(config(dir)), /already holds a run: continue it with resume: '[^']+', replace it with overwrite, or choose another outDir/);
  });
});

describe('micro-batched runs', async () => {
  for (const kernels of [REFERENCE, await kernelSet('wasm, 2 threads')] as KernelSet[]) {
    it(`stopped and resumed end bit for bit as an uninterrupted run (${kernels.name})`, async () => {
      const whole = tmp();
      const parts = tmp();
      const a = await train(config(whole, { kernels, microBatch: 3, test: false }));
      assert.equal(a.iteration, 10);
      await train(config(parts, { kernels, microBatch: 3, test: false, stopAfter: 4 }));
      const b = await train(config(parts, { kernels, resume: true }));
      assert.equal(b.iteration, 10);
      assertSameTensors(join(whole, 'model.safetensors'), join(parts, 'model.safetensors'));
      assertSameTensors(join(whole, 'checkpoint.safetensors'), join(parts, 'checkpoint.safetensors'));
      assert.ok(readLog(a.logPath).every((r) => r.type !== 'step' || Number.isFinite(r.loss)));
    });
  }
});
