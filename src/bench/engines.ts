// The engines that `npm run bench` compares: our kernel sets and the peers that install here.
// Each runs one workload per child process (so that its peak RSS is that workload's alone) and
// prints one JSON object: a BenchResult, or {status, reason} when it cannot run the workload.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Workload } from './workloads.js';

export interface Engine {
  /** For --engines: wasm, ref, pytorch, tfjs-cpu, tfjs-wasm, onnxruntime. */
  id: string;
  /** Column label: 'resnet-ts wasm', 'PyTorch', … */
  label: string;
  /** 'ours' or 'peer': ratios are ours ÷ peer. */
  side: 'ours' | 'peer';
  /** The command that runs one workload; undefined when the engine is not available here. */
  command?: (w: Workload, o: RunSettings) => { file: string; args: string[] };
  /** Why the engine cannot run here (not installed, …). */
  unavailable?: string;
  /**
   * Roughly how many GFLOP/s the engine reaches (slow engines only), for inference and training:
   * a workload whose run would take longer than the limit is skipped, and the table says so.
   */
  slowGflops?: { eval: number; train: number };
  /** Fixed warm-up and runs for slow engines (about a minute a run: three runs are the budget). */
  slowRuns?: { warmup: number; runs: number };
}

export interface RunSettings {
  root: string;
  threads: number;
  /** Forwarded --runs, when the user gave one. */
  runs?: number;
}

const SLOW = { warmup: 1, runs: 3 };

/** Our kernel sets and every peer, each either runnable or with the reason it is not. */
export function detectEngines(root: string): Engine[] {
  const cli = join(root, 'dist/src/cli/main.js');
  const ours = (backend: 'wasm' | 'ref'): Engine => ({
    id: backend, label: `resnet-ts ${backend}`, side: 'ours',
    command: (w, o) => ({
      file: process.execPath,
      args: [cli, 'bench', '--workload', w.name, '--backend', backend, '--threads', String(o.threads), '--json',
        ...runFlags(backend === 'ref' ? SLOW : undefined, o)],
    }),
    ...(backend === 'ref' ? { slowGflops: { eval: 0.5, train: 0.5 }, slowRuns: SLOW } : {}),
  });
  return [ours('wasm'), ours('ref'), pytorch(root), ...tfjs(root), onnxruntime(root)];
}

function runFlags(slow: { warmup: number; runs: number } | undefined, o: RunSettings): string[] {
  if (o.runs !== undefined) return ['--runs', String(o.runs), ...(slow ? ['--warmup', String(slow.warmup)] : [])];
  return slow ? ['--warmup', String(slow.warmup), '--runs', String(slow.runs)] : [];
}

/** Debian's python3-torch 1.13 lives in /usr/bin/python3 (a pyenv python3 on PATH may lack it). */
function pytorch(root: string): Engine {
  const candidates = [process.env.RESNET_BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) {
      return {
        id: 'pytorch', label: 'PyTorch', side: 'peer',
        command: (w, o) => ({
          file: python,
          args: [join(root, 'tools/bench_pytorch.py'), '--workload', w.name, '--threads', String(o.threads), ...runFlags(undefined, o)],
        }),
      };
    }
    tried.push(`${python}: ${(probe.stderr || probe.error?.message || 'failed').trim().split('\n').pop()}`);
  }
  return {
    id: 'pytorch', label: 'PyTorch', side: 'peer',
    unavailable: `no Python with torch and torchvision (Debian: apt-get install python3-torch python3-torchvision; or set RESNET_BENCH_PYTHON). Tried ${tried.join('; ')}`,
  };
}

function tfjs(root: string): Engine[] {
  const modules = join(root, 'bench/node_modules/@tensorflow');
  const missing = ['tfjs', 'tfjs-backend-wasm'].filter((p) => !existsSync(join(modules, p, 'package.json')));
  return (['cpu', 'wasm'] as const).map((backend): Engine => {
    const label = `tfjs-${backend}`;
    if (missing.length > 0) {
      return { id: label, label, side: 'peer', unavailable: `not installed (${missing.map((m) => `@tensorflow/${m}`).join(', ')}): run \`npm --prefix bench ci\`` };
    }
    return {
      id: label, label, side: 'peer',
      command: (w, o) => ({
        file: process.execPath,
        args: [join(root, 'bench/tfjs.mjs'), '--workload', w.name, '--backend', backend, ...runFlags(backend === 'cpu' ? SLOW : undefined, o)],
      }),
      // tfjs-backend-cpu is plain JavaScript on one thread: about 0.5 GFLOP/s here for inference;
      // its convolution gradients are slower still (one ResNet-20 step took over 5 minutes)
      ...(backend === 'cpu' ? { slowGflops: { eval: 0.5, train: 0.1 }, slowRuns: SLOW } : {}),
    };
  });
}

function onnxruntime(root: string): Engine {
  try {
    createRequire(join(root, 'package.json')).resolve('onnxruntime-node');
  } catch {
    return { id: 'onnxruntime', label: 'onnxruntime', side: 'peer', unavailable: 'onnxruntime-node is not installed (a devDependency: `npm ci` at the root)' };
  }
  return {
    id: 'onnxruntime', label: 'onnxruntime', side: 'peer',
    command: (w, o) => ({
      file: process.execPath,
      args: [join(root, 'dist/src/bench/ort.js'), '--workload', w.name, '--threads', String(o.threads), ...runFlags(undefined, o)],
    }),
  };
}
