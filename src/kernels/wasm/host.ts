// host.ts: what the WebAssembly kernel set needs from the platform it runs on, behind one small
// interface. The kernel set itself (index.ts, module.ts, pool.ts, memory.ts) uses no platform
// API; a host reads the module's bytes and starts worker threads.
//
//   host-node.ts     files from build/, worker_threads          (the default in Node)
//   host-browser.ts  fetch() by URL, Web Workers                 (the default in a browser bundle)
//
// The default is chosen by package.json's "imports" entry '#kernel-host' under the "browser"
// condition, so a browser bundle never sees the Node host (nor any node: module), and Node never
// loads the browser one.

import type { SpawnWorker } from './pool.js';

/** A platform the wasm kernel set can run on. */
export interface KernelHost {
  /** For messages: 'node', 'browser'. */
  readonly name: string;
  /** The bytes of one build of the kernel module, by its file name (e.g. 'kernels-simd.wasm'). */
  wasmBytes(file: string): Promise<Uint8Array<ArrayBuffer>>;
  /** Compiles the module (a host may tune its compiler here). */
  compile(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module>;
  /** Makes relaxed SIMD available where it sits behind a flag (Node 20); does nothing elsewhere. */
  enableRelaxedSimd(): Promise<void>;
  /** Threads to use when none are asked for. */
  defaultThreads(): number;
  /** Whether threads may share memory here (SharedArrayBuffer present; in a browser, cross-origin isolated). */
  sharedMemory(): boolean;
  /** Starts one kernel worker thread; undefined where this host cannot start threads. */
  readonly spawnWorker: SpawnWorker | undefined;
}

/** True when a shared WebAssembly memory can be made here. */
export function sharedMemoryWorks(): boolean {
  try {
    if (typeof SharedArrayBuffer === 'undefined') return false;
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}
