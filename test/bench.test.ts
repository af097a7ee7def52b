// The benchmark's arithmetic and reporting, without timing anything: medians, run
// counts, exact costs, merging rounds, the target verdicts, and the profiler's proxy.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { autoRuns, benchResult, median, mergeRounds } from '../src/bench/measure.js';
import { WORKLOADS, workloadCost } from '../src/bench/workloads.js';
import { checkTargets, renderMarkdown, type Row } from '../src/bench/report.js';
import { describeCpu } from '../src/bench/machine.js';
import { timeKernels } from '../src/bench/profile.js';
import { type ProfileLine, type ProfileSet, checkProfileSet, parseProfileJson, renderProfiles } from '../src/bench/profiles.js';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { createNet } from '../src/models/resnet.js';
import { fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';

describe('benchmark arithmetic', () => {
  it('median of odd and even counts; NaN for none', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('autoRuns fills the target time within [5, 30] runs (3 for runs over 10 s)', () => {
    assert.equal(autoRuns(100, 20), 30);
    assert.equal(autoRuns(2000, 20), 10);
    assert.equal(autoRuns(9000, 20), 5);
    assert.equal(autoRuns(40_000, 20), 3);
  });

  it('workload costs are the exact multiply-accumulates, 2 FLOPs each, ×3 for a training step', () => {
    const train = workloadCost(WORKLOADS['resnet20-train']);
    assert.equal(train.macsPerImage, 40_551_040);
    assert.equal(train.flopsPerBatch, 2 * 3 * 40_551_040 * WORKLOADS['resnet20-train'].batch);
    const r18 = workloadCost(WORKLOADS['resnet18-b1']);
    assert.equal(r18.macsPerImage, 1_814_073_344);
    assert.equal(r18.flopsPerBatch, 2 * 1_814_073_344);
  });

  it('a result derives images/s and GFLOP/s from the median; rounds pool their runs', () => {
    const w = WORKLOADS['resnet20-eval'];
    const cost = workloadCost(w);
    const fields = { workload: w, engine: 'resnet-ts', backend: 'wasm', threads: 2 };
    const a = benchResult(fields, cost, { warmup: 2, timesMs: [200, 100, 300] }, 1000);
    assert.equal(a.msPerBatch, 200);
    assert.equal(a.imagesPerSecond, (w.batch * 1000) / 200);
    assert.equal(a.gflops, Math.round((cost.flopsPerBatch / 200e6) * 1000) / 1000);
    const b = benchResult(fields, cost, { warmup: 2, timesMs: [400, 500] }, 3000);
    const m = mergeRounds([a, b]);
    assert.equal(m.runs, 5);
    assert.equal(m.msPerBatch, 300);
    assert.equal(m.peakRssBytes, 3000);
    assert.deepEqual(m.roundMediansMs, [200, 450]);
  });

  it('target verdicts: images/s at least the goal, peak RSS at most the goal, within one run', () => {
    const row = (workload: keyof typeof WORKLOADS, engine: string, ms: number, rssMiB: number): Row => ({
      workload, engine, status: 'ok',
      result: benchResult({ workload: WORKLOADS[workload], engine, backend: '', threads: 2 },
        workloadCost(WORKLOADS[workload]), { warmup: 0, timesMs: [ms] }, rssMiB * 2 ** 20),
    });
    const targets = checkTargets([
      row('resnet20-train', 'resnet-ts wasm', 500, 700), row('resnet20-train', 'PyTorch', 450, 560),
      row('resnet50-b1', 'resnet-ts wasm', 100, 300), row('resnet50-b1', 'tfjs-wasm', 250, 300), row('resnet50-b1', 'PyTorch', 90, 300),
      row('resnet50-b16', 'resnet-ts wasm', 1000, 800), row('resnet50-b16', 'PyTorch', 900, 700),
    ]);
    const byName = (part: string) => targets.find((t) => t.name.includes(part))!;
    assert.equal(targets.length, 6);
    assert.equal(byName('ResNet-20 training, batch 128').met, false); // 450/500 = 0.9× < 1.0×
    assert.equal(byName('ResNet-20 inference').met, undefined); // no eval rows: no verdict
    assert.equal(byName('≥ 0.8× PyTorch').met, true); // 90/100 = 0.9× ≥ 0.8×
    assert.equal(byName('tfjs-wasm').met, false); // 2.5× < 3×
    assert.ok(Math.abs(byName('tfjs-wasm').ratio! - 2.5) < 1e-9);
    assert.equal(byName('ResNet-50 batch 16: peak RSS').met, true); // 800/700 = 1.14× ≤ 1.2×
    assert.equal(byName('ResNet-20 training: peak RSS').met, false); // 700/560 = 1.25× > 1.2×
    assert.ok(Math.abs(byName('ResNet-20 training: peak RSS').ratio! - 1.25) < 1e-9);
  });
});

describe('the report', () => {
  const row = (workload: keyof typeof WORKLOADS, engine: string, rounds: number[][]): Row => ({
    workload, engine, status: 'ok',
    result: mergeRounds(rounds.map((timesMs) => benchResult({ workload: WORKLOADS[workload], engine, backend: '', threads: 2 },
      workloadCost(WORKLOADS[workload]), { warmup: 0, timesMs }, 2 ** 20))),
  });

  it('gives every round\'s ratio beside the pooled one when several rounds ran', () => {
    const rows = [row('resnet50-b1', 'resnet-ts wasm', [[100, 100, 100], [200, 200, 200]]), row('resnet50-b1', 'PyTorch', [[80, 80, 80], [100, 100, 100]])];
    const t = checkTargets(rows).find((x) => x.name.includes('≥ 0.8× PyTorch'))!;
    assert.deepEqual(t.roundRatios, [0.8, 0.5]);
    assert.ok(Math.abs(t.ratio! - 90 / 150) < 1e-4); // pooled medians: 150 ms against 90 ms (images/s rounded to 3 decimals)
    const md = renderMarkdown({
      date: '2026-12-02T00:00:00Z', commit: 'abc1234', threads: 2, rounds: 2, workloads: ['resnet50-b1'], rows, targets: checkTargets(rows),
      engines: [{ label: 'resnet-ts wasm', side: 'ours' }, { label: 'PyTorch', side: 'peer' }], elapsedSeconds: 60,
      machine: { cpu: 'AMD EPYC (family 26 model 2, AVX-512)', cores: 2, memoryBytes: 2 ** 34, os: 'Linux', node: '20', loadAverage: 0.1 },
    });
    assert.match(md, /\| ResNet-50 batch 1: ≥ 0\.8× PyTorch images\/s \| 0\.60× \| ≥ 0\.8× \| not met \| 0\.80×, 0\.50× \|/);
    assert.match(md, /Machine: AMD EPYC \(family 26 model 2, AVX-512\), 2 cores/);
  });

  it('names the CPU with its family, model and widest vector extension', () => {
    const zen5 = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n';
    assert.equal(describeCpu('AMD EPYC', zen5), 'AMD EPYC (family 26 model 2, AVX-512)');
    assert.equal(describeCpu('AMD EPYC', zen5.replace(' avx512f avx512bw', '').replace('26', '25').replace('2\nmodel name', '1\nmodel name')),
      'AMD EPYC (family 25 model 1, AVX2)');
    assert.equal(describeCpu('', 'processor\t: 0\nFeatures\t: fp asimd evtstrm\n'), 'unknown CPU (NEON)');
    assert.equal(describeCpu(' Apple M2 ', undefined), 'Apple M2');
  });
});

describe('profiler', () => {
  it('attributes every kernel call to its kernel and shape, and leaves results unchanged', () => {
    const timed = timeKernels(refKernels as KernelSet);
    const net = createNet('resnet20', { width: 4, kernels: timed.kernels, seed: 1 }).eval();
    const plain = createNet('resnet20', { width: 4, seed: 1 }).eval();
    const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i));
    const a = noGrad(() => net.forward(fromArray(x, [2, 3, 8, 8], { kernels: timed.kernels }))).toArray();
    const b = noGrad(() => plain.forward(fromArray(x, [2, 3, 8, 8]))).toArray();
    assert.deepEqual(Array.from(a), Array.from(b));
    const entries = timed.entries();
    const convs = entries.filter((e) => e.kernel === 'conv2d');
    assert.equal(convs.reduce((s, e) => s + e.calls, 0), 19); // stem + 18 convs of the blocks
    assert.ok(convs.some((e) => e.shape === '2×4×8×8 → 8×4×4, 3×3/2'));
  });
});

describe('profile comparison in the report', () => {
  const cliJson = (profile: object[], times: number[], msPerBatch: number) => ({ profile, timesMs: times, msPerBatch });

  it('reads `resnet bench --profile --json` output per step and refuses anything else, naming what is missing', () => {
    const p = parseProfileJson('resnet20-eval', cliJson([
      { kernel: 'conv2d', shape: '128×16×32×32 → 16×32×32, 3×3/1', calls: 60, totalMs: 600, msPerStep: 60 },
    ], new Array(10).fill(150), 150));
    assert.equal(p.steps, 10);
    assert.deepEqual(p.lines, [{ kernel: 'conv2d', shape: '128×16×32×32 → 16×32×32, 3×3/1', calls: 6, msPerStep: 60 }]);
    assert.throws(() => parseProfileJson('resnet20-eval', { msPerBatch: 1 }), /has no 'profile', 'timesMs' or 'msPerBatch'/);
    assert.throws(() => parseProfileJson('w', cliJson([{ kernel: 'conv2d' }], [1], 1)), /lacks kernel, calls or msPerStep/);
    assert.throws(() => parseProfileJson('w', cliJson([], [], 1)), /has no timed steps/);
    assert.throws(() => checkProfileSet({ profiles: 'x' }, 'before.json'), /before.json is not a profile set/);
  });

  it('puts each kernel and layer before and now side by side, with the speed-up, and a vanished kernel as a dash', () => {
    const set = (commit: string, lines: ProfileLine[], msPerBatch: number): ProfileSet => ({
      commit, date: '2026-12-02T00:00:00Z', threads: 2, loadAverage: 0.5, failed: [],
      profiles: [{ workload: 'resnet20-eval', msPerBatch, steps: 10, lines }],
    });
    const shape = '128×16×32×32 → 16×32×32, 3×3/1';
    const before = set('aaaaaaa', [
      { kernel: 'conv2d', shape, calls: 6, msPerStep: 90 }, { kernel: 'relu', shape: '2097152', calls: 3, msPerStep: 20 },
    ], 120);
    const after = set('bbbbbbb', [{ kernel: 'conv2d', shape, calls: 6, msPerStep: 60 }], 64);
    const md = renderProfiles(after, before);
    assert.match(md, /120\.0 ms per step before \(commit aaaaaaa\), 64\.0 ms now \(1\.88×\)/);
    assert.match(md, /\| conv2d \| 90\.0 \| 60\.0 \| 1\.50× \|/);
    assert.match(md, /\| relu \| 20\.0 \| – \|  \|/);
    assert.match(md, new RegExp(`\\| conv2d \\| ${shape} \\| 6 \\| 90\\.0 \\| 60\\.0 \\| 1\\.50× \\|`));
    const alone = renderProfiles({ ...after, failed: [{ workload: 'resnet50-b1', reason: 'exit 1' }] }, undefined);
    assert.match(alone, /no earlier profile/);
    assert.match(alone, /resnet50-b1: \*\*profile failed\*\*: exit 1/);
  });
});
