// The ceiling of WebAssembly SIMD on this machine, to compare the kernels with: the rate of fused
// multiply-adds (relaxed SIMD, 4 floats each) of one thread that does nothing else (ten independent
// chains, no memory access), of every thread at once (one worker each), and the wasm set's own
// matrix multiply on products that stay in cache (256³ and 512³, on 1 thread and on all of them).
// GFLOP/s count 2 per multiply-add; medians of the timed repetitions.
//
//   npm run build && node tools/simd-peak.mjs [--threads N] [--seconds S]
//
// Run it on an idle machine: it is a timing.

import asc from 'assemblyscript/asc';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';

setFlagsFromString('--experimental-wasm-relaxed-simd'); // Node 20 runs relaxed SIMD behind this flag

const SOURCE = `
export function chains(iterations: i32, out: usize): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
  const a = f32x4.splat(1.0001), b = f32x4.splat(0.9999);
  for (let i = 0; i < iterations; i++) {
    c0 = f32x4.relaxed_madd(a, b, c0); c1 = f32x4.relaxed_madd(a, b, c1); c2 = f32x4.relaxed_madd(a, b, c2);
    c3 = f32x4.relaxed_madd(a, b, c3); c4 = f32x4.relaxed_madd(a, b, c4); c5 = f32x4.relaxed_madd(a, b, c5);
    c6 = f32x4.relaxed_madd(a, b, c6); c7 = f32x4.relaxed_madd(a, b, c7); c8 = f32x4.relaxed_madd(a, b, c8);
    c9 = f32x4.relaxed_madd(a, b, c9);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(f32x4.add(c6, c7), f32x4.add(c8, c9))));
  v128.store(out, s);
}`;
/** Multiply-adds of one call of chains(): 10 chains × 4 lanes per iteration. */
const ITERATIONS = 2_000_000, FLOPS_PER_CALL = 2 * 10 * 4 * ITERATIONS;

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function peakModule() {
  const { binary, stderr } = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: 'stub', initialMemory: 1, enable: ['simd', 'relaxed-simd'] });
  if (!binary) throw new Error(`simd-peak: the FMA loop did not compile: ${stderr.toString()}`);
  return WebAssembly.compile(binary);
}

/** GFLOP/s of chains() on this thread, repeated for `seconds`: the median call. */
async function chainsRate(module, seconds) {
  const instance = await WebAssembly.instantiate(module, { env: { abort() {} } });
  const rates = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    instance.exports.chains(ITERATIONS, 0);
    rates.push(FLOPS_PER_CALL / ((performance.now() - t) * 1e6));
  }
  return median(rates);
}

if (!isMainThread) {
  const { module, seconds } = workerData;
  parentPort.postMessage(await chainsRate(module, seconds));
} else {
  const args = process.argv.slice(2);
  const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
  const threads = flag('--threads', availableParallelism());
  const seconds = flag('--seconds', 3);
  const module = await peakModule();

  const one = await chainsRate(module, seconds);
  const all = await Promise.all(Array.from({ length: threads }, () => new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { module, seconds } });
    w.once('message', (rate) => { resolve(rate); void w.terminate(); });
    w.once('error', reject);
  })));
  const total = all.reduce((s, r) => s + r, 0);
  console.log(`fused multiply-add peak: ${one.toFixed(1)} GFLOP/s on 1 thread; ${total.toFixed(1)} on ${threads} at once (${all.map((r) => r.toFixed(1)).join(' + ')})`);

  for (const t of [1, threads]) {
    const k = await createWasmKernels({ threads: t });
    for (const n of [256, 512]) {
      const a = k.alloc(n * n, 'float32', 'persistent'), b = k.alloc(n * n, 'float32', 'persistent'), c = k.alloc(n * n, 'float32', 'persistent');
      const values = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
      k.write(a, values);
      k.write(b, values);
      const times = [];
      const end = performance.now() + seconds * 1000;
      for (let r = 0; r < 3 || performance.now() < end; r++) {
        const t0 = performance.now();
        k.matmul({ a, b, c, m: n, n, k: n, transA: false, transB: false, beta: 0 });
        if (r > 0) times.push(performance.now() - t0);
      }
      const rate = (2 * n * n * n) / (median(times) * 1e6);
      const ceiling = t === 1 ? one : total;
      console.log(`wasm matmul ${n}³ on ${t} thread${t > 1 ? 's' : ''}: ${rate.toFixed(1)} GFLOP/s (${((100 * rate) / ceiling).toFixed(0)} % of the peak above)`);
    }
    k.dispose();
  }
}
