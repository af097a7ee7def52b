// `resnet train`, `resnet eval` and `resnet data` as a user runs them: child processes on a tiny
// IDX dataset (ResNet-20 at width 4, 8×8 images, reference kernels). Ctrl-C is a real SIGINT.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeIdx } from '../src/io/idx.js';
import { readWeights } from '../src/models/weights.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { readLog } from '../src/train/progress.js';
import { Rng } from '../src/tensor/random.js';
import { MAIN, runResnet } from './run-resnet.js';

const root = mkdtempSync(join(tmpdir(), 'resnet-cli-train-'));
const dataDir = join(root, 'mnist');

function writeTinyIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(5);
  for (const [prefix, n] of [['train', 40], ['t10k', 12]] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
    const images = new Uint8Array(n * 64);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < 64; p++) images[i * 64 + p] = (Math.floor(p / 16) === labels[i] ? 150 : 0) + rng.int(100);
    }
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), writeIdx([n, 8, 8], images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), writeIdx([n], labels));
  }
}

const TINY = ['--net', 'resnet20', '--width', '4', '--data', 'mnist', '--data-dir', dataDir, '--batch-size', '8', '--backend', 'ref', '--val', '8'];

/** Longest a `resnet` run of these tests may take on a loaded 2-core machine: a hung command fails, it does not hang the suite. */
const CHILD_LIMIT_MS = 120_000;

const resnet = (args: string[]) => runResnet(args, CHILD_LIMIT_MS);

describe('resnet train / eval', () => {
  before(() => writeTinyIdx(dataDir));

  it('trains, writes log, checkpoint and weights; eval needs only --weights and agrees with the recorded test error', () => {
    const out = join(root, 'run');
    const r = resnet(['train', ...TINY, '--iterations', '6', '--out', out, '--log-every', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /test error [\d.]+%/);
    // stderr is not a terminal here: plain progress lines, one per logged step
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('iter ')).length, 3);
    for (const f of ['log.jsonl', 'checkpoint.safetensors', 'model.safetensors']) assert.ok(existsSync(join(out, f)), f);
    const log = readLog(join(out, 'log.jsonl'));
    assert.deepEqual(log.filter((x) => x.type === 'step').map((x) => x.iteration), [2, 4, 6]);
    const testError = log.at(-1)!.testError as number;

    const e = resnet(['eval', '--weights', join(out, 'model.safetensors'), '--json', '--backend', 'ref']);
    assert.equal(e.code, 0, e.stderr);
    const result = JSON.parse(e.stdout);
    assert.equal(result.top1Error, testError);
    assert.equal(result.images, 12);
    assert.equal(typeof result.top5Error, 'number', 'MNIST has 10 classes: top-5 is meaningful');
  });

  it('eval with 10 crops and multi-scale, and on the validation hold-out', () => {
    const w = join(root, 'run', 'model.safetensors');
    for (const extra of [['--crop', '10crop'], ['--crop', 'multiscale', '--sides', '8,12'], ['--split', 'val']]) {
      const e = resnet(['eval', '--weights', w, '--json', '--backend', 'ref', ...extra]);
      assert.equal(e.code, 0, e.stderr);
      const result = JSON.parse(e.stdout);
      assert.equal(result.images, extra[1] === 'val' ? 8 : 12);
      assert.ok(result.top1Error >= 0 && result.top1Error <= 1);
    }
    const bad = resnet(['eval', '--weights', w, '--crop', 'five']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--crop must be one of center, 10crop, multiscale/);
  });

  it('a NaN loss exits with code 1, says so, and keeps the last good checkpoint', () => {
    const out = join(root, 'nan');
    const r = resnet(['train', ...TINY, '--iterations', '20', '--lr', '1e30', '--checkpoint-every', '1', '--out', out]);
    assert.equal(r.code, 1);
    // caught at the loss, or at the checkpoint that would have saved non-finite weights
    assert.match(r.stderr, /training diverged: (the loss is (NaN|Infinity|-Infinity)|weights '.+' are no longer finite) at iteration \d+/);
    assert.match(r.stderr, /last good checkpoint \(iteration \d+\) is kept/);
    assert.ok(!existsSync(join(out, 'model.safetensors')));
    const ck = readCheckpoint(join(out, 'checkpoint.safetensors'));
    for (const [, t] of ck.model) assert.ok(t.data.every(Number.isFinite));
  });

  it('Ctrl-C (SIGINT) saves a checkpoint and exits with 130; --resume continues from it', async () => {
    const out = join(root, 'sigint');
    const child = spawn(process.execPath, [MAIN, 'train', ...TINY, '--iterations', '100000', '--out', out, '--log-every', '1']);
    let stderr = '';
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`no exit within ${CHILD_LIMIT_MS} ms of Ctrl-C; output:\n${stderr}`));
      }, CHILD_LIMIT_MS);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/iter 2\//.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted at iteration \d+\/100000; checkpoint saved in \S+checkpoint\.safetensors\nresume with `resnet train --resume /);
    const ck = readCheckpoint(join(out, 'checkpoint.safetensors'));
    assert.ok(ck.iteration >= 2 && ck.iteration < 100000);
    assert.equal(ck.loader.epoch * 4 + ck.loader.batchIndex, ck.iteration, '4 batches of 8 per epoch');
    assert.equal(readLog(join(out, 'log.jsonl')).at(-1)!.type, 'interrupted');

    const mixed = resnet(['train', '--resume', out, '--lr', '0.5']);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /does not take --lr/);
  });

  it('refuses an --out that holds a run, and bad flags, with usage errors', () => {
    const again = resnet(['train', ...TINY, '--iterations', '6', '--out', join(root, 'run')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a run: continue it with --resume \S+, replace it with --overwrite, or choose another --out/);
    const both = resnet(['train', ...TINY, '--iterations', '6', '--epochs', '2']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--iterations or --epochs/);
    const recipe = resnet(['train', ...TINY, '--recipe', 'mnist-paper']);
    assert.equal(recipe.code, 2);
    assert.match(recipe.stderr, /--recipe must be one of cifar-paper, imagenet-paper/);
    const size = resnet(['train', ...TINY, '--image-size', '16']);
    assert.equal(size.code, 2);
    assert.match(size.stderr, /--image-size applies to image folders \(folder:PATH\); mnist has images of one size/);
  });

  it('the final weights record the recipe with every override', () => {
    const out = join(root, 'overrides');
    const r = resnet(['train', ...TINY, '--epochs', '2', '--milestones', '3,6', '--momentum', '0.8', '--weight-decay', '5e-4',
      '--nesterov', '--warmup', '--seed', '4', '--out', out, '--no-test']);
    assert.equal(r.code, 0, r.stderr);
    const meta = readWeights(join(out, 'model.safetensors')).metadata;
    const recipe = JSON.parse(meta.recipe);
    assert.equal(recipe.batchSize, 8);
    assert.equal(recipe.epochs, 2);
    assert.deepEqual(recipe.schedule.milestones, { iterations: [3, 6] });
    assert.equal(recipe.momentum, 0.8);
    assert.equal(recipe.weightDecay, 5e-4);
    assert.equal(recipe.nesterov, true);
    assert.deepEqual(recipe.warmup, { lr: 0.01, untilTrainError: 0.8, window: 20 });
    assert.equal(meta.seed, '4');
    assert.equal(JSON.parse(meta.metrics).test, null);
    const log = readLog(join(out, 'log.jsonl'));
    assert.equal(log.filter((x) => x.type === 'epoch').length, 2);
  });
});

describe('recipe flags', () => {
  it('ResNet-110 and -1202 get the paper\'s warm-up with cifar-paper, unless --no-warmup', async () => {
    const { recipeFromFlags } = await import('../src/cli/train.js');
    const { ConfigError, chooseRecipe } = await import('../src/train/recipe.js');
    const recipe = (flags: Parameters<typeof recipeFromFlags>[0], net = 'resnet18') => chooseRecipe({ ...recipeFromFlags(flags), net }, null);
    const paper = { lr: 0.01, untilTrainError: 0.8, window: 20 };
    assert.deepEqual(recipe({}, 'resnet110').warmup, paper);
    assert.deepEqual(recipe({}, 'resnet1202').warmup, paper);
    assert.equal(recipe({ 'no-warmup': true }, 'resnet110').warmup, null);
    assert.equal(recipe({}, 'resnet56').warmup, null);
    assert.deepEqual(recipe({ warmup: true }, 'resnet56').warmup, paper);
    assert.throws(() => recipeFromFlags({ warmup: true, 'no-warmup': true }), /contradicts/);
    assert.throws(() => recipe({ lighting: '0.2' }), (e: Error) => e instanceof ConfigError && /^lightingStd applies to the imagenet-paper/.test(e.message));
    assert.throws(() => recipe({ iterations: '10', epochs: '2' }), (e: Error) => e instanceof ConfigError && /not both/.test(e.message));
    const r = recipe({ recipe: 'imagenet-paper', lr: '0.2', 'batch-size': '64', iterations: '1000', lighting: '0' });
    assert.deepEqual([r.lr, r.batchSize, r.iterations, r.epochs, r.schedule.kind], [0.2, 64, 1000, null, 'plateau']);
    assert.equal(r.augmentation.kind === 'scale' && r.augmentation.lightingStd, 0);
  });
});

describe('resnet data', () => {
  it('info lists where each dataset is looked for, and finds the bundled sample', () => {
    const r = resnet(['data', 'info', '--json', '--data-dir', dataDir]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; paths: string[]; found: string | null }[];
    assert.deepEqual(rows.map((x) => x.name), ['cifar10', 'fashion-mnist', 'fashion-mnist-sample', 'mnist', 'folder:PATH']);
    assert.ok(rows.find((x) => x.name === 'fashion-mnist-sample')!.found);
    assert.equal(rows.find((x) => x.name === 'mnist')!.found, dataDir);
    assert.equal(rows.find((x) => x.name === 'cifar10')!.paths[0], dataDir);
  });

  it('get knows cifar10 only', () => {
    const r = resnet(['data', 'get', 'imagenet']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cifar10/);
  });
});
