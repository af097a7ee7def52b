#!/usr/bin/env node
// Kill-and-resume soak: a training run (`resnet train`, wasm kernel set by default) is SIGKILLed at
// random moments, some of them while it writes its checkpoint, and resumed with --resume each time,
// until it finishes; its final weights are then compared, bit for bit, with those of the same run
// left alone. Also counts the temporary checkpoint files left behind by the kills.
// Opt-in (not part of npm test); run it niced on a shared machine:
//
//   npm run build && nice -n 19 node tools/soak-kill.mjs [--kills 12] [--iterations 300]
//        [--checkpoint-every 20] [--width 4] [--batch-size 8] [--backend wasm] [--threads 1] [--seed 7]
//
// Half the kills come at a uniformly random moment of the run's expected length, half as soon as a
// temporary checkpoint file appears in the run's directory (reported by fs.watch).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    kills: { type: 'string', default: '12' }, iterations: { type: 'string', default: '300' }, 'checkpoint-every': { type: 'string', default: '20' },
    width: { type: 'string', default: '4' }, 'batch-size': { type: 'string', default: '8' }, backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '1' }, seed: { type: 'string', default: '7' }, 'random-seed': { type: 'string', default: String(Date.now() % 100000) },
  },
});
const { readSafetensors } = await import(new URL('../dist/src/io/safetensors.js', import.meta.url).href);
const main = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'soak-kill-'));
const iterations = Number(o.iterations);
const engine = ['--backend', o.backend, '--threads', o.threads];
const runFlags = ['--progress', 'none', '--no-test', '--checkpoint-every', o['checkpoint-every'], ...engine];
const fresh = (dir) => [main, 'train', '--net', 'resnet20', '--width', o.width, '--data', 'fashion-mnist-sample', '--iterations', String(iterations),
  '--batch-size', o['batch-size'], '--milestones', `${Math.floor(iterations / 2)},${Math.floor((3 * iterations) / 4)}`, '--val', '64',
  '--seed', o.seed, '--out', dir, '--overwrite', ...runFlags];
const resume = (dir) => [main, 'train', '--resume', dir, ...runFlags];

let state = Number(o['random-seed']) >>> 0;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);

/** Runs to the end; resolves the exit code and the seconds it took. */
function run(args) {
  const started = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return { child, done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, seconds: (Date.now() - started) / 1000, err }))) };
}

/** Temporary files (writeFileAtomic's `NAME.tmp-PID`) in dir; of process `pid` only, when given. */
/** The iteration of the last step record of a run's log (0 when none). */
function lastIteration(dir) {
  try {
    const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').reverse();
    for (const line of lines) {
      const r = JSON.parse(line);
      if (typeof r.iteration === 'number') return r.iteration;
    }
  } catch {}
  return 0;
}

const tmpFiles = (dir, pid) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.includes(pid === undefined ? '.tmp-' : `.tmp-${pid}`)) : []);

// 1. the reference run, left alone
const reference = join(root, 'reference');
const ref = await run(fresh(reference)).done;
if (ref.code !== 0) throw new Error(`the reference run failed (${ref.code}): ${ref.err}`);
console.log(`reference run: ${iterations} iterations in ${ref.seconds.toFixed(1)} s`);

// 2. the same run, killed and resumed
const killed = join(root, 'killed');
const kills = [];
let finished = false;
let attempts = 0;
while (!finished && attempts++ < 10 * Number(o.kills) + 10) {
  const args = existsSync(join(killed, 'checkpoint.safetensors')) ? resume(killed) : fresh(killed);
  const { child, done } = run(args);
  const mode = kills.length >= Number(o.kills) ? 'none' : random() < 0.5 ? 'random' : 'checkpoint';
  let stop = () => {};
  if (mode === 'random') {
    // uniform over what is left of the run (a resumed run has less to do), start-up included
    const timer = setTimeout(() => kill('random'), random() * ref.seconds * 1000 * Math.max(0.3, 1 - lastIteration(killed) / iterations));
    stop = () => clearTimeout(timer);
  } else if (mode === 'checkpoint') {
    // inotify (fs.watch) reports the temporary file as it is created; the kill follows at once
    mkdirSync(killed, { recursive: true });
    const watcher = watch(killed, (_event, name) => {
      if (name && name.includes(`.tmp-${child.pid}`)) kill('checkpoint');
    });
    stop = () => watcher.close();
  }
  function kill(when) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const during = tmpFiles(killed, child.pid).length > 0;
    child.kill('SIGKILL');
    kills.push({ when, duringCheckpointWrite: during, resumed: args.includes('--resume') });
    stop();
  }
  const result = await done;
  stop();
  if (result.code === 0) finished = true;
  else if (result.signal !== 'SIGKILL') throw new Error(`a run failed with ${result.code}: ${result.err}`);
}

// 3. compare the final weights bit for bit
const weights = (dir) => readSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors;
const a = weights(reference);
const b = weights(killed);
let differing = 0;
let maxAbs = 0;
for (const [name, t] of a) {
  const u = b.get(name);
  const same = u !== undefined && u.data.length === t.data.length && Buffer.from(u.data.buffer).equals(Buffer.from(t.data.buffer));
  if (!same) differing++;
  if (u) for (let i = 0; i < t.data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(t.data[i] - u.data[i]));
}
const summary = {
  iterations, checkpointEvery: Number(o['checkpoint-every']), backend: o.backend, threads: Number(o.threads), randomSeed: Number(o['random-seed']),
  finished, kills: kills.length, killsDuringCheckpointWrite: kills.filter((k) => k.duringCheckpointWrite).length,
  killsAtRandom: kills.filter((k) => k.when === 'random').length, tensors: a.size, tensorsDiffering: differing, maxAbsDifference: maxAbs,
  identical: finished && differing === 0 && a.size === b.size, tmpFilesLeft: tmpFiles(killed).length,
};
console.log(JSON.stringify(summary, null, 2));
rmSync(root, { recursive: true, force: true });
process.exitCode = summary.identical ? 0 : 1;
