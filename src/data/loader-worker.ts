// The loader's worker thread: re-opens the dataset from its spec, then answers batch requests
// with buildBatch (the same code as the in-process path). Buffers go back transferred, not copied.

import { parentPort, workerData } from 'node:worker_threads';
import { buildBatch } from './batch.js';
import type { DatasetSpec } from './dataset.js';
import { type ReadLimits, setReadLimits } from '../io/limits.js';
import { openDataset } from './open.js';
import type { TransformSpec } from './transforms.js';

export interface WorkerInit {
  dataset: DatasetSpec;
  transform: TransformSpec;
  seed: number;
  /** The parent's read limits (a worker starts with the defaults). */
  readLimits: ReadLimits;
}

export interface WorkerRequest {
  id: number;
  indices: Int32Array; // [n]
  epoch: number;
  batchIndex: number;
}

const init = workerData as WorkerInit;
setReadLimits(init.readLimits);
const dataset = openDataset(init.dataset);

parentPort!.on('message', async (req: WorkerRequest) => {
  try {
    const batch = await buildBatch(dataset, init.transform, req.indices, init.seed, req.epoch, req.batchIndex);
    parentPort!.postMessage({ id: req.id, batch }, [batch.x.buffer as ArrayBuffer, batch.labels.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message ?? String(e) });
  }
});
