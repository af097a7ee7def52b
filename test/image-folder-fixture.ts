// A small image folder made on the fly: a few classes of generated images of mixed sizes, saved as
// JPEG and PNG (and WebP) through sharp. Each class has its own dominant colour, so a tiny net learns
// them in a few steps.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src/tensor/random.js';

export const FOLDER_CLASSES = ['cat', 'dog', 'fox'];
const COLOURS = [[200, 40, 40], [40, 190, 40], [40, 40, 210]];

/** Writes `perClass` images per class under dir/<class>/, sizes between `minSide` and `maxSide`. Returns the paths. */
export async function writeImageFolder(dir: string, perClass: number, { minSide = 12, maxSide = 40, seed = 1, formats = ['png', 'jpg'] } = {}): Promise<string[]> {
  const rng = new Rng(seed);
  const paths: string[] = [];
  for (const [c, name] of FOLDER_CLASSES.entries()) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const height = minSide + rng.int(maxSide - minSide + 1);
      const width = minSide + rng.int(maxSide - minSide + 1);
      const hwc = new Uint8Array(height * width * 3);
      for (let p = 0; p < height * width; p++) {
        for (let ch = 0; ch < 3; ch++) hwc[3 * p + ch] = Math.max(0, Math.min(255, COLOURS[c]![ch]! + rng.int(61) - 30));
      }
      const format = formats[(c + i) % formats.length]!;
      const path = join(dir, name, `${name}-${i}.${format}`);
      const image = sharp(hwc, { raw: { width, height, channels: 3 } });
      await (format === 'png' ? image.png() : format === 'webp' ? image.webp() : image.jpeg()).toFile(path);
      paths.push(path);
    }
  }
  return paths;
}
