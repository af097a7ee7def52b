// host-browser.ts: the browser host of the wasm kernel set (see host.ts): the module's bytes are
// fetched by URL and workers are module Web Workers (worker-browser.ts). No Node API here.
//
// Threads need a shared memory, which a page has only when it is cross-origin isolated (served
// with COOP/COEP headers). Elsewhere the kernel set falls back to the unshared single-thread
// build; the set's `threads` and `variant` say which one runs, for the page to show.

import { type KernelHost, sharedMemoryWorks } from './host.js';
import type { SpawnWorker } from './pool.js';

export interface BrowserHostOptions {
  /** Where build/*.wasm are served (a folder URL ending in '/'); default: build/ of this package, as laid out on disk. */
  wasmBase?: string | URL;
  /** URL of the bundled worker-browser.ts; default: worker-browser.js next to this module. */
  workerUrl?: string | URL;
  /** Threads when none are asked for; default: navigator.hardwareConcurrency. */
  threads?: number;
}

/** The parts of the browser's globals used here (typed locally: the library builds without the DOM types). */
interface BrowserGlobals {
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  location?: { href: string };
  Worker?: new (url: string | URL, options: { type: 'module'; name?: string }) => BrowserWorker;
}
interface BrowserWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  onmessage: ((e: unknown) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
}

const g = globalThis as unknown as BrowserGlobals;

function resolve(url: string | URL, base: string | URL): URL {
  return new URL(url, base);
}

/** A browser host; options say where the app serves the module builds and the worker entry. */
export function browserHost(opts: BrowserHostOptions = {}): KernelHost {
  const here = import.meta.url;
  const wasmBase = resolve(opts.wasmBase ?? '../../../../build/', g.location?.href ?? here);
  const workerUrl = resolve(opts.workerUrl ?? new URL('./worker-browser.js', here), g.location?.href ?? here);
  const WorkerCtor = g.Worker;
  const spawnWorker: SpawnWorker | undefined = WorkerCtor && ((start) => {
    const worker = new WorkerCtor(workerUrl, { type: 'module', name: `wasm kernels ${start.tid}` });
    const ready = new Promise<void>((ok, fail) => {
      worker.onmessage = () => ok();
      worker.onerror = (e) => fail(new Error(`wasm kernels: worker ${start.tid} (${workerUrl}) failed to start: ${e.message ?? 'no message'}`));
    });
    worker.postMessage(start);
    return { ready, terminate: () => worker.terminate() };
  });
  return {
    name: 'browser',
    async wasmBytes(file) {
      const url = new URL(file, wasmBase);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`wasm kernels: cannot fetch ${url} (HTTP ${res.status})`);
      return new Uint8Array(await res.arrayBuffer());
    },
    compile: (bytes) => WebAssembly.compile(bytes),
    async enableRelaxedSimd() {},
    defaultThreads: () => opts.threads ?? g.navigator?.hardwareConcurrency ?? 1,
    sharedMemory: () => g.crossOriginIsolated !== false && sharedMemoryWorks(),
    spawnWorker,
  };
}

export const defaultHost: KernelHost = browserHost();
