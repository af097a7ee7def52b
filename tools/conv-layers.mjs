// Times the forward convolutions of ResNet-50 that take the direct path (every one but the
// stride-1 3×3 layers that Winograd takes; 512@7², which inference at batch 1 runs by Winograd, is
// timed on the direct path too: both sets run with convAlgorithm 'direct'), one shape at a time, in inference mode (packed weights
// cached, bias and ReLU in the epilogue), either with the set's small-map forward (pixelRows) off
// and on, or (`--base DIR`) on another built checkout's wasm set (DIR/dist and DIR/build, e.g. a
// worktree of main after `npm run build`) and on this one's, alternated call by call: every round
// runs each shape once each way; medians (or minima) over the rounds, and the ratio first / second
// per shape and over the network (each shape weighted by its calls).
//
//   npm run build && node tools/conv-layers.mjs [--base DIR] [--batch N] [--rounds N] [--threads N] [--only TEXT] [--stat median|min|mean] [--clock wall|cpu]

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const BATCH = Number(flag('--batch', 1));
const ROUNDS = Number(flag('--rounds', 11));
const THREADS = Number(flag('--threads', 2));
const ONLY = flag('--only', '');
const BASE = flag('--base', '');
const STAT = flag('--stat', 'median'); // or 'min' (steadier when the machine is busy), or 'mean' (what another process's load costs)
// 'cpu': the process's CPU time instead of wall-clock time, which leaves out the time other
// processes hold the core (with --threads 1 only: it would add up the threads)
const CLOCK = flag('--clock', 'wall');
if (CLOCK === 'cpu' && THREADS !== 1) throw new Error('--clock cpu needs --threads 1');
const now = CLOCK === 'cpu' ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; } : () => performance.now();

/** [calls per image in ResNet-50, cIn, cOut, kernel, stride, input size]. */
const LAYERS = [
  [1, 3, 64, 7, 2, 224],
  [1, 64, 64, 1, 1, 56], [4, 64, 256, 1, 1, 56], [2, 256, 64, 1, 1, 56], [1, 256, 128, 1, 1, 56],
  [1, 128, 128, 3, 2, 56], [1, 256, 512, 1, 2, 56],
  [4, 128, 512, 1, 1, 28], [3, 512, 128, 1, 1, 28], [1, 512, 256, 1, 1, 28],
  [1, 256, 256, 3, 2, 28], [1, 512, 1024, 1, 2, 28],
  [6, 256, 1024, 1, 1, 14], [5, 1024, 256, 1, 1, 14], [1, 1024, 512, 1, 1, 14],
  [1, 512, 512, 3, 2, 14], [1, 1024, 2048, 1, 2, 14],
  [3, 512, 2048, 1, 1, 7], [2, 2048, 512, 1, 1, 7], [2, 512, 512, 3, 1, 7],
].map(([calls, cIn, cOut, k, stride, size]) => {
  const pad = (k - 1) >> 1, out = Math.floor((size + 2 * pad - k) / stride) + 1;
  return {
    label: `${cIn}→${cOut} ${k}×${k}/${stride} @${size}²`, calls,
    s: { n: BATCH, cIn, h: size, w: size, cOut, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: 1, dilationW: 1, hOut: out, wOut: out },
  };
}).filter(({ label }) => label.includes(ONLY));

const k = await createWasmKernels({ threads: THREADS });
/** The variants compared: [name, kernel set, setup before each call]. */
const VARIANTS = BASE === ''
  ? [['pixelRows off', k, () => { k.pixelRows = false; }], ['pixelRows on', k, () => { k.pixelRows = true; }]]
  : [['base', await (await import(pathToFileURL(resolve(BASE, 'dist/src/kernels/wasm/index.js')).href)).createWasmKernels({ threads: THREADS }), () => {}],
    ['this', k, () => {}]];
for (const [, set] of VARIANTS) set.convAlgorithm = 'direct';
const random = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const stat = STAT === 'min' ? (a) => Math.min(...a) : STAT === 'mean' ? mean : median;

/** Each layer's call on its own buffers, per variant (the same values in each kernel set). */
const cases = LAYERS.map(({ s }) => {
  const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * s.kh * s.kw, yLen = s.n * s.cOut * s.hOut * s.wOut;
  const values = [random(xLen), random(wLen), random(s.cOut)];
  return VARIANTS.map(([, set]) => {
    const [x, w, b] = values.map((v) => { const buf = set.alloc(v.length, 'float32', 'persistent'); set.write(buf, v); return buf; });
    const y = set.alloc(yLen, 'float32', 'persistent');
    return () => set.conv2d({ ...s, x, weight: w, bias: b, relu: true, y });
  });
});

const times = LAYERS.map(() => VARIANTS.map(() => []));
for (let r = -2; r < ROUNDS; r++) { // two rounds warm up (and prepare the weights)
  const order = r % 2 === 0 ? [0, 1] : [1, 0]; // which variant runs first alternates
  cases.forEach((fs, li) => order.forEach((vi) => {
    VARIANTS[vi][2]();
    const t0 = now();
    fs[vi]();
    const ms = now() - t0;
    if (r >= 0) times[li][vi].push(ms);
  }));
}

const head = VARIANTS.map(([name]) => `${name} ms`).join(' | ');
const lines = [`| layer (batch ${BATCH}, ${THREADS} threads, ${STAT} of ${ROUNDS}, ${CLOCK} clock) | calls | ${head} | GFLOP/s (${VARIANTS[1][0]}) | ${VARIANTS[0][0]} / ${VARIANTS[1][0]} |`,
  `|---|---:|${VARIANTS.map(() => '---:|').join('')}---:|---:|`];
const total = VARIANTS.map(() => 0);
LAYERS.forEach(({ label, calls, s }, li) => {
  const ms = times[li].map(stat);
  ms.forEach((m, si) => { total[si] += calls * m; });
  const flops = 2 * s.n * s.cOut * s.hOut * s.wOut * s.cIn * s.kh * s.kw;
  const gflops = flops / (ms.at(-1) * 1e6);
  lines.push(`| ${label} | ${calls} | ${ms.map((m) => m.toFixed(3)).join(' | ')} | ${gflops.toFixed(1)} | ${(ms[0] / ms[1]).toFixed(3)}× |`);
});
lines.push(`| weighted total | | ${total.map((t) => t.toFixed(2)).join(' | ')} | | ${(total[0] / total[1]).toFixed(3)}× |`);
console.log(lines.join('\n'));
for (const set of new Set(VARIANTS.map(([, set]) => set))) set.dispose();
