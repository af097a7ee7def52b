// host-node.ts: the Node host of the wasm kernel set (see host.ts): the module's bytes come from
// build/ next to dist/, the compiler is told to optimize from the start, and workers are
// worker_threads that never keep the process alive.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { type KernelHost, sharedMemoryWorks } from './host.js';
import type { SpawnWorker } from './pool.js';

/** The folder of the built modules: dist/src/kernels/wasm → build/. */
const BUILD_DIR = new URL('../../../../build/', import.meta.url);

/**
 * Kernel workers are unref'd once ready (before, the process must wait for them): a started pool
 * never keeps the process alive, so an error, a usage error or the end of the work lets the
 * process exit without a dispose() call. No listener is added after unref(): adding a 'message'
 * listener would ref the worker again.
 */
const spawnNodeWorker: SpawnWorker = (start) => {
  const worker = new Worker(new URL('./worker-node.js', import.meta.url), { workerData: start });
  worker.on('error', (e) => console.error(`wasm kernels: worker ${start.tid}: ${e.message}`));
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`wasm kernels: worker ${start.tid} exited (${code}) before it was ready`)));
  });
  ready.then(() => worker.unref(), () => undefined);
  return { ready, terminate: () => void worker.terminate() };
};

export const nodeHost: KernelHost = {
  name: 'node',
  async wasmBytes(file) {
    const url = new URL(file, BUILD_DIR);
    try {
      return new Uint8Array(await readFile(url));
    } catch {
      throw new Error(`wasm kernels: ${url.pathname} is missing; run \`npm run build:wasm\``);
    }
  },
  /**
   * Compiles with the optimizing compiler from the start. V8 otherwise runs a module first with
   * its baseline compiler and tiers up hot functions per thread of use; worker threads that share
   * the compiled module were measured to stay on baseline code (half the speed), so the baseline
   * compiler is switched off for this one compilation.
   */
  async compile(bytes) {
    v8.setFlagsFromString('--no-liftoff');
    try {
      return await WebAssembly.compile(bytes);
    } finally {
      v8.setFlagsFromString('--liftoff');
    }
  },
  /** Node 20 runs relaxed SIMD only behind a V8 flag; the flag is process-wide, so workers see it too. */
  async enableRelaxedSimd() {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  },
  defaultThreads: () => os.availableParallelism?.() ?? os.cpus().length,
  sharedMemory: sharedMemoryWorks,
  spawnWorker: spawnNodeWorker,
};

export const defaultHost = nodeHost;
