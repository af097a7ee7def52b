// Builds the browser app (web/) into build/web/ with esbuild: the page's script (app.js), the
// Web Worker that trains and predicts (worker.js), the wasm kernel set's thread entry
// (kernel-worker.js), the HTML and CSS. The kernel modules
// (build/*.wasm, from build-wasm.mjs) and the data (assets/) are served beside it by `resnet serve`.
//
// The bundles must not reach Node: an import of a `node:` module or of a Node-only package (a
// file, worker_threads, sharp) anywhere in the graph fails the build, naming the importer.
//
//   node tools/build-web.mjs [--sizes]     --sizes: print each file's size and gzipped size
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build', 'web');
mkdirSync(outDir, { recursive: true });

const NODE_ONLY_PACKAGES = ['sharp', 'tar', 'onnxruntime-node'];
const builtins = new Set(builtinModules);

/** Fails the build on any import of Node's modules or of packages that need Node. */
const noNode = {
  name: 'no-node',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.split('/')[0];
      const nodeOnly = args.path.startsWith('node:') || builtins.has(args.path) || builtins.has(bare) || NODE_ONLY_PACKAGES.includes(bare);
      if (!nodeOnly || args.kind === 'entry-point') return undefined;
      return {
        errors: [{
          text: `the browser build imports the Node-only module '${args.path}' (from ${relative(root, args.importer)}); ` +
            'keep it behind the Node host so that the browser graph never reaches it',
        }],
      };
    });
  },
};

/** The library's '#kernel-host' import (package.json "imports") from its sources: the browser host. */
const kernelHost = {
  name: 'kernel-host',
  setup(build) {
    build.onResolve({ filter: /^#kernel-host$/ }, () => ({ path: join(root, 'src', 'kernels', 'wasm', 'host-browser.ts') }));
  },
};

const result = await esbuild.build({
  entryPoints: {
    app: join(root, 'web', 'app.ts'),
    worker: join(root, 'web', 'worker.ts'),
    'kernel-worker': join(root, 'src', 'kernels', 'wasm', 'worker-browser.ts'),
  },
  outdir: outDir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [kernelHost, noNode],
  tsconfig: join(root, 'web', 'tsconfig.json'),
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(outDir, f));

/** What a first visit downloads, gzipped: the page, its scripts and one kernel module (maps and data excluded). */
export function downloadSizes() {
  const files = readdirSync(outDir).filter((f) => !f.endsWith('.map')).map((f) => join(outDir, f));
  const wasm = readdirSync(join(root, 'build')).filter((f) => f.endsWith('.wasm')).map((f) => join(root, 'build', f));
  const size = (f) => ({ file: relative(root, f), bytes: statSync(f).size, gzip: gzipSync(readFileSync(f), { level: 9 }).length });
  return { app: files.map(size), wasm: wasm.map(size) };
}

if (process.argv.includes('--sizes')) {
  const { app, wasm } = downloadSizes();
  for (const s of [...app, ...wasm]) console.log(`${s.file.padEnd(32)} ${String(s.bytes).padStart(9)} B  gzip ${String(s.gzip).padStart(8)} B`);
  const total = app.reduce((a, s) => a + s.gzip, 0) + Math.max(...wasm.map((s) => s.gzip));
  console.log(`download (page, scripts and one kernel module, gzipped): ${(total / 1024).toFixed(1)} KiB`);
} else {
  const out = Object.keys(result.metafile.outputs).filter((f) => !f.endsWith('.map')).map((f) => relative(root, f));
  console.log(`build-web: ${out.join(', ')}`);
}
