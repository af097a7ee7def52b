// The kernel sets every conformance and parity test runs on. One list, no exclusions.

import type { KernelSet } from '../src/kernels/contract.js';
import { refKernels } from '../src/kernels/ref/index.js';
import { loadKernels } from '../src/kernels/select.js';

export async function kernelSetsUnderTest(): Promise<KernelSet[]> {
  return [refKernels as KernelSet, await loadKernels({ backend: 'wasm' })];
}
