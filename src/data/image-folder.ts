// Image folders, as torchvision's ImageFolder: root/<class>/<image>. Class index = position of the
// folder name in the sorted list of sub-folders; samples are ordered by class, then by file name.
// JPEG, PNG and WebP files are read (by extension, any case); other files, and folders whose name
// starts with a dot (the image cache's .resnet-cache/ among them), are ignored. Every image is
// decoded to 8-bit RGB as PIL does (decode.ts), so channels is always 3, while height and width
// vary per sample. Training does not decode from here: image-cache.ts decodes each image once.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkIndex, type Dataset, type DatasetSpec, type Sample } from './dataset.js';
import { decodeImage } from './decode.js';
import { FormatError, LimitError } from '../io/errors.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** Code-unit order, like Python's sorted() on names in the Basic Multilingual Plane. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ImageFolderDataset implements Dataset {
  readonly channels = 3;
  readonly height = null;
  readonly width = null;
  readonly classes: string[];
  readonly files: string[]; // [size], absolute paths
  readonly labels: Int32Array; // [size]

  constructor(readonly root: string) {
    this.classes = readdirSync(root, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statSync(join(root, e.name)).isDirectory()))
      .map((e) => e.name)
      .sort(byName);
    if (this.classes.length === 0) throw new Error(`${root}: no class folders (expected ${root}/<class>/<image>.jpg|.png|.webp, one folder per class)`);
    const files: string[] = [];
    const labels: number[] = [];
    this.classes.forEach((c, label) => {
      for (const f of readdirSync(join(root, c)).filter(isImageFile).sort(byName)) {
        files.push(join(root, c, f));
        labels.push(label);
      }
    });
    if (files.length === 0) throw new Error(`${root}: no ${IMAGE_EXTENSIONS.join('/')} files in the class folders`);
    this.files = files;
    this.labels = Int32Array.from(labels);
  }

  get size(): number {
    return this.files.length;
  }

  async get(i: number): Promise<Sample> {
    checkIndex(i, this.size);
    try {
      const { image, height, width } = await decodeImage(this.files[i]);
      return { image, label: this.labels[i], height, width };
    } catch (e) {
      if (e instanceof LimitError) throw e; // names the file and the limit (sharp-decode.ts)
      if (e instanceof FormatError) throw new FormatError(`${(e as Error).message}; remove or replace the file`);
      throw new FormatError(`${this.files[i]}: cannot decode the image (${(e as Error).message})`);
    }
  }

  spec(): DatasetSpec {
    return { kind: 'imageFolder', root: this.root };
  }
}
