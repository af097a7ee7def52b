// The kernel sets the tests run on: one list. The reference set (plain TypeScript) is the living
// definition; every set in KERNEL_SETS is checked against it kernel by kernel (kernels-wasm) and
// op by op (conformance), and all of them against PyTorch (parity). Each set
// is made once per test file and disposed of when the file's tests end.

import { after } from 'node:test';
import type { KernelSet } from '../src/kernels/contract.js';
import { refKernels } from '../src/kernels/ref/index.js';
import { createWasmKernels, type WasmKernelSet } from '../src/kernels/wasm/index.js';

export const REFERENCE = refKernels as KernelSet;

/** The kernel sets held to the reference. */
export const KERNEL_SETS: { label: string; make: () => Promise<WasmKernelSet> }[] = [
  { label: 'wasm, 2 threads', make: () => createWasmKernels({ threads: 2 }) },
  { label: 'wasm, 1 thread, simd (no relaxed)', make: () => createWasmKernels({ threads: 1, variant: 'simd' }) },
  { label: 'wasm, unshared memory (the no-SharedArrayBuffer fallback)', make: () => createWasmKernels({ variant: 'single' }) },
];

const made = new Map<string, Promise<WasmKernelSet>>();
let disposing = false;

/** The set of KERNEL_SETS labelled `label`, made on first use. */
export function kernelSet(label: string): Promise<WasmKernelSet> {
  const entry = KERNEL_SETS.find((s) => s.label === label);
  if (!entry) throw new Error(`no kernel set '${label}'`);
  if (!made.has(label)) {
    made.set(label, entry.make());
    if (!disposing) {
      disposing = true;
      after(async () => {
        for (const set of made.values()) (await set).dispose();
      });
    }
  }
  return made.get(label)!;
}

/**
 * The sets checked against PyTorch: the reference and every set of KERNEL_SETS (their thread counts
 * and builds sum in different orders, and each must stay within the parity tolerances).
 */
export async function paritySets(): Promise<KernelSet[]> {
  return [REFERENCE, ...(await Promise.all(KERNEL_SETS.map((s) => kernelSet(s.label))))];
}
