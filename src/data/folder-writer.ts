// Writing a dataset as an image folder (one sub-folder per class, a PNG per image), the layout
// `--data folder:PATH` reads: `resnet data folder` turns a built-in dataset into one, to try the
// image-folder path without images of one's own. Class names become folder names ('/' → '-').

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Dataset } from './dataset.js';
import { toInterleaved } from './pixel-layout.js';

/** A class name as a folder name: path separators and leading dots replaced. */
export function classFolderName(name: string): string {
  return name.replace(/[/\\]/g, '-').replace(/^\.+/, '_') || '_';
}

/** Writes the first `limit` images of `dataset` (all by default) as dir/<class>/<index>.png; returns how many. */
export async function writeDatasetFolder(dataset: Dataset, dir: string, limit = dataset.size): Promise<number> {
  const folders = dataset.classes.map(classFolderName);
  if (new Set(folders).size !== folders.length) throw new Error(`class names ${JSON.stringify(dataset.classes)} do not make distinct folder names`);
  for (const f of folders) mkdirSync(join(dir, f), { recursive: true });
  const n = Math.min(limit, dataset.size);
  const digits = String(n - 1).length;
  for (let i = 0; i < n; i++) {
    const { image, height, width, label } = await dataset.get(i);
    const c = image.length / (height * width);
    const hwc = toInterleaved(image, height * width, c); // sharp takes [h, w, c]
    await sharp(hwc, { raw: { width, height, channels: c as 1 | 3 } }).png().toFile(join(dir, folders[label]!, `${String(i).padStart(digits, '0')}.png`));
  }
  return n;
}
