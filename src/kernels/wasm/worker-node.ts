// worker-node.ts: the entry of a kernel worker thread in Node (worker_threads). It receives its
// WorkerStart as workerData, instantiates the kernel module on the shared memory and runs the
// pool's job loop (pool.ts) until the pool stops it.

import { parentPort, workerData } from 'node:worker_threads';
import { runWorker, type WorkerStart } from './pool.js';

runWorker(workerData as WorkerStart, () => parentPort!.postMessage('ready'));
