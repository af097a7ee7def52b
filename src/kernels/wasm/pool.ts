// pool.ts: a pool of threads that run the kernels of one WebAssembly module on one shared memory.
//
// The main thread is thread 0; workers are threads 1..n-1. A job is published in a small
// SharedArrayBuffer (the control block): the kernel's index, its arguments (f64) and the thread
// count, then the job counter is bumped and the workers are woken. Each worker spins briefly on
// the counter and then sleeps in Atomics.wait, so that a dispatch costs about a microsecond when
// kernels follow each other and nothing when idle. Each worker calls the kernel with its
// (tid, nt) appended and counts itself done; the main thread does share 0 and waits for them.
//
// A worker is told the job counter's value when it starts (`seq`), so that it never mistakes a
// job posted before it began waiting for an old one. The code here knows no platform API: the
// host (host-node.ts, host-browser.ts) passes in how a worker starts.

import { KERNEL_NAMES } from './abi.js';
import { instantiateKernels } from './module.js';

const SEQ = 0, DONE = 1, FN = 2, NARGS = 3, NT = 4, ERROR = 5, STOP = 6;
const ARGS_OFFSET = 64; // bytes
export const MAX_ARGS = 24;
const CTRL_BYTES = ARGS_OFFSET + 8 * MAX_ARGS;
/** Polls of the job counter before a worker goes to sleep (about a millisecond: longer than the usual JavaScript gap between two kernels of a step, so that the worker is awake when the next job comes). */
const WORKER_SPIN = 200000;
/** Polls of the done counter before the main thread goes to sleep. */
const MAIN_SPIN = 100000;

/** What a worker receives when it starts. */
export interface WorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  tid: number;
  seq: number;
}

/** The handle of a started worker, whatever runs it. */
export interface WorkerHandle {
  ready: Promise<void>;
  terminate(): void;
}

export type SpawnWorker = (start: WorkerStart) => WorkerHandle;

export class ThreadPool {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private closed = false;
  private mayWait = true;

  private constructor(readonly size: number, private readonly ctrl: SharedArrayBuffer, private readonly workers: WorkerHandle[]) {
    this.i32 = new Int32Array(ctrl, 0, ARGS_OFFSET / 4);
    this.f64 = new Float64Array(ctrl, ARGS_OFFSET, MAX_ARGS);
  }

  /** Starts `threads - 1` workers on `memory` and waits until each has instantiated the module. */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, spawn: SpawnWorker): Promise<ThreadPool> {
    const ctrl = new SharedArrayBuffer(CTRL_BYTES);
    const workers: WorkerHandle[] = [];
    for (let tid = 1; tid < threads; tid++) workers.push(spawn({ module, memory, ctrl, tid, seq: 0 }));
    await Promise.all(workers.map((w) => w.ready));
    return new ThreadPool(threads, ctrl, workers);
  }

  /**
   * Runs kernel `fn` on every thread: the workers call it with (...args, tid, size); `local` is
   * share 0, run here. Returns when all threads are done; throws if a worker's kernel threw.
   */
  run(fn: number, args: readonly (number | boolean)[], local: () => void): void {
    if (this.closed) throw new Error('wasm kernels: the thread pool was closed');
    if (args.length > MAX_ARGS) throw new Error(`wasm kernels: more than ${MAX_ARGS} kernel arguments`);
    const c = this.i32;
    for (let i = 0; i < args.length; i++) this.f64[i] = Number(args[i]!);
    c[FN] = fn;
    c[NARGS] = args.length;
    c[NT] = this.size;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    let error: unknown;
    try {
      local();
    } catch (e) {
      error = e;
    }
    const expected = this.workers.length;
    let spins = 0;
    for (let done = Atomics.load(c, DONE); done < expected; done = Atomics.load(c, DONE)) {
      if (++spins > MAIN_SPIN && this.mayWait) this.sleep(done);
    }
    if (error) throw error;
    if (Atomics.exchange(c, ERROR, 0)) {
      throw new Error(`wasm kernels: ${KERNEL_NAMES[fn]} failed on a worker thread (see its error above)`);
    }
  }

  /** Sleeps until the done counter moves from `done` (or a second passes); where this thread may not block, it keeps spinning. */
  private sleep(done: number): void {
    try {
      Atomics.wait(this.i32, DONE, done, 1000);
    } catch {
      this.mayWait = false; // a browser page's main thread: Atomics.wait is refused there
    }
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.i32, STOP, 1);
    Atomics.add(this.i32, SEQ, 1);
    Atomics.notify(this.i32, SEQ);
    for (const w of this.workers) w.terminate();
  }
}

/** The loop of a worker thread (call it from the worker's entry once `start` has arrived). */
export function runWorker(start: WorkerStart, onReady: () => void): void {
  const kernels = instantiateKernels(start.module, start.memory);
  const table = KERNEL_NAMES.map((name) => kernels[name] as (...args: number[]) => unknown); // called with the numbers of the control block
  const c = new Int32Array(start.ctrl, 0, ARGS_OFFSET / 4);
  const f64 = new Float64Array(start.ctrl, ARGS_OFFSET, MAX_ARGS);
  const args: number[] = [];
  let seq = start.seq;
  onReady();
  for (;;) {
    let spins = 0;
    let now = Atomics.load(c, SEQ);
    while (now === seq) {
      if (++spins > WORKER_SPIN) Atomics.wait(c, SEQ, seq);
      now = Atomics.load(c, SEQ);
    }
    seq = now;
    if (Atomics.load(c, STOP)) return;
    const nt = c[NT]!;
    if (start.tid < nt) {
      args.length = 0;
      for (let i = 0; i < c[NARGS]!; i++) args.push(f64[i]!);
      args.push(start.tid, nt);
      try {
        table[c[FN]!]!(...args);
      } catch (e) {
        console.error(`wasm kernels: worker ${start.tid}: ${KERNEL_NAMES[c[FN]!]}: ${e instanceof Error ? e.message : String(e)}`);
        Atomics.store(c, ERROR, 1);
      }
    }
    Atomics.add(c, DONE, 1);
    Atomics.notify(c, DONE);
  }
}
