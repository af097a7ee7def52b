// Times the stride-1 3×3 convolutions of the paper's networks on the WebAssembly set by each
// algorithm (direct implicit GEMM, Winograd F(2×2), F(4×4)): the forward pass, the input gradient
// and the filter gradient ("bwd-weight"), interleaved in one process: every
// round runs each algorithm once on each shape; medians over the rounds. "train" rewrites the
// weights before every call (the filter transform is paid once per call, as when weights change
// every step); "eval" keeps them (the transform is cached). Prints a table of milliseconds and
// the ratio of the fastest Winograd to direct.
//
//   npm run build && node tools/conv-algorithms.mjs [--rounds N] [--threads N] [--only NAME] [--passes LIST]

import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(flag('--rounds', 7));
const THREADS = Number(flag('--threads', 2));
const ONLY = flag('--only', '');
const PASSES = flag('--passes', ''); // e.g. 'bwd-weight' (default: every pass)

/** [label, n, channels, size, cIn (default: = channels)]. CIFAR nets at batch 128, ImageNet nets at batch 1 and 16. */
const SHAPES = [
  ['cifar stem 3→16@32² b128', 128, 16, 32, 3], ['cifar 16@32² b128', 128, 16, 32], ['cifar 32@16² b128', 128, 32, 16], ['cifar 64@8² b128', 128, 64, 8],
  ['imagenet 64@56² b1', 1, 64, 56], ['imagenet 128@28² b1', 1, 128, 28], ['imagenet 256@14² b1', 1, 256, 14], ['imagenet 512@7² b1', 1, 512, 7],
  ['imagenet 64@56² b16', 16, 64, 56], ['imagenet 128@28² b16', 16, 128, 28], ['imagenet 256@14² b16', 16, 256, 14], ['imagenet 512@7² b16', 16, 512, 7],
].filter(([label]) => label.includes(ONLY));
const ALGORITHMS = ['direct', 'winograd2', 'winograd4'];

const k = await createWasmKernels({ threads: THREADS });
const random = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

const rows = [];
for (const [label, n, c, size, cIn = c] of SHAPES) {
  const s = { n, cIn, h: size, w: size, cOut: c, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, hOut: size, wOut: size };
  const xLen = n * cIn * size * size, len = n * c * size * size;
  const x = k.alloc(xLen, 'float32', 'persistent'), y = k.alloc(len, 'float32', 'persistent');
  const w = k.alloc(c * cIn * 9, 'float32', 'persistent'), dy = k.alloc(len, 'float32', 'persistent');
  const dw = k.alloc(c * cIn * 9, 'float32', 'persistent');
  const dx = k.alloc(xLen, 'float32', 'persistent');
  const wv = random(c * cIn * 9);
  k.write(x, random(xLen)); k.write(w, wv); k.write(dy, random(len));
  const cases = Object.fromEntries(Object.entries({
    'fwd train': () => { k.write(w, wv); k.conv2d({ ...s, x, weight: w, y }); },
    'fwd eval': () => k.conv2d({ ...s, x, weight: w, y }),
    'bwd-input train': () => { k.write(w, wv); k.conv2dBackwardInput({ ...s, dy, weight: w, dx }); },
    'bwd-weight': () => k.conv2dBackwardWeight({ ...s, x, dy, dw }),
  }).filter(([name]) => PASSES === '' || PASSES.split(',').includes(name)));
  const times = new Map();
  for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
    for (const [name, f] of Object.entries(cases)) {
      for (const alg of ALGORITHMS) {
        k.convAlgorithm = alg;
        const t0 = performance.now();
        f();
        const ms = performance.now() - t0;
        if (r >= 0) times.set(`${name}|${alg}`, [...(times.get(`${name}|${alg}`) ?? []), ms]);
      }
    }
  }
  for (const name of Object.keys(cases)) {
    const ms = ALGORITHMS.map((alg) => median(times.get(`${name}|${alg}`)));
    const best = ms[1] <= ms[2] ? 1 : 2;
    rows.push(`| ${label} | ${name} | ${ms.map((v) => v.toFixed(2)).join(' | ')} | ${(ms[0] / ms[best]).toFixed(2)}× (${ALGORITHMS[best]}) |`);
    console.error(rows.at(-1));
  }
  for (const b of [x, y, w, dw, dy, dx]) k.free(b);
}
console.log(`| shape | pass | direct ms | F(2×2) ms | F(4×4) ms | direct / best Winograd |\n|---|---|---|---|---|---|\n${rows.join('\n')}`);
k.dispose();
