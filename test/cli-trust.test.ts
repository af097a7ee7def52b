// A command line people trust (issue 13, "What was met" item 6): flags checked with messages that
// say what is valid, negative values parsed, the closest known flag suggested, one exit-code
// convention, file errors that name the user's path, `resnet help CMD`, `--version`, a progress
// bar that fits the terminal, rounded numbers, and short runs whose milestones collapse.

import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closest, errorMessage, intFlag, numberFlag, parseFlags, UsageError } from '../src/cli/command.js';
import { capThreads } from '../src/cli/net-flags.js';
import { runCli } from '../src/cli/run.js';
import { createNet } from '../src/models/resnet.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { saveWeights } from '../src/models/weights.js';
import { Schedule } from '../src/optim/schedule.js';
import { formatBar, formatValue, Progress } from '../src/train/progress.js';
import { CIFAR_PAPER, milestonesAt, scheduleSpec } from '../src/train/recipe.js';
import { runResnet } from './run-resnet.js';

const PACKAGE = fileURLToPath(new URL('../../package.json', import.meta.url));

function resnet(...args: string[]) {
  const r = runResnet(args, 60_000);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** `resnet ARGS…` in this process (most of a child process's time is spent starting it). */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const mocks = [
    mock.method(console, 'log', (...a: unknown[]) => { out += `${a.join(' ')}\n`; }),
    mock.method(console, 'error', (...a: unknown[]) => { err += `${a.join(' ')}\n`; }),
    mock.method(console, 'warn', (...a: unknown[]) => { err += `${a.join(' ')}\n`; }),
  ];
  try {
    return { code: await runCli(args), out, err };
  } finally {
    for (const m of mocks) m.mock.restore();
  }
}

async function cliAll(runs: string[][]): Promise<{ code: number; out: string; err: string }[]> {
  const results = [];
  for (const args of runs) results.push(await cli(...args));
  return results;
}

describe('flags', () => {
  const options = { epochs: { type: 'string' }, 'batch-size': { type: 'string' }, json: { type: 'boolean' } } as const;

  it('a negative value is parsed as the value and refused by its check, in one line that says what is valid', () => {
    assert.equal(parseFlags(['--epochs', '-1'], options).values.epochs, '-1');
    const r = resnet('train', '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--epochs', '-1');
    assert.equal(r.code, 2);
    assert.match(r.err, /^resnet train: --epochs must be a number > 0, got '-1'\n/);
    assert.doesNotMatch(r.err, /ambiguous|To specify an option argument/);
  });

  it('every numeric check names the flag, the value given and what is valid', async () => {
    assert.throws(() => intFlag('2.5', '--batch-size', 0), /--batch-size must be a whole number ≥ 1, got '2\.5'/);
    assert.throws(() => intFlag('-3', '--seed', 0, { min: 0 }), /--seed must be a whole number ≥ 0, got '-3'/);
    assert.throws(() => numberFlag('1', '--momentum', { min: 0, max: 1, maxOpen: true }), /--momentum must be a number ≥ 0 and < 1, got '1'/);
    assert.throws(() => numberFlag('abc', '--lr', { min: 0 }), /--lr must be a number ≥ 0, got 'abc'/);
    assert.equal(numberFlag('-0.5', '--x', {}), -0.5);
    assert.equal(intFlag(undefined, '--top', 5), 5);
    const r = await cli('train', '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--momentum', '1.5');
    assert.equal(r.code, 2);
    assert.match(r.err, /--momentum must be a number ≥ 0 and < 1, got '1\.5'/);
    const [port, seed, size] = await cliAll([['serve', '--port', '65536'], ['experiment', 'shortcuts', '--seed', '-1'],
      ['train', '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--image-size', '12.5']]);
    assert.deepEqual([port!.code, seed!.code, size!.code], [2, 2, 2]);
    assert.match(port!.err, /--port must be a whole number ≥ 0 and ≤ 65535, got '65536'/);
    assert.match(seed!.err, /--seed must be a whole number ≥ 0, got '-1'/);
    assert.match(size!.err, /--image-size must be a whole number, got '12\.5'/);
  });

  it('an unknown flag suggests the closest known one (--batch against --batch-size and back)', async () => {
    assert.throws(() => parseFlags(['--batch', '8'], options), (e: Error) => e instanceof UsageError && /unknown option '--batch'; did you mean --batch-size\?/.test(e.message));
    assert.throws(() => parseFlags(['--epoch', '8'], options), /did you mean --epochs\?/);
    assert.throws(() => parseFlags(['--zzzzzz'], options), (e: Error) => !/did you mean/.test(e.message));
    assert.equal(closest('jsno', ['json', 'epochs']), 'json');
    const [exp, ev, cmd] = await cliAll([
      ['export', '--weights', 'w.safetensors', '--onnx', 'x.onnx', '--batch-size', '3'], ['eval', '--weights', 'w.safetensors', '--batch', '3'], ['evl'],
    ]);
    assert.equal(exp!.code, 2);
    assert.match(exp!.err, /unknown option '--batch-size'; did you mean --batch\?/);
    assert.match(ev!.err, /unknown option '--batch'; did you mean --batch-size\?/);
    assert.equal(cmd!.code, 2);
    assert.match(cmd!.err, /unknown command 'evl'; did you mean 'eval'\?/);
  });

  it('a flag without its value, and a value without its flag, are named', () => {
    assert.throws(() => parseFlags(['--epochs'], options), /--epochs needs a value/);
    assert.throws(() => parseFlags(['--epochs', '--json'], options), /--epochs needs a value/);
    assert.throws(() => parseFlags(['--json=yes'], options), /--json takes no value/);
    assert.throws(() => parseFlags(['12'], options), /unexpected argument '12'/);
  });

  it('--threads above the cores is capped to them with a warning', async () => {
    assert.deepEqual(capThreads(2, 4), { threads: 2, warning: null });
    const capped = capThreads(100, 2);
    assert.equal(capped.threads, 2);
    assert.match(capped.warning!, /--threads 100 is more than the 2 cores here; using 2/);
    const r = await cli('train', '--threads', '100000');
    assert.match(r.err, /--threads 100000 is more than the \d+ cores here/);
  });
});

describe('exit codes and messages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-trust-'));
  const weights = join(dir, 'w.safetensors');
  saveWeights(weights, createNet('resnet20', { width: 4, classes: 3, seed: 1 }));
  const missing = join(dir, 'missing.safetensors');

  it('a missing file is a failure (1) in every command, and the message names it in words', async () => {
    const runs = await cliAll([
      ['forward', '--weights', missing, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref'],
      ['predict', '--weights', weights, join(dir, 'no.jpg'), '--backend', 'ref'],
      ['predict', '--weights', missing, '--labels', join(dir, 'no.txt'), join(dir, 'w.safetensors'), '--backend', 'ref'],
      ['eval', '--weights', missing, '--backend', 'ref'],
      ['export', '--weights', missing, '--onnx', join(dir, 'x.onnx')],
      ['import', join(dir, 'missing.pth'), '--out', join(dir, 'o.safetensors')],
      ['forward', '--weights', weights, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--backend', 'ref'],
    ]);
    for (const r of runs) {
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /no such file/);
      assert.doesNotMatch(r.err, /ENOENT|errno|\n {4}at /);
    }
  });

  it('a usage error is 2 in every command', async () => {
    const runs = [['train', '--nett', 'x'], ['eval'], ['predict', '--weights', weights], ['export', '--weights', weights], ['info'], ['frobnicate']];
    (await cliAll(runs)).forEach((r, i) => assert.equal(r.code, 2, runs[i]!.join(' ')));
  });

  it('--help documents the exit codes', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /Exit codes: 0 done; 1 the work failed .*\n.*2 the command line is wrong/);
  });

  it('a write into a missing folder names the path given, never the temporary file', async () => {
    const target = join(dir, 'no-such-folder', 'x.onnx');
    const r = await cli('export', '--weights', weights, '--onnx', target);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`cannot write '${target.replace(/[.]/g, '\\.')}': the folder '.*no-such-folder' does not exist`));
    assert.doesNotMatch(r.err, /tmp-\d/);
    assert.throws(() => writeFileAtomic(target, new Uint8Array(1)), (e: Error) => !/tmp-\d/.test(e.message));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
    const err = Object.assign(new Error(`ENOENT: no such file or directory, open '${target}.tmp-123'`), { code: 'ENOENT', syscall: 'open', path: `${target}.tmp-123` });
    assert.equal(errorMessage(err), `${target}: no such file or folder`);
  });

  it('resnet help CMD prints the command usage; --version the package version', async () => {
    let r = await cli('help', 'train');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: resnet train --net NET/);
    r = await cli('help', 'nosuch');
    assert.equal(r.code, 2);
    const v = resnet('--version');
    assert.equal(v.code, 0);
    const pkg = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { name: string; version: string };
    assert.equal(v.out.trim(), `${pkg.name} ${pkg.version}`);
  });
});

describe('progress and numbers', () => {
  const p = { iteration: 1234, total: 64000, epoch: 4, loss: 1.23456, error: 0.4567, lr: 0.005000000000000001, imagesPerSecond: 812.3, etaSeconds: 3725 };

  it('the bar fits every terminal width and keeps its last character', () => {
    for (let cols = 8; cols <= 200; cols++) {
      const line = formatBar(p, cols);
      assert.ok(line.length <= cols - 1, `${cols} columns: ${line.length} characters`);
      if (cols >= 40) assert.match(line, /^\[[#.]+\] 1234\/64000 /);
    }
    assert.match(formatBar(p, 80), /ETA 1:02:05$/);
    assert.match(formatBar(p, 118), /loss 1\.235 err 45\.7% lr 0\.005 812 img\/s ETA 1:02:05$/);
  });

  it('numbers are printed rounded (lr 0.005, not 0.005000000000000001)', () => {
    assert.equal(formatValue(0.005000000000000001), '0.005');
    assert.equal(formatValue(0.1 * 0.1 * 0.1), '0.001');
    assert.equal(formatValue(1e-5), '0.00001');
    let written = '';
    const stream = { write: (s: string) => { written += s; return true; }, isTTY: false } as unknown as NodeJS.WriteStream;
    new Progress('lines', stream).update(p, true);
    assert.match(written, / lr 0\.005 /);
  });
});

describe('short runs', () => {
  it('milestones of a run shorter than 4 steps collapse instead of failing', () => {
    assert.deepEqual(milestonesAt([0.5, 0.75], 1), []);
    assert.deepEqual(milestonesAt([0.5, 0.75], 2), [1]);
    assert.deepEqual(milestonesAt([0.5, 0.75], 3), [2]);
    assert.deepEqual(milestonesAt([0.5, 0.75], 4), [2, 3]);
    assert.deepEqual(milestonesAt([0.5, 0.75], 64000), [32000, 48000]);
    for (let total = 1; total <= 40; total++) {
      const spec = scheduleSpec({ ...CIFAR_PAPER, warmup: null }, total);
      assert.doesNotThrow(() => new Schedule(spec), `total ${total}`);
    }
  });

  it('resnet train --iterations 1 runs', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'resnet-short-')), 'run');
    const r = await cli('train', '--net', 'resnet20', '--data', 'fashion-mnist-sample', '--iterations', '1', '--batch-size', '4',
      '--width', '4', '--val', '0', '--no-test', '--out', out, '--progress', 'none', '--backend', 'ref');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /done: 1 iterations/);
  });
});
