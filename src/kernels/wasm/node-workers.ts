// node-workers.ts: spawns kernel worker threads with Node's worker_threads (the pool itself,
// pool.ts, knows no Node API). Workers are unref'd, so an idle pool never keeps a process alive.

import { Worker } from 'node:worker_threads';
import type { SpawnWorker } from './pool.js';

export const spawnNodeWorker: SpawnWorker = (start) => {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: start });
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`wasm kernels: worker ${start.tid} exited (${code}) before it was ready`)));
  });
  ready.then(() => worker.unref(), () => undefined);
  worker.on('error', (e) => console.error(`wasm kernels: worker ${start.tid}: ${e.message}`));
  return { ready, terminate: () => void worker.terminate() };
};
