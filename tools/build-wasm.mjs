// Builds the WebAssembly kernel module (assembly/) into build/, in two variants:
//   build/kernels-simd.wasm     SIMD128, separate multiply and add
//   build/kernels-relaxed.wasm  SIMD128 + relaxed SIMD (fused multiply-add, 6×8 GEMM tiles)
//   build/kernels-single.wasm   SIMD128 on an unshared memory, for hosts without SharedArrayBuffer
// The loader (src/kernels/wasm/module.ts) validates the relaxed one and falls back to the simd one.
// The first two import a shared memory ("env.memory") and contain no data, so that every thread
// of the worker pool can instantiate them on the same memory.
import asc from 'assemblyscript/asc';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build');
mkdirSync(outDir, { recursive: true });

const common = [
  join(root, 'assembly', 'index.ts'),
  '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--importMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  '--disableWarning', '112', // v128 arguments of internal helpers (never exported to the host)
];
const variants = [
  { file: 'kernels-simd.wasm', flags: ['--sharedMemory', '--enable', 'threads,simd'] },
  { file: 'kernels-relaxed.wasm', flags: ['--sharedMemory', '--enable', 'threads,simd,relaxed-simd'] },
  { file: 'kernels-single.wasm', flags: ['--enable', 'simd'] },
];

for (const v of variants) {
  const { error, stderr } = await asc.main([...common, ...v.flags, '-o', join(outDir, v.file)]);
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${v.file} failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`build-wasm: build/${v.file}`);
}
