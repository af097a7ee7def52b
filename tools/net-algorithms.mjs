// Whole-network speed of the WebAssembly set by convolution algorithm ('direct' against 'auto',
// which takes Winograd where winogradAuto() says so; or any list of ConvAlgorithm), interleaved
// in one process: every round runs one step of each; medians of the rounds. The workloads are
// the benchmark's (src/bench/workloads.ts). Prints milliseconds per step and the ratio to the first.
// With `--base DIR` (another built checkout: DIR/dist and DIR/build) the same workload also runs on
// that build's set with each algorithm, interleaved with this one's: an A/B of two builds. Every
// timed step follows an untimed one on the same set (the other set's workers may still be spinning).
//
//   npm run build && node tools/net-algorithms.mjs [--workload resnet20-train] [--rounds N] [--threads N] [--algorithms direct,auto] [--base DIR]

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';
import { prepareWorkload } from '../dist/src/bench/ours.js';
import { WORKLOADS } from '../dist/src/bench/workloads.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const workload = WORKLOADS[flag('--workload', 'resnet20-train')];
if (!workload) throw new Error(`unknown workload; known: ${Object.keys(WORKLOADS).join(', ')}`);
const ROUNDS = Number(flag('--rounds', 7));
const ALGORITHMS = flag('--algorithms', 'direct,auto').split(',');

const THREADS = Number(flag('--threads', 2));
const BASE = flag('--base', '');
/** The builds to compare: this checkout's, and the one of --base. */
const builds = [{ label: '', kernels: createWasmKernels, prepare: prepareWorkload }];
if (BASE !== '') {
  const at = (file) => import(pathToFileURL(resolve(BASE, file)).href);
  const [w, o] = await Promise.all([at('dist/src/kernels/wasm/index.js'), at('dist/src/bench/ours.js')]);
  builds.unshift({ label: 'base ', kernels: w.createWasmKernels, prepare: o.prepareWorkload });
  builds[1].label = 'this ';
}
const configs = [];
for (const b of builds) {
  const k = await b.kernels({ threads: THREADS });
  const runner = b.prepare(workload, k);
  for (const alg of ALGORITHMS) configs.push({ name: `${b.label}${alg}`, k, alg, runner, times: [] });
}
for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
  for (const c of configs) {
    c.k.convAlgorithm = c.alg;
    c.runner.step(); // untimed
    const t0 = performance.now();
    c.runner.step();
    if (r >= 0) c.times.push(performance.now() - t0);
  }
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const ms = configs.map((c) => median(c.times));
console.log(`${workload.name} (${THREADS} threads, ${ROUNDS} rounds): ` + configs.map((c, i) => `${c.name} ${ms[i].toFixed(1)} ms (${(ms[0] / ms[i]).toFixed(2)}×)`).join(', '));
for (const k of new Set(configs.map((c) => c.k))) k.dispose();
