#!/usr/bin/env node
// Soak: one long training run through the `resnet train` command, its resident memory sampled
// from /proc while it runs (Linux). A leak shows as RSS that keeps growing after the first
// thousand steps; the summary gives the growth per 1,000 steps over the second half of the run.
// Opt-in (not part of npm test); run it niced on a shared machine:
//
//   npm run build && nice -n 19 node tools/soak-rss.mjs [--iterations 10000] [--width 4] [--batch-size 16]
//        [--net resnet20] [--backend wasm] [--threads 1] [--every 2] [--json out.json]
//
// Defaults: ResNet-20 at width 4 (1 input channel: 4,400 parameters) on the bundled Fashion-MNIST
// sample, batch 16, 10,000 steps, a checkpoint every 1,000.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    iterations: { type: 'string', default: '10000' }, width: { type: 'string', default: '4' }, 'batch-size': { type: 'string', default: '16' },
    net: { type: 'string', default: 'resnet20' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string', default: '1' },
    every: { type: 'string', default: '2' }, json: { type: 'string' },
  },
});
const main = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'soak-rss-'));
const iterations = Number(o.iterations);
const args = [main, 'train', '--net', o.net, '--width', o.width, '--data', 'fashion-mnist-sample', '--iterations', String(iterations),
  '--batch-size', o['batch-size'], '--milestones', `${Math.floor(iterations / 2)},${Math.floor((3 * iterations) / 4)}`, '--val', '0', '--no-test',
  '--progress', 'none', '--log-every', '100', '--checkpoint-every', String(Math.max(1, Math.floor(iterations / 10))),
  '--backend', o.backend, '--threads', o.threads, '--out', out];

const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const lastIteration = () => {
  try {
    const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const r = JSON.parse(lines[i]);
      if (typeof r.iteration === 'number') return r.iteration;
    }
  } catch {}
  return 0;
};

const started = Date.now();
const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
const samples = [];
const timer = setInterval(() => {
  try {
    samples.push({ seconds: (Date.now() - started) / 1000, iteration: lastIteration(), rssMb: rssMb(child.pid) });
  } catch {} // the process has just ended
}, Number(o.every) * 1000);
const code = await new Promise((resolve) => child.on('close', resolve));
clearInterval(timer);
rmSync(out, { recursive: true, force: true });
if (code !== 0) {
  console.error(`training exited with ${code}`);
  process.exit(1);
}

// least-squares slope of RSS against iteration over the second half of the run
const late = samples.filter((s) => s.iteration >= iterations / 2 && Number.isFinite(s.rssMb));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const mx = mean(late.map((s) => s.iteration));
const my = mean(late.map((s) => s.rssMb));
const slope = late.reduce((a, s) => a + (s.iteration - mx) * (s.rssMb - my), 0) / late.reduce((a, s) => a + (s.iteration - mx) ** 2, 0);
const at = (fraction) => samples.find((s) => s.iteration >= fraction * iterations) ?? samples[samples.length - 1];
const summary = {
  command: `node ${args.slice(0, -2).map((a) => (a === main ? 'dist/src/cli/main.js' : a)).join(' ')}`,
  iterations, seconds: Math.round((Date.now() - started) / 1000), samples: samples.length,
  rssMb: {
    first: round(samples[0]?.rssMb), at10: round(at(0.1).rssMb), at50: round(at(0.5).rssMb), last: round(samples[samples.length - 1]?.rssMb),
    max: round(Math.max(...samples.map((s) => s.rssMb))),
  },
  growthMbPer1000Steps: round(slope * 1000, 3),
};
console.log(JSON.stringify(summary, null, 2));
if (o.json) writeFileSync(o.json, JSON.stringify({ summary, samples }, null, 2));

function round(v, digits = 1) {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
