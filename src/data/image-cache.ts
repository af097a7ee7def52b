// The image cache: each image of a folder decoded and resized once (image-size.ts's geometry), kept
// on disk, and read from there by every epoch, validation, `eval` and the loader's worker thread.
//
// Where: FOLDER/.resnet-cache/ (FOLDER: the folder given as folder:FOLDER), or, when FOLDER cannot
// be written, $RESNET_DATA/image-cache/<hash of FOLDER>/ (default ~/.cache/resnet-ts). Files:
//   SPLIT.sizes.json          every image's size, read from the headers (for the default image size)
//   SPLIT-GEOMETRY.bin        the images, bytes [c, h, w] one after another
//   SPLIT-GEOMETRY.json       the index: fingerprint, geometry, classes, [offset, height, width, label] per image
// SPLIT is the class folders' path in FOLDER ('train', 'val', or '.' as 'all'), GEOMETRY e.g. square-32.
// The fingerprint covers the class folders, every image's path, byte size and modification time: a
// file added, removed, replaced or touched rebuilds the cache; another image size is another file.
// Writes are atomic (a temporary file renamed), the index last, so an interrupted build is rebuilt.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic-write.js';
import { FormatError } from '../io/errors.js';
import { fileErrorReason, temporaryName } from '../io/file-errors.js';
import { readLimits } from '../io/limits.js';
import { checkIndex, type Dataset, type DatasetSpec, type Sample } from './dataset.js';
import { ImageFolderDataset } from './image-folder.js';
import { sharpReason } from './sharp-decode.js';
import { type ImageGeometry, fitImage, geometryTag } from './image-size.js';

const VERSION = 1;
export const CACHE_FOLDER = '.resnet-cache';

/** Images decoded by this process for the cache (tests read it to show that a second open decodes nothing). */
export const cacheCounters = { decoded: 0, headersRead: 0 };

/** How many images are decoded at once (sharp decodes on libuv's thread pool, 4 threads by default). */
const PARALLEL = 4;

interface CacheIndex {
  version: number;
  fingerprint: string;
  geometry: ImageGeometry;
  channels: number;
  classes: string[];
  entries: [number, number, number, number][]; // [offset, height, width, label] per image
}

/** One image of a folder, with what its fingerprint covers. */
interface FileStat {
  path: string;
  size: number;
  mtimeMs: number;
}

function statAll(folder: ImageFolderDataset): FileStat[] {
  return folder.files.map((path) => {
    try {
      const s = statSync(path);
      return { path, size: s.size, mtimeMs: s.mtimeMs };
    } catch (e) {
      throw new Error(`${path}: ${fileErrorReason(e)}`);
    }
  });
}

/** A digest of the folder's class names and of every image's path, size and modification time. */
function folderFingerprint(folder: ImageFolderDataset): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(folder.classes));
  for (const f of statAll(folder)) h.update(`${relative(folder.root, f.path)}\0${f.size}\0${f.mtimeMs}\0`);
  for (const l of folder.labels) h.update(`${l},`);
  return h.digest('hex');
}

/** Where the cache of the images under `root` (the folder given as folder:ROOT) goes: ROOT/.resnet-cache, else the user's cache. */
export function cacheDirFor(root: string): string {
  const inside = join(resolve(root), CACHE_FOLDER);
  try {
    mkdirSync(inside, { recursive: true });
    const probe = temporaryName(join(inside, 'probe'));
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
    return inside;
  } catch {
    const base = process.env.RESNET_DATA ?? join(homedir(), '.cache', 'resnet-ts');
    const dir = join(base, 'image-cache', createHash('sha256').update(resolve(root)).digest('hex').slice(0, 16));
    mkdirSync(dir, { recursive: true });
    return dir;
  }
}

function splitName(root: string, folder: ImageFolderDataset): string {
  const rel = relative(resolve(root), resolve(folder.root));
  return rel === '' ? 'all' : rel.replace(/[^A-Za-z0-9._-]+/g, '_');
}

function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null; // a damaged cache file is rebuilt
  }
}

/**
 * The cache of one image folder (a split of the folder given as folder:ROOT): where its files go and
 * the fingerprint of its images, found once (a stat of every image) when it is opened, then shared
 * by its image sizes and its cached images at any geometry. Folders of one ROOT share `dir`.
 */
export class FolderCache {
  readonly fingerprint: string;
  private readonly base: string;

  constructor(readonly folder: ImageFolderDataset, root: string, readonly dir: string = cacheDirFor(root)) {
    this.fingerprint = folderFingerprint(folder);
    this.base = join(dir, splitName(root, folder));
  }

  /** Every image's size (from its header, not its pixels), kept in the cache under the fingerprint. */
  async imageSizes(): Promise<{ height: number; width: number }[]> {
    const path = `${this.base}.sizes.json`;
    const { folder, fingerprint } = this;
    const cached = readJson<{ version: number; fingerprint: string; sizes: [number, number][] }>(path);
    if (cached && cached.version === VERSION && cached.fingerprint === fingerprint && cached.sizes.length === folder.size) {
      return cached.sizes.map(([height, width]) => ({ height, width }));
    }
    const sizes: [number, number][] = [];
    for (const file of folder.files) {
      let meta;
      try {
        meta = await sharp(file, { limitInputPixels: readLimits().maxImagePixels }).metadata();
      } catch (e) {
        throw new FormatError(`${file}: cannot read the image (${sharpReason((e as Error).message)}); remove or replace the file`);
      }
      cacheCounters.headersRead++;
      if (!meta.height || !meta.width) throw new FormatError(`${file}: the image header gives no size; remove or replace the file`);
      sizes.push([meta.height, meta.width]);
    }
    writeFileAtomic(path, JSON.stringify({ version: VERSION, fingerprint, sizes }));
    return sizes.map(([height, width]) => ({ height, width }));
  }

  /** The images at `geometry`, built first if missing or stale (`onBuild` is told how many images it decodes, and where). */
  async images(geometry: ImageGeometry, onBuild?: (images: number, where: string) => void): Promise<CachedImageDataset> {
    const base = `${this.base}-${geometryTag(geometry)}`;
    const indexPath = `${base}.json`;
    const binPath = `${base}.bin`;
    const index = readJson<CacheIndex>(indexPath);
    const fresh = index !== null && index.version === VERSION && index.fingerprint === this.fingerprint &&
      index.geometry.kind === geometry.kind && index.geometry.side === geometry.side && existsSync(binPath) &&
      statSync(binPath).size === cacheBytes(index);
    if (!fresh) {
      onBuild?.(this.folder.size, this.dir);
      await buildCache(this.folder, geometry, this.fingerprint, indexPath, binPath);
    }
    return new CachedImageDataset(indexPath);
  }
}

function cacheBytes(index: CacheIndex): number {
  const last = index.entries[index.entries.length - 1];
  return last ? last[0] + index.channels * last[1] * last[2] : 0;
}

async function buildCache(folder: ImageFolderDataset, geometry: ImageGeometry, fingerprint: string, indexPath: string, binPath: string): Promise<void> {
  const tmp = temporaryName(binPath);
  const fd = openSync(tmp, 'w');
  const entries: CacheIndex['entries'] = [];
  let offset = 0;
  try {
    for (let start = 0; start < folder.size; start += PARALLEL) {
      const indices = Array.from({ length: Math.min(PARALLEL, folder.size - start) }, (_, k) => start + k);
      const samples = await Promise.all(indices.map((i) => folder.get(i)));
      samples.forEach((s) => {
        cacheCounters.decoded++;
        const fitted = fitImage(s.image, folder.channels, s.height, s.width, geometry);
        writeSync(fd, fitted.image);
        entries.push([offset, fitted.height, fitted.width, s.label]);
        offset += fitted.image.length;
      });
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, binPath);
  const index: CacheIndex = { version: VERSION, fingerprint, geometry, channels: folder.channels, classes: folder.classes, entries };
  writeFileAtomic(indexPath, JSON.stringify(index));
}

/** The cached images of a folder: read from the cache file, never decoded. Fixed-size for square geometry. */
export class CachedImageDataset implements Dataset {
  readonly channels: number;
  readonly height: number | null;
  readonly width: number | null;
  readonly classes: string[];
  readonly geometry: ImageGeometry;
  private readonly entries: CacheIndex['entries'];
  private readonly binPath: string;
  private fd: number | null = null;

  constructor(readonly indexPath: string) {
    const index = readJson<CacheIndex>(indexPath);
    if (!index || index.version !== VERSION) throw new Error(`${indexPath}: not an image cache index of this version; delete the folder ${basename(indexPath)} is in to rebuild it`);
    this.channels = index.channels;
    this.classes = index.classes;
    this.geometry = index.geometry;
    this.entries = index.entries;
    const fixed = index.geometry.kind === 'square' ? index.geometry.side : null;
    this.height = fixed;
    this.width = fixed;
    this.binPath = indexPath.replace(/\.json$/, '.bin');
  }

  get size(): number {
    return this.entries.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.size);
    const [offset, height, width, label] = this.entries[i]!;
    const image = new Uint8Array(this.channels * height * width);
    this.fd ??= openSync(this.binPath, 'r');
    const read = readSync(this.fd, image, 0, image.length, offset);
    if (read !== image.length) {
      throw new Error(`${this.binPath}: the image cache is shorter than its index (size ${fstatSync(this.fd).size}); delete it to rebuild it`);
    }
    return { image, label, height, width };
  }

  /** Closes the cache file (it is opened again on the next read). */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  spec(): DatasetSpec {
    return { kind: 'imageCache', index: this.indexPath };
  }
}
