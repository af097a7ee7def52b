// Making one batch: the same function runs in the loader's worker thread and in process, so both
// paths give identical floats. Batch (epoch e, index b) draws its augmentation from
// Rng.derive(seed, AUGMENT_STREAM, e, b), its samples in order; the epoch's order comes from
// Rng.derive(seed, SHUFFLE_STREAM, e). Nothing depends on what ran before, so a run resumed at
// (e, b) reproduces the batches it would have seen.

import type { Dataset } from './dataset.js';
import { Rng } from './rng.js';
import { applyTransform, type TransformSpec } from './transforms.js';

export const SHUFFLE_STREAM = 1;
export const AUGMENT_STREAM = 2;

export interface BatchData {
  x: Float32Array; // [n, channels, height, width]
  labels: Int32Array; // [n]
  n: number;
  channels: number;
  height: number;
  width: number;
}

/** The order of the samples in `epoch`: a seeded permutation, or 0..size-1 without shuffling. */
export function epochOrder(size: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  if (!shuffle) return Int32Array.from({ length: size }, (_, i) => i);
  return Rng.derive(seed, SHUFFLE_STREAM, epoch).permutation(size);
}

export async function buildBatch(
  dataset: Dataset,
  transform: TransformSpec,
  indices: Int32Array, // [n], dataset indices of the batch's samples
  seed: number,
  epoch: number,
  batchIndex: number,
): Promise<BatchData> {
  const rng = Rng.derive(seed, AUGMENT_STREAM, epoch, batchIndex);
  const n = indices.length;
  let x: Float32Array | null = null;
  let shape = { channels: 0, height: 0, width: 0 };
  const labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const sample = await dataset.get(indices[k]);
    const view = applyTransform(transform, sample, rng);
    if (!x) {
      shape = { channels: view.channels, height: view.height, width: view.width };
      x = new Float32Array(n * view.data.length);
    } else if (view.channels !== shape.channels || view.height !== shape.height || view.width !== shape.width) {
      throw new Error(
        `sample ${indices[k]} transforms to ${view.channels}×${view.height}×${view.width}, the batch is ` +
          `${shape.channels}×${shape.height}×${shape.width}: variable-size images need a cropping transform`,
      );
    }
    x.set(view.data, k * view.data.length);
    labels[k] = sample.label;
  }
  return { x: x ?? new Float32Array(0), labels, n, ...shape };
}
