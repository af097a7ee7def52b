// The dataset contract: indexed samples of raw bytes (uint8, CHW) with an integer label.
// No tensors and no floats here: transforms (transforms.ts) turn bytes into float32, the loader
// (loader.ts) stacks them into NCHW batches.
//
// Images may vary in size (image folders): such a dataset says `height: null, width: null` and
// every sample carries its own height and width. Channels never vary (decoders convert to RGB).

export interface Sample {
  image: Uint8Array; // [channels, height, width]
  label: number; // 0 .. classes.length-1
  height: number;
  width: number;
}

export interface Dataset {
  readonly size: number;
  readonly channels: number;
  readonly height: number | null; // null: varies per sample
  readonly width: number | null;
  readonly classes: string[];
  /** In-memory sets answer synchronously; image folders decode files and answer with a promise. */
  get(i: number): Sample | Promise<Sample>;
  /** How to re-open this dataset in a worker thread (see open.ts); absent when it cannot be. */
  spec?(): DatasetSpec;
}

/** A plain-data description of a dataset; it crosses to a worker with postMessage. */
export type DatasetSpec =
  | {
      kind: 'arrays';
      images: Uint8Array; // [n, c, h, w]; backed by a SharedArrayBuffer it crosses without a copy
      labels: Uint8Array; // [n]
      channels: number;
      height: number;
      width: number;
      classes: string[];
    }
  | { kind: 'subset'; base: DatasetSpec; indices: Int32Array }
  | { kind: 'imageFolder'; root: string }
  | { kind: 'imageCache'; index: string };

/**
 * A zero-filled byte array on a SharedArrayBuffer, so that worker threads can read it in place; on
 * a plain ArrayBuffer where there is none (a browser page without cross-origin isolation).
 */
export function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(typeof SharedArrayBuffer === 'undefined' ? new ArrayBuffer(length) : new SharedArrayBuffer(length));
}

export function checkIndex(i: number, size: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new RangeError(`sample index ${i} out of range [0, ${size})`);
}

/** Fixed-size images held in memory: CIFAR-10, IDX sets, anything already decoded. */
export class ArrayDataset implements Dataset {
  readonly size: number;
  constructor(
    readonly images: Uint8Array, // [n, channels, height, width]
    readonly labels: Uint8Array, // [n]
    readonly channels: number,
    readonly height: number,
    readonly width: number,
    readonly classes: string[],
  ) {
    this.size = labels.length;
    if (images.length !== this.size * channels * height * width) {
      throw new Error(`ArrayDataset: ${images.length} image bytes do not make ${this.size} images of ${channels}×${height}×${width}`);
    }
    for (let i = 0; i < this.size; i++) {
      if (labels[i] >= classes.length) throw new Error(`ArrayDataset: label ${labels[i]} of sample ${i} ≥ ${classes.length} classes`);
    }
  }

  get(i: number): Sample {
    checkIndex(i, this.size);
    const n = this.channels * this.height * this.width;
    return { image: this.images.subarray(i * n, (i + 1) * n), label: this.labels[i], height: this.height, width: this.width };
  }

  /** Samples [start, end) as a dataset sharing this one's memory. */
  slice(start: number, end: number): ArrayDataset {
    const n = this.channels * this.height * this.width;
    return new ArrayDataset(
      this.images.subarray(start * n, end * n),
      this.labels.subarray(start, end),
      this.channels,
      this.height,
      this.width,
      this.classes,
    );
  }

  spec(): DatasetSpec {
    const { images, labels, channels, height, width, classes } = this;
    return { kind: 'arrays', images, labels, channels, height, width, classes };
  }
}

/** The samples of `base` at `indices`, in that order. */
export class SubsetDataset implements Dataset {
  constructor(
    readonly base: Dataset,
    readonly indices: Int32Array, // [size], indices into base
  ) {
    for (const i of indices) checkIndex(i, base.size);
  }
  get size(): number {
    return this.indices.length;
  }
  get channels(): number {
    return this.base.channels;
  }
  get height(): number | null {
    return this.base.height;
  }
  get width(): number | null {
    return this.base.width;
  }
  get classes(): string[] {
    return this.base.classes;
  }
  get(i: number): Sample | Promise<Sample> {
    checkIndex(i, this.size);
    return this.base.get(this.indices[i]);
  }
  spec(): DatasetSpec {
    if (!this.base.spec) throw new Error('SubsetDataset: the base dataset cannot be described for a worker');
    return { kind: 'subset', base: this.base.spec(), indices: this.indices };
  }
}
