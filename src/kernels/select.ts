// Choosing a kernel set at run time: `--backend ref|wasm`, default the fastest available.

import type { KernelSet } from './contract.js';
import { refKernels } from './ref/index.js';

export const BACKENDS = ['ref', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendOptions {
  backend?: BackendName;
  /** Worker threads for the wasm set (default: the number of cores). */
  threads?: number;
}

const loaded = new Map<string, KernelSet>();

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
    return await loadWasm(options.threads);
  } catch (e) {
    if (name === 'wasm') throw new Error(`the wasm kernel set did not load: ${(e as Error).message}`);
    console.warn(`resnet-ts: using the slow reference kernels (wasm kernel set unavailable: ${(e as Error).message})`);
    return refKernels as KernelSet;
  }
}

async function loadWasm(threads: number | undefined): Promise<KernelSet> {
  const key = `wasm:${threads ?? 'auto'}`;
  let set = loaded.get(key);
  if (set === undefined) {
    const wasm = await import('./wasm/index.js');
    set = await wasm.createWasmKernels({ threads });
    loaded.set(key, set);
  }
  return set;
}
