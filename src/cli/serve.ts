// `resnet serve` (npm run web): serves the browser app (built by `npm run build:web` into
// build/web/) with the kernel modules and the bundled Fashion-MNIST sample, and prints its URL.
//
// The responses carry the cross-origin isolation headers (COOP same-origin, COEP require-corp),
// without which a page gets no SharedArrayBuffer and the wasm kernels run on one thread.
// `--no-isolation` leaves them out (to see, or test, the single-thread fallback).

import { createReadStream, existsSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, intFlag, parseFlags } from './command.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/src/cli → the package root

/** URL prefix → directory; the first match wins. */
const MOUNTS: [string, string][] = [
  ['/wasm/', join(ROOT, 'build')],
  ['/data/', join(ROOT, 'assets')],
  ['/', join(ROOT, 'build', 'web')],
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.gz': 'application/octet-stream', // the IDX files are fetched as bytes and gunzipped by the page
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true). */
  isolation?: boolean;
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The file a URL path names, or null when it is outside the mounts or missing. */
function resolvePath(urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    return null;
  }
  if (path.endsWith('/')) path += 'index.html';
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir + sep)) return null;
    return existsSync(file) && statSync(file).isFile() ? file : null;
  }
  return null;
}

/** Starts the app's server; port 0 picks a free one. */
export function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const index = join(ROOT, 'build', 'web', 'index.html');
  if (!existsSync(index)) throw new Error(`${index} is missing: build the app with \`npm run build:web\` (or \`npm run build\`)`);
  const isolation = o.isolation ?? true;
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { 'Cache-Control': 'no-cache' };
    if (isolation) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    const file = resolvePath(req.url ?? '/');
    if (!file) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  const host = o.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(e.code === 'EADDRINUSE' ? `port ${o.port} is in use: choose another with --port N` : e.message));
    });
    server.listen(o.port ?? 8080, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : o.port;
      const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}/`,
        server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the browser app (train, inspect, predict in a web page) and print its URL',
  usage: `Usage: resnet serve [--port N] [--host H] [--no-isolation]

Serves the browser app built into build/web/ (\`npm run build\` builds it; \`npm run web\` builds
and serves). Open the printed URL in a browser: train a CIFAR net on the bundled Fashion-MNIST
sample, save and load weights, inspect a net, classify images.

  --port N               port to listen on (default 8080; 0: any free port)
  --host H               address to listen on (default 127.0.0.1; 0.0.0.0 for other machines;
                         browsers isolate only https pages and localhost)
  --no-isolation         leave out the cross-origin isolation headers (COOP/COEP): the page then
                         has no SharedArrayBuffer and runs the single-thread kernels`,
  async run(argv) {
    const { values } = parseFlags(argv, { port: { type: 'string' }, host: { type: 'string' }, 'no-isolation': { type: 'boolean' } });
    const port = intFlag(values.port, '--port', 8080, { min: 0, max: 65535 });
    const running = await startServer({ port, host: values.host, isolation: !values['no-isolation'] });
    console.log(`resnet-ts app: ${running.url}${values['no-isolation'] ? ' (no cross-origin isolation: single-thread kernels)' : ''}`);
    console.log('Ctrl-C stops the server.');
    await new Promise<void>((resolve) => process.once('SIGINT', () => { void running.close().then(resolve); }));
  },
};
