// The kernel sets the tests run on: one list. The reference set (plain TypeScript) is the living
// definition; every set in KERNEL_SETS is checked against it kernel by kernel (kernels-wasm) and
// op by op (conformance), and the reference and the first set against PyTorch (parity). Each set
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

/** The reference and the first set of KERNEL_SETS: the sets checked against PyTorch. */
export async function paritySets(): Promise<KernelSet[]> {
  return [REFERENCE, await kernelSet(KERNEL_SETS[0]!.label)];
}
