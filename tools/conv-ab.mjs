// Times ResNet-20's 3×3 convolutions (batch 128: the stride-1 layers, the two stride-2 ones and
// the stem), ResNet-50's Winograd layers at batch 1 and its direct-path strided layers and stem (the stride-2 maps
// of ≤256 output pixels take the small-map forward there, tools/conv-layers.mjs) on this
// checkout's wasm set against the one of another built checkout (`--base DIR`: its dist/ and build/, e.g. an unpacked `git archive`
// of main after `npm run build`), both with 'auto', interleaved in one process: every round runs
// each pass once on each set; medians over the rounds and the ratio base / this.
// "fwd eval" keeps the weights and has a bias and ReLU (inference's folded batch norm), "fwd train"
// and "bwd-input" rewrite the weights before each call (the filter transform is paid, as in a
// training step), "bwd-weight" is the filter gradient. Each shape runs the passes its network
// takes (ResNet-50: inference only; the stems: no input gradient). Each timed call follows an
// untimed one of the same pass and set: its workers are then awake, and the other set's have stopped
// spinning (pool.ts), as in a network's run of back-to-back calls (without it, the other set's spinning workers took CPU time
// from the call timed next: with 2 threads 16@32²'s forward measured 10.6 ms here, 7.8 ms alone).
//
//   npm run build && node tools/conv-ab.mjs --base DIR [--rounds 9] [--threads 2] [--only 64@8] [--passes 'fwd eval,bwd-weight']

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createWasmKernels } from '../dist/src/kernels/wasm/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const BASE = flag('--base', '');
const ROUNDS = Number(flag('--rounds', 9));
const THREADS = Number(flag('--threads', 2));
const ONLY = flag('--only', '');
const PASSES = flag('--passes', ''); // e.g. 'fwd eval,bwd-weight' (default: every pass)
if (BASE === '') {
  console.error('conv-ab: give the other checkout with --base DIR (built: DIR/dist and DIR/build)');
  process.exit(2);
}
const base = await import(pathToFileURL(resolve(BASE, 'dist/src/kernels/wasm/index.js')).href);

const ALL_PASSES = ['fwd eval', 'fwd train', 'bwd-input', 'bwd-weight'];
/** [label, batch, cIn, cOut, kernel, stride, input size, passes]. */
const SHAPES = [
  ['16@32²', 128, 16, 16, 3, 1, 32, ALL_PASSES], ['32@16²', 128, 32, 32, 3, 1, 16, ALL_PASSES], ['64@8²', 128, 64, 64, 3, 1, 8, ALL_PASSES],
  ['b1 64@56²', 1, 64, 64, 3, 1, 56, ['fwd eval']], ['b1 128@28²', 1, 128, 128, 3, 1, 28, ['fwd eval']],
  ['b1 256@14²', 1, 256, 256, 3, 1, 14, ['fwd eval']],
  ['16→32@32²/2', 128, 16, 32, 3, 2, 32, ALL_PASSES], ['32→64@16²/2', 128, 32, 64, 3, 2, 16, ALL_PASSES],
  ['stem 3→16@32²', 128, 3, 16, 3, 1, 32, ['fwd eval', 'fwd train', 'bwd-weight']],
  ['b1 stem 3→64 7×7/2@224²', 1, 3, 64, 7, 2, 224, ['fwd eval']], ['b1 128@56²/2', 1, 128, 128, 3, 2, 56, ['fwd eval']],
  ['b1 256→512 1×1/2@56²', 1, 256, 512, 1, 2, 56, ['fwd eval']],
].filter(([label]) => label.includes(ONLY));
const sets = { base: await base.createWasmKernels({ threads: THREADS }), this: await createWasmKernels({ threads: THREADS }) };
const random = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

console.log(`${THREADS} threads, ${ROUNDS} rounds, medians (ms per call), base ${BASE}`);
console.log('| shape | pass | base ms | this ms | base / this |\n|---|---|---:|---:|---:|');
for (const [label, n, cIn, cOut, kk, stride, size, passes] of SHAPES) {
  const pad = (kk - 1) >> 1, out = Math.floor((size + 2 * pad - kk) / stride) + 1;
  const s = { n, cIn, h: size, w: size, cOut, kh: kk, kw: kk, strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: 1, dilationW: 1, hOut: out, wOut: out };
  const xLen = n * cIn * size * size, yLen = n * cOut * out * out, wLen = cOut * cIn * kk * kk;
  const wv = random(wLen).map((v) => v / Math.sqrt(kk * kk * cIn));
  const xv = random(xLen), dyv = random(yLen);
  const cases = {};
  for (const [name, k] of Object.entries(sets)) {
    const b = (v) => { const buf = k.alloc(v.length, 'float32', 'persistent'); k.write(buf, v); return buf; };
    const x = b(xv), dy = b(dyv), w = b(wv), y = b(new Float32Array(yLen)), dx = b(new Float32Array(xLen)), dw = b(new Float32Array(wLen));
    const bias = b(random(cOut));
    cases[name] = Object.fromEntries(Object.entries({
      'fwd eval': () => k.conv2d({ ...s, x, weight: w, y, bias, relu: true }),
      'fwd train': () => { k.write(w, wv); k.conv2d({ ...s, x, weight: w, y }); },
      'bwd-input': () => { k.write(w, wv); k.conv2dBackwardInput({ ...s, dy, weight: w, dx }); },
      'bwd-weight': () => k.conv2dBackwardWeight({ ...s, x, dy, dw }),
    }).filter(([pass]) => passes.includes(pass) && (PASSES === '' || PASSES.split(',').includes(pass))));
  }
  const times = new Map();
  for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
    for (const pass of Object.keys(cases.this)) {
      for (const name of r % 2 === 0 ? ['base', 'this'] : ['this', 'base']) {
        cases[name][pass]();
        const t0 = performance.now();
        cases[name][pass]();
        const ms = performance.now() - t0;
        if (r >= 0) times.set(`${pass} ${name}`, [...(times.get(`${pass} ${name}`) ?? []), ms]);
      }
    }
  }
  for (const pass of Object.keys(cases.this)) {
    const a = median(times.get(`${pass} base`)), b = median(times.get(`${pass} this`));
    console.log(`| ${label} | ${pass} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}× |`);
  }
}
for (const k of Object.values(sets)) k.dispose();
