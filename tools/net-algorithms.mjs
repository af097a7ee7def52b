// Whole-network speed of the WebAssembly set by convolution algorithm ('direct' against 'auto',
// which takes Winograd where winogradAuto() says so; or any list of ConvAlgorithm), interleaved
// in one process: every round runs one step of each; medians of the rounds. The workloads are
// the benchmark's (src/bench/workloads.ts). Prints milliseconds per step and the ratio to the first.
//
//   npm run build && node tools/net-algorithms.mjs [--workload resnet20-train] [--rounds N] [--threads N] [--algorithms direct,auto]

import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';
import { prepareWorkload } from '../dist/src/bench/ours.js';
import { WORKLOADS } from '../dist/src/bench/workloads.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const workload = WORKLOADS[flag('--workload', 'resnet20-train')];
if (!workload) throw new Error(`unknown workload; known: ${Object.keys(WORKLOADS).join(', ')}`);
const ROUNDS = Number(flag('--rounds', 7));
const ALGORITHMS = flag('--algorithms', 'direct,auto').split(',');

const k = await createWasmKernels({ threads: Number(flag('--threads', 2)) });
const runner = prepareWorkload(workload, k);
const times = ALGORITHMS.map(() => []);
for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
  ALGORITHMS.forEach((alg, i) => {
    k.convAlgorithm = alg;
    const t0 = performance.now();
    runner.step();
    if (r >= 0) times[i].push(performance.now() - t0);
  });
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const ms = times.map(median);
console.log(`${workload.name} (${k.threads} threads, ${ROUNDS} rounds): ` + ALGORITHMS.map((a, i) => `${a} ${ms[i].toFixed(1)} ms (${(ms[0] / ms[i]).toFixed(2)}×)`).join(', '));
k.dispose();
