// The training loop on a tiny problem (ResNet-20 at width 4, 8×8 one-channel images, reference
// kernels): a run stopped and resumed ends bit for bit where an uninterrupted run does; a NaN loss
// stops the run and keeps the last good checkpoint; the log and the weights file say what they should.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { loadNet, readWeights } from '../src/models/weights.js';
import { readTrainedMetadata } from '../src/eval/metadata.js';
import { evaluate } from '../src/eval/evaluate.js';
import { type DataSplits } from '../src/train/data.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { TrainingDiverged, type TrainConfig, train } from '../src/train/loop.js';
import { countWrong } from '../src/eval/scores.js';
import { type LogRecord, readLog } from '../src/train/progress.js';
import { CIFAR_PAPER, ConfigError, applyOverrides } from '../src/train/recipe.js';
import { assertSameTensors, tinySet } from './train-fixtures.js';

const kernels = refKernels as KernelSet;

const trainFull = tinySet(48, 1);
const data: DataSplits = { name: 'tiny', dir: '(memory)', trainFull, test: tinySet(16, 2), val: null };

function config(outDir: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  // 40 training images (8 held out), batch 8: 5 steps an epoch; 12 steps; lr ÷10 at 6 and 9.
  const recipe = applyOverrides(CIFAR_PAPER, { batchSize: 8, iterations: 12, validation: { count: 8 } });
  return {
    net: 'resnet20', netOptions: { width: 4 }, data, recipe, outDir, kernels, seed: 3, logEvery: 2, checkpointEvery: 4,
    progress: 'none', ...extra,
  };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'resnet-train-'));

/** Log records without what depends on the clock or on the session. */
function comparable(log: LogRecord[]): LogRecord[] {
  return log
    .filter((r) => !['start', 'resume', 'stopped', 'interrupted'].includes(r.type))
    .map(({ time, imagesPerSecond, ...rest }) => (void time, void imagesPerSecond, rest));
}

describe('training loop', () => {
  it('stopped after 5 of 12 steps and resumed, ends with exactly the weights, momentum and log of an uninterrupted run', async () => {
    const whole = tmp();
    const parts = tmp();
    const a = await train(config(whole));
    assert.equal(a.status, 'completed');
    assert.equal(a.iteration, 12);

    const stopped = await train(config(parts, { stopAfter: 5, worker: false }));
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.modelPath, null);
    const ck = readCheckpoint(join(parts, 'checkpoint.safetensors'));
    assert.equal(ck.iteration, 5);
    assert.deepEqual(ck.loader, { epoch: 1, batchIndex: 0 });
    assert.equal(ck.momentum.filter((m) => m !== null).length, 59, 'a momentum buffer for every parameter of ResNet-20');

    // The resumed run takes net, recipe, data and seed from the checkpoint, not from its arguments.
    const resumed = await train({ ...config(parts, { worker: false }), seed: 999, net: 'resnet56', resume: true });
    assert.equal(resumed.status, 'completed');
    assert.equal(resumed.iteration, 12);

    const n = assertSameTensors(join(whole, 'model.safetensors'), join(parts, 'model.safetensors'));
    assert.equal(n, 3 * 19 + 2 + 2 * 19 + 19, 'weights, BN statistics and batch counters of ResNet-20');
    assertSameTensors(join(whole, 'checkpoint.safetensors'), join(parts, 'checkpoint.safetensors'));
    const la = readLog(a.logPath);
    const lb = readLog(resumed.logPath);
    assert.deepEqual(comparable(lb), comparable(la));
    assert.ok(lb.some((r) => r.type === 'resume' && r.iteration === 5));
    assert.ok(la.some((r) => r.type === 'lr' && r.iteration === 6 && r.reason === 'milestone'));
  });

  it('the log has a record per logged step and per epoch, and the weights carry their preprocessing', async () => {
    const dir = tmp();
    const r = await train(config(dir));
    const log = readLog(r.logPath);
    const steps = log.filter((x) => x.type === 'step');
    assert.deepEqual(steps.map((x) => x.iteration), [2, 4, 6, 8, 10, 12]);
    for (const s of steps) {
      for (const key of ['loss', 'error', 'lr', 'time', 'imagesPerSecond']) assert.equal(typeof s[key], 'number', `step.${key}`);
    }
    assert.deepEqual(steps.map((s) => s.lr), [0.1, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]); // ÷10 from steps 7 and 10
    const epochs = log.filter((x) => x.type === 'epoch');
    assert.deepEqual(epochs.map((x) => x.iteration), [5, 10]);
    for (const e of epochs) {
      for (const key of ['trainLoss', 'trainError', 'valError', 'valLoss', 'lr', 'time', 'imagesPerSecond']) assert.equal(typeof e[key], 'number', `epoch.${key}`);
    }
    const end = log.at(-1)!;
    assert.equal(end.type, 'end');
    assert.equal(end.testError, r.test!.top1Error);

    // model.safetensors loads with the strict loader and says how to preprocess, exactly.
    const file = readWeights(r.modelPath!);
    const meta = readTrainedMetadata(file.metadata);
    assert.equal(meta.normalization?.kind, 'meanImage');
    const mean = (meta.normalization as { mean: Float32Array }).mean;
    assert.equal(mean.length, 64);
    const first40 = trainFull.images.subarray(0, 40 * 64);
    const expect0 = Array.from({ length: 40 }, (_, i) => first40[i * 64] / 255).reduce((x, y) => x + y) / 40;
    assert.ok(Math.abs(mean[0] - expect0) < 1e-6, 'the mean image is over the 40 training images, not the held-out 8');
    assert.equal(meta.data?.channels, 1);
    assert.deepEqual(meta.data?.validation, { count: 8 });
    assert.equal((meta.metrics as { test: { top1Error: number } }).test.top1Error, r.test!.top1Error);
    const net = loadNet(r.modelPath!, undefined, { kernels });
    const again = await evaluate(net, data.test!, { kernels, norm: meta.normalization! });
    assert.equal(again.top1Error, r.test!.top1Error);
    assert.ok(r.test!.top1Error < 0.75, `12 steps learn something (test error ${r.test!.top1Error})`);
  });

  it('a NaN loss stops the run with TrainingDiverged, keeps the last good checkpoint and writes no model', async () => {
    const dir = tmp();
    const recipe = applyOverrides(CIFAR_PAPER, { batchSize: 8, iterations: 12, validation: { count: 8 }, lr: 1e30 });
    await assert.rejects(train(config(dir, { recipe, checkpointEvery: 1 })), (e: unknown) => {
      assert.ok(e instanceof TrainingDiverged);
      assert.match(e.message, /diverged/);
      assert.ok(e.iteration >= 1 && e.iteration < 12);
      return true;
    });
    assert.ok(!existsSync(join(dir, 'model.safetensors')));
    const ck = readCheckpoint(join(dir, 'checkpoint.safetensors'));
    for (const [k, t] of ck.model) assert.ok(t.data.every(Number.isFinite), `${k} in the kept checkpoint is finite`);
    const log = readLog(join(dir, 'log.jsonl'));
    const last = log.at(-1)!;
    assert.equal(last.type, 'diverged');
    assert.ok(ck.iteration <= last.iteration!);
  });

  it('refuses to start over a run unless told to overwrite', async () => {
    const dir = tmp();
    await train(config(dir, { stopAfter: 1, worker: false }));
    await assert.rejects(train(config(dir)), /already holds a run.*\bresume\b/);
    const r = await train(config(dir, { overwrite: true, stopAfter: 1, worker: false }));
    assert.equal(r.iteration, 1);
  });

  it('a command with a mistake does not replace the run it was told to overwrite', async () => {
    const dir = tmp();
    await train(config(dir, { stopAfter: 1, worker: false }));
    const before = readFileSync(join(dir, 'checkpoint.safetensors'));
    await assert.rejects(train(config(dir, { overwrite: true, net: 'resnet7' as TrainConfig['net'], worker: false })), /unknown network 'resnet7'/);
    await assert.rejects(train(config(dir, { overwrite: true, imageSize: 5, worker: false })), (e: Error) => e instanceof ConfigError && e.option.includes('imageSize'));
    assert.deepEqual(readFileSync(join(dir, 'checkpoint.safetensors')), before);
    assert.ok(existsSync(join(dir, 'log.jsonl')));
  });

  it('an abort signal ends the run after the current step, with a checkpoint', async () => {
    const dir = tmp();
    const controller = new AbortController();
    controller.abort();
    const r = await train(config(dir, { signal: controller.signal, worker: false }));
    assert.equal(r.status, 'interrupted');
    assert.equal(readCheckpoint(r.checkpointPath).iteration, 0);
  });

  it('the CIFAR recipe warms up ResNet-110 as the paper does, and not ResNet-20', async () => {
    const warmups = [];
    for (const net of ['resnet110', 'resnet20'] as const) {
      const r = await train(config(tmp(), { net, stopAfter: 0, worker: false }));
      warmups.push(readCheckpoint(r.checkpointPath).recipe.warmup);
    }
    assert.deepEqual(warmups, [{ lr: 0.01, untilTrainError: 0.8, window: 20 }, null]);
  });

  it('the plateau schedule needs validation images', async () => {
    const recipe = applyOverrides(CIFAR_PAPER, { batchSize: 8, iterations: 4, validation: { count: 0 }, patience: 2 });
    await assert.rejects(train(config(tmp(), { recipe })), /plateau schedule .* no validation images: hold some out with validation: N,/);
  });

  it('countWrong counts rows whose arg-max is not the label', () => {
    assert.equal(countWrong([1, 2, 0, 5, 0, 0, 3, 3, 3], [1, 0, 2], 3), 1); // row 2: tie, first wins (0)
  });
});
