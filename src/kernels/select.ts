// Choosing a kernel set at run time: `--backend ref|wasm`, default the fastest available.

import type { KernelSet } from './contract.js';
import { refKernels } from './ref/index.js';
import type { KernelHost } from './wasm/host.js';

export const BACKENDS = ['ref', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendOptions {
  backend?: BackendName;
  /** Worker threads for the wasm set (default: the number of cores). */
  threads?: number;
  /** Where the wasm set finds its module and starts its threads (default: this platform's host; in a web app, `browserHost({...})` with the app's URLs). */
  host?: KernelHost;
}

const loaded = new Map<string, Promise<KernelSet>>();
const hostIds = new WeakMap<KernelHost, number>();
let hostCount = 0;

/**
 * The kernel set to compute on. Without a choice, the fastest that loads here: the
 * wasm set, or the reference set (with a one-line warning) where WebAssembly SIMD
 * is unavailable. An explicit choice that cannot load is an error.
 */
export async function loadKernels(options: BackendOptions = {}): Promise<KernelSet> {
  const name = options.backend;
  if (name !== undefined && !BACKENDS.includes(name)) throw new Error(`unknown backend '${name}'; choose one of ${BACKENDS.join(', ')}`);
  if (name === 'ref') return refKernels as KernelSet;
  try {
    return await loadWasm(options.threads, options.host);
  } catch (e) {
    if (name === 'wasm') throw new Error(`the wasm kernel set did not load: ${(e as Error).message}`);
    console.warn(`resnet-ts: using the slow reference kernels (wasm kernel set unavailable: ${(e as Error).message})`);
    return refKernels as KernelSet;
  }
}

/** One wasm set per (threads, host), made once. */
function loadWasm(threads: number | undefined, host: KernelHost | undefined): Promise<KernelSet> {
  let hostId = 0;
  if (host) {
    if (!hostIds.has(host)) hostIds.set(host, ++hostCount);
    hostId = hostIds.get(host)!;
  }
  const key = `wasm:${threads ?? 'auto'}:${hostId}`;
  let set = loaded.get(key);
  if (set === undefined) {
    set = import('./wasm/index.js').then((wasm) => wasm.createWasmKernels({ threads, host }));
    set.catch(() => loaded.delete(key));
    loaded.set(key, set);
  }
  return set;
}
