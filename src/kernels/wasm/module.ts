// module.ts: finds, validates and compiles the WebAssembly kernel module built by
// tools/build-wasm.mjs (its bytes come from the host, host.ts); its exports are typed by abi.ts.

import type { KernelExports } from './abi.js';
import type { KernelHost } from './host.js';

/** Which build of assembly/ runs: fused multiply-add, plain SIMD, or plain SIMD without threads. */
export type WasmVariant = 'relaxed' | 'simd' | 'single';

const FILES: Record<WasmVariant, string> = {
  relaxed: 'kernels-relaxed.wasm',
  simd: 'kernels-simd.wasm',
  single: 'kernels-single.wasm',
};

/**
 * Compiles the best variant this host runs: relaxed SIMD when it validates (after the host enables
 * it, on Node 20), else plain SIMD; `single` when shared memory is unavailable. `prefer` forces one.
 */
export async function compileKernelModule(host: KernelHost, shared: boolean, prefer?: WasmVariant): Promise<{ module: WebAssembly.Module; variant: WasmVariant }> {
  let order: WasmVariant[] = shared ? ['relaxed', 'simd'] : ['single'];
  if (prefer) order = [prefer];
  for (const variant of order) {
    const bytes = await host.wasmBytes(FILES[variant]);
    let ok = WebAssembly.validate(bytes);
    if (!ok && variant === 'relaxed') {
      await host.enableRelaxedSimd();
      ok = WebAssembly.validate(bytes);
    }
    if (ok) return { module: await host.compile(bytes), variant };
  }
  throw new Error(`wasm kernels: this host runs none of the variants ${order.join(', ')} (WebAssembly SIMD is required)`);
}

/** Instantiates the module on `memory` and returns its kernels by name. */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
