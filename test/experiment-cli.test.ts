// `resnet experiment` and `resnet report` as a user runs them (child processes, tiny IDX data,
// reference kernels): --list; Ctrl-C in the middle of an experiment, then the same command again
// continues the interrupted run and skips the finished one; a report of a single training run; the
// report regenerated from the checked-in logs of a smoke-scale experiment equals the checked-in one.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLog } from '../src/train/progress.js';
import { writeReport } from '../src/report/report.js';
import { assertSvg, writeTinyIdx } from './experiment-helpers.js';
import { MAIN, runResnet } from './run-resnet.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/experiment-smoke/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'resnet-experiment-cli-'));
const dataDir = join(root, 'mnist');
const TIMEOUT = 120_000;

before(() => writeTinyIdx(dataDir, 40, 12));

const resnet = (args: string[]) => runResnet(args, TIMEOUT);

const DATA = ['--data', 'mnist', '--data-dir', dataDir, '--backend', 'ref', '--progress', 'lines'];

describe('resnet experiment', () => {
  it('--list describes every experiment and its scales', () => {
    const r = resnet(['experiment', '--list']);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['degradation-cifar', 'degradation-imagenet', 'shortcuts', 'layer-responses']) assert.ok(r.stdout.includes(name));
    assert.match(r.stdout, /--scale small +320 iterations at batch 128/);
    assert.match(r.stdout, /Fig\. 7/);
  });

  it('bad names and scales are usage errors that say what to do', () => {
    assert.match(resnet(['experiment', 'degradation']).stderr, /unknown experiment 'degradation'; choose one of degradation-cifar/);
    assert.match(resnet(['experiment', 'shortcuts', '--scale', 'huge']).stderr, /--scale must be one of paper, small, smoke/);
    const r = resnet(['experiment', 'degradation-imagenet', '--scale', 'smoke', '--out', join(root, 'no-folder')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pass --data folder:PATH/);
  });

  it('Ctrl-C stops the experiment; the same command continues the interrupted run and skips the finished one', { timeout: 2 * TIMEOUT }, async () => {
    const out = join(root, 'interrupted');
    const args = [MAIN, 'experiment', 'degradation-cifar', '--scale', 'smoke', '--runs', 'plain20,resnet56', '--out', out, ...DATA];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && /\[1\/2\] plain-20 \(plain20\): done/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT);
    const code = await new Promise<number | null>((res) => child.on('close', res));
    clearTimeout(timer);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /iter 1\/4 .* \| run 1\/2, experiment ETA \d+:\d\d/, 'progress lines say the run and the overall ETA');
    assert.ok(existsSync(join(out, 'plain20', 'model.safetensors')));
    assert.ok(existsSync(join(out, 'resnet56', 'checkpoint.safetensors')), 'the interrupted run kept a checkpoint');
    assert.ok(!existsSync(join(out, 'resnet56', 'model.safetensors')), 'the interrupted run did not finish');
    const plainLog = readFileSync(join(out, 'plain20', 'log.jsonl'), 'utf8');

    const again = resnet(args.slice(1));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\[1\/2\] plain-20 \(plain20\): finished, skipped/);
    assert.match(again.stderr, /\[2\/2\] ResNet-56 \(resnet56\): continuing/);
    assert.equal(readFileSync(join(out, 'plain20', 'log.jsonl'), 'utf8'), plainLog, 'the finished run was not touched');
    const log = readLog(join(out, 'resnet56', 'log.jsonl'));
    assert.deepEqual(log.filter((r) => ['start', 'resume', 'end'].includes(r.type)).map((r) => r.type), ['start', 'resume', 'end']);
    const iterations = log.filter((r) => r.type === 'step').map((r) => r.iteration);
    assert.deepEqual(iterations, [1, 2, 3, 4], 'each step logged once across the two sessions');
    const manifest = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8'));
    assert.deepEqual(manifest.sessions.map((s: { status: string }) => s.status), ['interrupted', 'completed']);
  });
});

describe('resnet report', () => {
  it('a single training run folder: loss and error curves, and its numbers', () => {
    const run = join(root, 'run');
    const t = resnet(['train', '--net', 'resnet20', '--width', '4', '--iterations', '4', '--batch-size', '8', '--val', '8', '--eval-every', '2',
      '--out', run, ...DATA]);
    assert.equal(t.code, 0, t.stderr);
    const r = resnet(['report', run]);
    assert.equal(r.code, 0, r.stderr);
    const svg = readFileSync(join(run, 'report', 'run.svg'), 'utf8');
    assertSvg(svg);
    for (const text of ['>loss<', '>error<', '>training<', '>validation<', '>test<']) assert.ok(svg.includes(text), `run.svg has ${text}`);
    const md = readFileSync(join(run, 'report', 'README.md'), 'utf8');
    const end = readLog(join(run, 'log.jsonl')).find((x) => x.type === 'end')!;
    assert.ok(md.includes((100 * (end.testError as number)).toFixed(2)), 'the test error of the log');
    assert.match(readFileSync(join(run, 'report', 'index.html'), 'utf8'), /<img src="run\.svg"/);
  });

  it('a folder with neither an experiment nor a run is an error naming it', () => {
    const r = resnet(['report', root]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /holds neither an experiment \(experiment\.json\) nor a training run \(log\.jsonl\)/);
  });

  it('regenerated from the checked-in smoke-scale logs, the report equals the checked-in one', async () => {
    const copy = join(root, 'fixture');
    cpSync(FIXTURE, copy, { recursive: true });
    const r = await writeReport(copy, { out: join(copy, 'regenerated') });
    assert.equal(r.markdown, readFileSync(join(FIXTURE, 'report', 'README.md'), 'utf8'));
    assert.equal(readFileSync(join(copy, 'regenerated', 'curves.svg'), 'utf8'), readFileSync(join(FIXTURE, 'report', 'curves.svg'), 'utf8'));
  });
});
