// Kernel micro-benchmarks: GFLOP/s of a 1024³ matrix multiply on the WebAssembly set with 1 and
// 2 threads, and per-layer timings of ResNet-20's convolutions at batch 128 (forward,
// backward-input, backward-weight) plus the batch-norm and element-wise kernels of a training
// step, for the WebAssembly set and the reference set. Medians of several runs.
//
//   node dist/src/bench/kernels.js [--no-ref] [--runs N] [--threads N]
//   node dist/src/bench/kernels.js --fusion [--runs N] [--threads N]
//
// --fusion times, on ResNet-20's activation shapes, each fused batch-norm kernel against the plain
// kernels it replaces (the two interleaved run by run in this one process), and prints the medians.
//
// From the per-layer times it adds up a ResNet-20 step (kernels only, as the network calls them)
// and prints the images/second that bounds.

import type { Buffer, Conv2dShape, KernelSet } from '../kernels/contract.js';
import { outSize } from '../kernels/contract.js';
import { refKernels } from '../kernels/ref/index.js';
import { createWasmKernels } from '../kernels/wasm/index.js';
import { median } from './measure.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(flag('--runs') ?? 7);
const WITH_REF = !args.includes('--no-ref');
const THREADS = Number(flag('--threads') ?? 2);
const BATCH = 128;

/** Median milliseconds of `runs` calls of f (after one warm-up call). */
function time(f: () => void, runs: number): number {
  f();
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function buffer(ks: KernelSet, n: number): Buffer {
  const b = ks.alloc(n, 'float32', 'persistent');
  ks.write(b, random(n));
  return b;
}

// ---- matmul ----

function benchMatmul(ks: KernelSet, size: number, runs: number): number {
  const a = buffer(ks, size * size), b = buffer(ks, size * size), c = buffer(ks, size * size);
  const ms = time(() => ks.matmul({ a, b, c, m: size, n: size, k: size, transA: false, transB: false, beta: 0 }), runs);
  for (const x of [a, b, c]) ks.free(x);
  return (2 * size ** 3) / ms / 1e6;
}

// ---- ResNet-20 layers ----

interface Layer { name: string; count: number; shape: Conv2dShape; needsDx: boolean }

function conv(n: number, cIn: number, hw: number, cOut: number, stride: number): Conv2dShape {
  const o = outSize(hw, 3, stride, 1);
  return { n, cIn, h: hw, w: hw, cOut, kh: 3, kw: 3, strideH: stride, strideW: stride, padH: 1, padW: 1, dilationH: 1, dilationW: 1, hOut: o, wOut: o };
}

/** ResNet-20 (n = 3): the first conv, then 3 stages of 3 basic blocks (6 convs each). */
const LAYERS: Layer[] = [
  { name: 'conv1   3→16 32×32', count: 1, shape: conv(BATCH, 3, 32, 16, 1), needsDx: false },
  { name: 'stage1 16→16 32×32', count: 6, shape: conv(BATCH, 16, 32, 16, 1), needsDx: true },
  { name: 'stage2 16→32 s2', count: 1, shape: conv(BATCH, 16, 32, 32, 2), needsDx: true },
  { name: 'stage2 32→32 16×16', count: 5, shape: conv(BATCH, 32, 16, 32, 1), needsDx: true },
  { name: 'stage3 32→64 s2', count: 1, shape: conv(BATCH, 32, 16, 64, 2), needsDx: true },
  { name: 'stage3 64→64 8×8', count: 5, shape: conv(BATCH, 64, 8, 64, 1), needsDx: true },
];

interface LayerTimes { fwd: number; bwdInput: number; bwdWeight: number }

function benchConv(ks: KernelSet, s: Conv2dShape, runs: number): LayerTimes {
  const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * 9, yLen = s.n * s.cOut * s.hOut * s.wOut;
  const x = buffer(ks, xLen), weight = buffer(ks, wLen), y = buffer(ks, yLen), dx = buffer(ks, xLen), dw = buffer(ks, wLen);
  const t: LayerTimes = {
    fwd: time(() => ks.conv2d({ ...s, x, weight, y }), runs),
    bwdInput: time(() => ks.conv2dBackwardInput({ ...s, dy: y, weight, dx }), runs),
    bwdWeight: time(() => ks.conv2dBackwardWeight({ ...s, dy: y, x, dw }), runs),
  };
  for (const b of [x, weight, y, dx, dw]) ks.free(b);
  return t;
}

/** Milliseconds of the non-conv kernels of one conv's output (BN train + backward, ReLU + backward, eval BN+ReLU). */
function benchPointwise(ks: KernelSet, n: number, c: number, hw: number, runs: number): { train: number; eval: number } {
  const len = n * c * hw;
  const x = buffer(ks, len), y = buffer(ks, len), dy = buffer(ks, len), dx = buffer(ks, len);
  const gamma = buffer(ks, c), beta = buffer(ks, c), mean = buffer(ks, c), invStd = buffer(ks, c), rm = buffer(ks, c), rv = buffer(ks, c);
  ks.fill({ y: rv, value: 1 });
  ks.fill({ y: invStd, value: 1 });
  const shape = { n, c, hw, eps: 1e-5 };
  const train = time(() => {
    ks.batchNormTrain({ ...shape, x, gamma, beta, y, mean, invStd, runningMean: rm, runningVar: rv, momentum: 0.1 });
    ks.relu({ x: y, y });
    ks.reluBackward({ y, dy, dx });
    ks.batchNormBackward({ ...shape, x, dy: dx, gamma, mean, invStd, dx: y, dgamma: rm, dbeta: rv });
  }, runs);
  const evalMs = time(() => ks.batchNormEval({ ...shape, x, gamma, beta, y, runningMean: rm, runningVar: rv, relu: true }), runs);
  for (const b of [x, y, dy, dx, gamma, beta, mean, invStd, rm, rv]) ks.free(b);
  return { train, eval: evalMs };
}

// ---- fused kernels against the plain ones they replace ----

/** Median milliseconds of a and b, called alternately `runs` times each (after one warm-up call of each). */
function timePair(a: () => void, b: () => void, runs: number): [number, number] {
  a(); b();
  const ta: number[] = [], tb: number[] = [];
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now(); a(); ta.push(performance.now() - t0);
    t0 = performance.now(); b(); tb.push(performance.now() - t0);
  }
  return [median(ta), median(tb)];
}

interface FusionTimes { name: string; plain: number; fused: number }

/** Random buffers for batch norm on [n, c, hw] (activations x, y, r, dy, dx, dr; per-channel vectors), and a function that frees them. */
function normBuffers(ks: KernelSet, n: number, c: number, hw: number) {
  const len = n * c * hw;
  const b = {
    x: buffer(ks, len), y: buffer(ks, len), r: buffer(ks, len), dy: buffer(ks, len), dx: buffer(ks, len), dr: buffer(ks, len),
    gamma: buffer(ks, c), beta: buffer(ks, c), mean: buffer(ks, c), invStd: buffer(ks, c), rm: buffer(ks, c), rv: buffer(ks, c),
    dgamma: buffer(ks, c), dbeta: buffer(ks, c),
  };
  ks.fill({ y: b.rv, value: 1 });
  ks.fill({ y: b.invStd, value: 1 });
  return { ...b, shape: { n, c, hw, eps: 1e-5 }, free: () => { for (const v of Object.values(b)) ks.free(v); } };
}

/** The fusions of a training step and of eval mode on one activation shape [n, c, hw]. */
function benchFusion(ks: KernelSet, n: number, c: number, hw: number, runs: number): FusionTimes[] {
  const bufs = normBuffers(ks, n, c, hw);
  const { x, y, r, dy, dx, dr, gamma, beta, mean, invStd, rm, rv, dgamma, dbeta, shape } = bufs;
  const train = { ...shape, x, gamma, beta, y, mean, invStd, runningMean: rm, runningVar: rv, momentum: 0.1 };
  const back = { ...shape, x, dy, gamma, mean, invStd, dx, dgamma, dbeta };
  const evalBn = { ...shape, x, gamma, beta, y, runningMean: rm, runningVar: rv };
  const pairs: [string, () => void, () => void][] = [
    ['BN train + ReLU', () => { ks.batchNormTrain(train); ks.relu({ x: y, y }); }, () => ks.batchNormTrain({ ...train, relu: true })],
    ['ReLU bwd + BN bwd', () => { ks.reluBackward({ y, dy, dx: dr }); ks.batchNormBackward({ ...back, dy: dr }); },
      () => ks.batchNormBackward({ ...back, y })],
    ['BN train + add + ReLU', () => { ks.batchNormTrain(train); ks.add({ a: y, b: r, y }); ks.relu({ x: y, y }); },
      () => ks.batchNormTrain({ ...train, residual: r, relu: true })],
    ['its backward', () => { ks.reluBackward({ y, dy, dx: dr }); ks.batchNormBackward({ ...back, dy: dr }); },
      () => ks.batchNormBackward({ ...back, y, dresidual: dr })],
    ['eval BN + add + ReLU', () => { ks.batchNormEval({ ...evalBn, relu: false }); ks.add({ a: y, b: r, y }); ks.relu({ x: y, y }); },
      () => ks.batchNormEval({ ...evalBn, relu: true, residual: r })],
  ];
  const out = pairs.map(([name, a, b]) => {
    const [plain, fused] = timePair(a, b, runs);
    return { name, plain, fused };
  });
  bufs.free();
  return out;
}

async function mainFusion(): Promise<void> {
  const ks = await createWasmKernels({ threads: THREADS });
  console.log(`fused kernels vs the plain ones they replace: wasm ${ks.variant}, ${ks.threads} thread(s), batch ${BATCH}, medians of ${RUNS} interleaved runs (ms)`);
  console.log(`${'shape'.padEnd(14)} ${'kernels'.padEnd(24)} ${'plain'.padStart(8)} ${'fused'.padStart(8)} ${'ratio'.padStart(6)}`);
  for (const [c, hw] of [[16, 1024], [32, 256], [64, 64]] as const) {
    for (const t of benchFusion(ks, BATCH, c, hw, RUNS)) {
      console.log(`${`${c}×${Math.sqrt(hw)}×${Math.sqrt(hw)}`.padEnd(14)} ${t.name.padEnd(24)} ${fmt(t.plain)} ${fmt(t.fused)} ${(t.plain / t.fused).toFixed(2).padStart(6)}`);
    }
  }
  ks.dispose();
}

const fmt = (ms: number): string => ms.toFixed(2).padStart(8);
const gflops = (s: Conv2dShape, ms: number): string => (2 * s.n * s.cOut * s.hOut * s.wOut * s.cIn * s.kh * s.kw / ms / 1e6).toFixed(1).padStart(6);

async function main(): Promise<void> {
  const one = await createWasmKernels({ threads: 1 });
  const many = await createWasmKernels({ threads: THREADS });
  console.log(`wasm kernels: ${many.variant} build, ${many.threads} thread(s); node ${process.version}; medians of ${RUNS} runs`);
  console.log('');
  console.log(`matmul 1024³: ${benchMatmul(one, 1024, RUNS).toFixed(1)} GFLOP/s (1 thread), ${benchMatmul(many, 1024, RUNS).toFixed(1)} GFLOP/s (${many.threads} threads)`);

  const sets: [string, KernelSet, number][] = [[`wasm×${many.threads}`, many, RUNS]];
  if (WITH_REF) sets.push(['ref', refKernels as KernelSet, 1]);
  for (const [label, ks, runs] of sets) {
    console.log('');
    console.log(`ResNet-20 convolutions, batch ${BATCH}, ${label} (ms, GFLOP/s)${runs === 1 ? ', one run' : ''}:`);
    console.log(`${'layer'.padEnd(20)} ${'×'.padStart(2)} ${'forward'.padStart(15)} ${'backward-input'.padStart(15)} ${'backward-weight'.padStart(15)} ${'BN+ReLU tr'.padStart(10)} ${'eval'.padStart(8)}`);
    let trainMs = 0, evalMs = 0;
    for (const l of LAYERS) {
      const t = benchConv(ks, l.shape, runs);
      const pw = benchPointwise(ks, BATCH, l.shape.cOut, l.shape.hOut * l.shape.wOut, runs);
      console.log(`${l.name.padEnd(20)} ${String(l.count).padStart(2)} ${fmt(t.fwd)} ${gflops(l.shape, t.fwd)} ${fmt(t.bwdInput)} ${gflops(l.shape, t.bwdInput)} ${fmt(t.bwdWeight)} ${gflops(l.shape, t.bwdWeight)}   ${fmt(pw.train)} ${fmt(pw.eval)}`);
      trainMs += l.count * (t.fwd + (l.needsDx ? t.bwdInput : 0) + t.bwdWeight + pw.train);
      evalMs += l.count * (t.fwd + pw.eval);
    }
    console.log(`kernel time of a ResNet-20 step (convs + BN + ReLU, no adds/pool/FC/SGD): train ${trainMs.toFixed(0)} ms → ${(BATCH / trainMs * 1000).toFixed(0)} img/s, eval ${evalMs.toFixed(0)} ms → ${(BATCH / evalMs * 1000).toFixed(0)} img/s`);
  }
  one.dispose();
  many.dispose();
}

await (args.includes('--fusion') ? mainFusion() : main());
