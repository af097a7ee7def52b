// module.ts: finds, validates and compiles the WebAssembly kernel module built by
// tools/build-wasm.mjs, and names its exports (the worker pool calls them by index).

/** Which build of assembly/ runs: fused multiply-add, plain SIMD, or plain SIMD without threads. */
export type WasmVariant = 'relaxed' | 'simd' | 'single';

const FILES: Record<WasmVariant, string> = {
  relaxed: 'kernels-relaxed.wasm',
  simd: 'kernels-simd.wasm',
  single: 'kernels-single.wasm',
};

/** The exports of assembly/index.ts, in a fixed order shared by the main thread and the workers. */
export const KERNEL_NAMES = [
  'packA', 'matmulPacked', 'matmulScratch',
  'conv2dForward', 'conv2dForwardScratch', 'packFlippedWeights',
  'conv2dBackwardInputCol2im', 'conv2dBackwardInputScratch',
  'conv2dBackwardWeight', 'conv2dBackwardWeightScratch',
  'fill', 'copy', 'add', 'mul', 'axpy', 'scale', 'relu', 'reluBackward', 'sum', 'addBiasRows', 'sumRows', 'sgdStep',
  'batchNormTrain', 'batchNormEval', 'batchNormBackward',
  'maxPool2d', 'maxPool2dBackward', 'globalAvgPool', 'globalAvgPoolBackward', 'shortcutA', 'shortcutABackward',
  'conv2dBackwardWeightReduce', 'conv2dBackwardWeightPartial',
] as const;
export type KernelName = typeof KERNEL_NAMES[number];
export type KernelExports = Record<KernelName, (...args: number[]) => number>;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Node 20 runs relaxed SIMD only behind a V8 flag; the flag is process-wide, so workers see it too. */
async function enableRelaxedSimd(): Promise<void> {
  if (!isNode) return;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/**
 * Compiles with the optimizing compiler from the start. V8 otherwise runs a module first with its
 * baseline compiler and tiers up hot functions per thread of use; worker threads that share the
 * compiled module were measured to stay on baseline code (half the speed), so on Node the
 * baseline compiler is switched off for this one compilation.
 */
async function compileOptimized(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  if (!isNode) return WebAssembly.compile(bytes);
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--no-liftoff');
  try {
    return await WebAssembly.compile(bytes);
  } finally {
    v8.setFlagsFromString('--liftoff');
  }
}

async function readBytes(file: string): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL(`../../../../build/${file}`, import.meta.url); // dist/src/kernels/wasm → build/
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
    try {
      return new Uint8Array(await readFile(url));
    } catch {
      throw new Error(`wasm kernels: ${url.pathname} is missing; run \`npm run build:wasm\``);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`wasm kernels: cannot fetch ${url} (${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Compiles the best variant this host runs: relaxed SIMD when it validates (after enabling it on
 * Node 20), else plain SIMD; `single` when shared memory is unavailable. `prefer` forces one.
 */
export async function compileKernelModule(shared: boolean, prefer?: WasmVariant): Promise<{ module: WebAssembly.Module; variant: WasmVariant }> {
  let order: WasmVariant[] = shared ? ['relaxed', 'simd'] : ['single'];
  if (prefer) order = [prefer];
  for (const variant of order) {
    const bytes = await readBytes(FILES[variant]);
    let ok = WebAssembly.validate(bytes);
    if (!ok && variant === 'relaxed') {
      await enableRelaxedSimd();
      ok = WebAssembly.validate(bytes);
    }
    if (ok) return { module: await compileOptimized(bytes), variant };
  }
  throw new Error(`wasm kernels: this host runs none of the variants ${order.join(', ')} (WebAssembly SIMD is required)`);
}

/** Instantiates the module on `memory` and returns its kernels by name. */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
