// Batches for training and evaluation: per-epoch seeded shuffling, NCHW float32 batches, optional
// drop-last, augmentation prepared ahead in a worker thread (prefetch) or in process. Both paths
// give the same batches (batch.ts says how the random streams are keyed).
//
//   const loader = new Loader({ dataset, transform, batchSize: 128, seed: 1 });
//   for (;;) { const b = await loader.next(); ...; checkpoint.loader = loader.position; }
//   await loader.close();
//   // resume: new Loader({ ..., start: checkpoint.loader })

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildBatch, epochOrder, type BatchData } from './batch.js';
import type { Dataset } from './dataset.js';
import type { WorkerInit, WorkerRequest } from './loader-worker.js';
import { readLimits } from '../io/limits.js';
import type { TransformSpec } from './transforms.js';

export interface LoaderPosition {
  epoch: number; // 0-based
  batchIndex: number; // 0-based, within the epoch
}

export interface Batch extends BatchData, LoaderPosition {}

export interface LoaderOptions {
  dataset: Dataset;
  transform: TransformSpec;
  batchSize: number;
  seed: number;
  shuffle?: boolean; // default true
  dropLast?: boolean; // default false: the last batch of an epoch may be smaller
  /**
   * Prepare batches in a worker thread. Default: yes when the dataset has a working spec() and the
   * compiled worker file exists, else in process (same batches either way). true: a worker or an error.
   */
  worker?: boolean;
  prefetch?: number; // batches prepared ahead by the worker, default 2
  start?: LoaderPosition; // the first batch to give, default { epoch: 0, batchIndex: 0 }
}

export class Loader {
  readonly batchesPerEpoch: number;
  private pos: LoaderPosition;
  private order: { epoch: number; indices: Int32Array } | null = null;
  private readonly shuffle: boolean;
  private readonly prefetch: number;
  private worker: Worker | null = null;
  private nextId = 0;
  private pending = new Map<number, { resolve: (b: BatchData) => void; reject: (e: Error) => void }>();
  private ahead: { pos: LoaderPosition; batch: Promise<BatchData> }[] = [];
  private failure: Error | null = null;

  constructor(private readonly opts: LoaderOptions) {
    const { dataset, batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`Loader: batchSize must be a positive integer, got ${batchSize}`);
    this.shuffle = opts.shuffle ?? true;
    this.batchesPerEpoch = opts.dropLast ? Math.floor(dataset.size / batchSize) : Math.ceil(dataset.size / batchSize);
    if (this.batchesPerEpoch === 0) throw new Error(`Loader: ${dataset.size} samples make no batch of ${batchSize} with dropLast`);
    this.prefetch = Math.max(1, opts.prefetch ?? 2);
    this.pos = { epoch: 0, batchIndex: 0 };
    this.seek(opts.start ?? this.pos);
    if (opts.worker ?? workerPossible(dataset)) this.startWorker();
  }

  /** The position of the batch that next() gives; save it after using a batch to resume after it. */
  get position(): LoaderPosition {
    return { ...this.pos };
  }

  get usesWorker(): boolean {
    return this.worker !== null;
  }

  /** Moves to a position; batches prepared ahead for other positions are dropped. */
  seek(pos: LoaderPosition): void {
    if (!Number.isInteger(pos.epoch) || pos.epoch < 0 || !Number.isInteger(pos.batchIndex) || pos.batchIndex < 0 || pos.batchIndex > this.batchesPerEpoch) {
      throw new Error(`Loader: bad position ${JSON.stringify(pos)} (${this.batchesPerEpoch} batches per epoch)`);
    }
    this.pos = pos.batchIndex === this.batchesPerEpoch ? { epoch: pos.epoch + 1, batchIndex: 0 } : { ...pos };
    this.ahead = [];
  }

  /** The next batch; after the last batch of an epoch comes the first of the next epoch. */
  async next(): Promise<Batch> {
    if (this.failure) throw this.failure;
    const pos = this.pos;
    this.pos = this.after(pos);
    let batch: Promise<BatchData>;
    if (this.worker) {
      if (this.ahead.length === 0 || !same(this.ahead[0].pos, pos)) this.ahead = [{ pos, batch: this.request(pos) }];
      batch = this.ahead.shift()!.batch;
      // Keep `prefetch` batches in flight behind this one.
      let last = this.ahead.length ? this.ahead[this.ahead.length - 1].pos : pos;
      while (this.ahead.length < this.prefetch) {
        last = this.after(last);
        this.ahead.push({ pos: last, batch: this.request(last) });
      }
    } else {
      batch = buildBatch(this.opts.dataset, this.opts.transform, this.indicesOf(pos), this.opts.seed, pos.epoch, pos.batchIndex);
    }
    return { ...(await batch), ...pos };
  }

  /** The remaining batches of the current epoch. */
  async *epoch(): AsyncGenerator<Batch> {
    const e = this.pos.epoch;
    while (this.pos.epoch === e) yield await this.next();
  }

  /** Stops the worker (also safe to skip: the worker never keeps the process alive while idle). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ahead = [];
    this.rejectAll(new Error('Loader closed')); // first: late answers then find nothing pending and leave the ref alone
    if (w) {
      w.ref(); // an unref'd worker would let the process exit before terminate() settles
      await w.terminate();
    }
  }

  private after(pos: LoaderPosition): LoaderPosition {
    return pos.batchIndex + 1 < this.batchesPerEpoch ? { epoch: pos.epoch, batchIndex: pos.batchIndex + 1 } : { epoch: pos.epoch + 1, batchIndex: 0 };
  }

  /** The dataset indices of the batch at pos. */
  private indicesOf(pos: LoaderPosition): Int32Array {
    if (!this.order || this.order.epoch !== pos.epoch) {
      this.order = { epoch: pos.epoch, indices: epochOrder(this.opts.dataset.size, this.opts.seed, pos.epoch, this.shuffle) };
    }
    const b = this.opts.batchSize;
    return this.order.indices.slice(pos.batchIndex * b, Math.min((pos.batchIndex + 1) * b, this.opts.dataset.size));
  }

  private startWorker(): void {
    const spec = this.opts.dataset.spec?.();
    if (!spec) throw new Error('Loader: worker requested but the dataset has no spec(); pass worker: false');
    const init: WorkerInit = { dataset: spec, transform: this.opts.transform, seed: this.opts.seed, readLimits: readLimits() };
    const w = new Worker(WORKER_URL, { workerData: init });
    w.on('message', (msg: { id: number; batch?: BatchData; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p || this.worker !== w) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) w.unref();
      if (msg.batch) p.resolve(msg.batch);
      else p.reject(new Error(`Loader worker: ${msg.error}`));
    });
    w.on('error', (e) => this.fail(e));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(new Error(`Loader worker exited with code ${code}`));
    });
    // Referenced only while a request is pending (see request()), so idle loaders never hold the
    // process. After the listeners: adding a 'message' listener refs the worker again.
    w.unref();
    this.worker = w;
  }

  private request(pos: LoaderPosition): Promise<BatchData> {
    const w = this.worker!;
    const id = this.nextId++;
    const msg: WorkerRequest = { id, indices: this.indicesOf(pos), epoch: pos.epoch, batchIndex: pos.batchIndex };
    if (this.pending.size === 0) w.ref();
    const promise = new Promise<BatchData>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    promise.catch(() => {}); // prefetched batches that are dropped must not be unhandled rejections
    w.postMessage(msg);
    return promise;
  }

  private fail(e: Error): void {
    this.failure = e;
    this.worker = null;
    this.rejectAll(e);
  }

  private rejectAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

const WORKER_URL = new URL('./loader-worker.js', import.meta.url);

/** The default: a worker when the dataset can be described and the compiled worker file exists (not when run from .ts sources). */
function workerPossible(dataset: Dataset): boolean {
  if (!existsSync(fileURLToPath(WORKER_URL))) return false;
  try {
    return dataset.spec?.() !== undefined;
  } catch {
    return false;
  }
}

function same(a: LoaderPosition, b: LoaderPosition): boolean {
  return a.epoch === b.epoch && a.batchIndex === b.batchIndex;
}
