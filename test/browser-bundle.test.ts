// The engine in a browser bundle: the kernel sets, tensors, ops, networks and optimizer, with the
// browser host of the wasm set (host-browser.ts) and its worker entry, bundle with esbuild for
// the browser without a single node: module or Node host (package.json's '#kernel-host' import
// picks the browser host under the "browser" condition).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function bundle(contents: string): Promise<{ inputs: string[]; code: string }> {
  const r = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'js' },
    bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent',
  });
  return { inputs: Object.keys(r.metafile.inputs), code: r.outputFiles[0]!.text };
}

function assertBrowserOnly(b: { inputs: string[]; code: string }): void {
  assert.deepEqual(b.inputs.filter((f) => f.startsWith('node:') || /host-node|worker-node/.test(f)), []);
  assert.doesNotMatch(b.code, /["']node:/);
}

describe('the engine bundles for the browser', () => {
  it('kernel loading with the browser host, tensors, ops, networks, SGD: no node: module', async () => {
    const b = await bundle(`
      export { loadKernels } from './dist/src/kernels/select.js';
      export { createWasmKernels } from './dist/src/kernels/wasm/index.js';
      export { browserHost } from './dist/src/kernels/wasm/host-browser.js';
      export * from './dist/src/tensor/tensor.js';
      export * from './dist/src/tensor/engine.js';
      export * as ops from './dist/src/ops/index.js';
      export * from './dist/src/models/resnet.js';
      export * from './dist/src/optim/sgd.js';
    `);
    assertBrowserOnly(b);
    assert.ok(b.inputs.some((f) => f.endsWith('kernels/wasm/host-browser.js')), 'the default host of the bundle is the browser one');
    assert.ok(b.inputs.some((f) => f.endsWith('kernels/wasm/pool.js')), 'the worker pool is in the bundle');
  });

  it('the kernel worker entry: no node: module', async () => {
    const b = await bundle(`import './dist/src/kernels/wasm/worker-browser.js';`);
    assertBrowserOnly(b);
    assert.ok(b.inputs.some((f) => f.endsWith('kernels/wasm/pool.js')));
  });
});
