// Splits a Winograd convolution call (assembly/winograd.ts) into its phases on one thread: each
// configuration is timed whole and with one phase only (winogradPhases: the padded copy of the
// images (the filter gradient only: the forward pass reads x in place), the input transform, the α²
// multiplies, the output transform), all configurations
// interleaved in every round, medians over the rounds. The module is instantiated here on a memory
// of its own (no pool: one thread), so any block size `tb` can be tried without changing the host.
//
//   npm run build && node tools/winograd-phases.mjs [--pass fwd|grad] [--only 16@32] [--m 2,4] [--tb 24,48] [--rounds 9]
//
// Default block sizes: the host's (winogradBlockTiles / winogradGradBlockTiles in src/kernels/wasm/index.ts).

import { nodeHost } from '../dist/src/kernels/wasm/host-node.js';
import { compileKernelModule, instantiateKernels } from '../dist/src/kernels/wasm/module.js';
import { CONV_SHAPE_FIELDS } from '../dist/src/kernels/wasm/abi.js';
import { SHAPE_A, WORK_NEXT } from '../dist/src/kernels/wasm/memory.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const PASS = flag('--pass', 'fwd');
const ROUNDS = Number(flag('--rounds', 9));
const ONLY = flag('--only', '');
const MS = flag('--m', '2,4').split(',').map(Number);
const TBS = flag('--tb', '').split(',').filter((t) => t !== '').map(Number);

/** [label, n, channels, size]: ResNet-20's stride-1 3×3 layers at batch 128. */
const SHAPES = [['16@32²', 128, 16, 32], ['32@16²', 128, 32, 16], ['64@8²', 128, 64, 8]]
  .filter(([label]) => label.includes(ONLY));
const PHASES = PASS === 'fwd' ? { input: 2, multiply: 4, output: 8 } : { pad: 1, input: 2, multiply: 4, output: 8 };

/** The host's block sizes (kept in step with src/kernels/wasm/index.ts). */
function hostTiles(c, m) {
  const perTile = (m + 2) * (m + 2) * 2 * c;
  return PASS === 'fwd'
    ? Math.max(8, Math.min(256, Math.floor((32 << 10) / perTile / 8) * 8))
    : Math.max(8, Math.floor(Math.min((512 << 10) / perTile, 256) / 4) * 4);
}

const { module, variant } = await compileKernelModule(nodeHost, true);
const memory = new WebAssembly.Memory({ initial: 4096, maximum: 65536, shared: true });
const k = instantiateKernels(module, memory);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

console.log(`pass ${PASS}, 1 thread, ${variant} build, ${ROUNDS} rounds, medians (ms per call)`);
const NAMES = Object.keys(PHASES);
console.log(`| shape | m | tb | whole | ${NAMES.join(' | ')} | sum of phases |\n|---|---|---|---:|${NAMES.map(() => '---:|').join('')}---:|`);
for (const [label, n, c, size] of SHAPES) {
  const shape = { n, cIn: c, h: size, w: size, cOut: c, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, hOut: size, wOut: size };
  const i32 = new Int32Array(memory.buffer);
  CONV_SHAPE_FIELDS.forEach((f, i) => { i32[SHAPE_A / 4 + i] = shape[f]; });
  const len = n * c * size * size;
  let at = 1 << 20;
  const place = (floats) => { const p = at; at += Math.ceil(floats * 4 / 64) * 64 + 64; return p; };
  const x = place(len), y = place(len), dy = place(len), w = place(c * c * 9), dw = place(c * c * 9);
  const configs = [];
  for (const m of MS) {
    for (const tb of TBS.length ? TBS : [hostTiles(c, m)]) configs.push({ m, tb, u: place(k.winogradWeightsSize(c, c, m)) });
  }
  const scratchFloats = Math.max(...configs.map(({ m, tb }) => PASS === 'fwd' ? k.winogradScratch(SHAPE_A, m, tb) : k.winogradGradScratch(SHAPE_A, m, tb)));
  const scratch = place(scratchFloats);
  if (at > memory.buffer.byteLength) memory.grow(Math.ceil((at - memory.buffer.byteLength) / 65536));
  const f32 = new Float32Array(memory.buffer);
  for (const p of [x, dy]) for (let i = 0; i < len; i++) f32[p / 4 + i] = Math.random() * 2 - 1;
  for (let i = 0; i < c * c * 9; i++) f32[w / 4 + i] = (Math.random() * 2 - 1) / Math.sqrt(9 * c);
  for (const { m, u } of configs) k.winogradWeights(w, c, c, m, false, u, 0, 1);
  const work = new Int32Array(memory.buffer, WORK_NEXT, 1);
  const call = ({ m, tb, u }, mask) => {
    k.winogradPhases(mask);
    work[0] = 0;
    const t0 = performance.now();
    if (PASS === 'fwd') k.winogradForward(SHAPE_A, x, u, y, 0, 0, false, m, tb, scratch, 0, 0, 1);
    else k.winogradWeightGrad(SHAPE_A, x, dy, dw, m, tb, scratch, 0, 0, 1, 0, 1);
    return performance.now() - t0;
  };
  const masks = { whole: -1, ...PHASES };
  const times = new Map();
  for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
    for (const cfg of configs) {
      for (const [name, mask] of Object.entries(masks)) {
        const ms = call(cfg, mask);
        const key = `${cfg.m} ${cfg.tb} ${name}`;
        if (r >= 0) times.set(key, [...(times.get(key) ?? []), ms]);
      }
    }
  }
  k.winogradPhases(-1);
  for (const { m, tb } of configs) {
    const t = Object.fromEntries(Object.keys(masks).map((name) => [name, median(times.get(`${m} ${tb} ${name}`))]));
    const sum = NAMES.reduce((total, name) => total + t[name], 0);
    console.log(`| ${label} | ${m} | ${tb} | ${t.whole.toFixed(2)} | ${NAMES.map((name) => t[name].toFixed(2)).join(' | ')} | ${sum.toFixed(2)} |`);
  }
}
