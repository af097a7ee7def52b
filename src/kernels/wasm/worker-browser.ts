// worker-browser.ts: the entry of a kernel worker in a browser (a module Web Worker). Its first
// message is its WorkerStart (the compiled module, the shared memory, the control block); it
// answers 'ready' and runs the pool's job loop (pool.ts), blocking in Atomics.wait between jobs.
// A web app bundles this file on its own and gives its URL to browserHost({ workerUrl }).

import { runWorker, type WorkerStart } from './pool.js';

interface WorkerScope {
  addEventListener(type: 'message', listener: (e: { data: WorkerStart }) => void, options: { once: boolean }): void;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.addEventListener('message', (e) => runWorker(e.data, () => scope.postMessage('ready')), { once: true });
