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

export async function loadKernels(options: BackendOptions = {}): Promise<KernelSet> {
  const name = options.backend ?? 'wasm';
  if (!BACKENDS.includes(name)) throw new Error(`unknown backend '${name}'; choose one of ${BACKENDS.join(', ')}`);
  if (name === 'ref') return refKernels as KernelSet;
  const key = `wasm:${options.threads ?? 'auto'}`;
  let set = loaded.get(key);
  if (!set) {
    const wasm = await import('./wasm/index.js');
    set = await wasm.createWasmKernels({ threads: options.threads });
    loaded.set(key, set);
  }
  return set;
}
