// `resnet data get cifar10 [--dir D]`: download the official CIFAR-10 binary archive, check its
// MD5, extract it safely. Offline (or on any network failure) it fails at once with a message that
// says where to put the files by hand.
//
// Safe extraction: the archive is listed first and every entry checked; an entry whose path is
// absolute or resolves outside the target directory, a link (symbolic or hard), or any entry that
// is not a plain file or a directory makes the whole extraction fail with an error naming it —
// nothing is written. (tar on its own would only warn and skip such entries.)
// Bounded: the archive is inflated by Node's zlib (which checks the gzip CRC-32 and length) through
// a counter that stops at the read limits (io/limits.ts: maxInflatedBytes, maxInflateRatio), and
// the entries are counted against maxArchiveEntries; a corrupt archive is a FormatError naming it.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { FormatError, LimitError } from '../io/errors.js';
import { type ReadLimits, checkLimit, inflateBound, readLimits } from '../io/limits.js';
import { findCifar10Dir, missingCifar10Message } from './cifar10.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';

export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/** Why an entry may not be extracted into targetDir, or null when it may. */
export function unsafeEntryReason(entryPath: string, type: string, targetDir: string): string | null {
  if (!ALLOWED_TYPES.has(type)) return `${type === 'SymbolicLink' || type === 'Link' ? 'a link' : 'not a plain file or directory'} (type ${type})`;
  if (entryPath.includes('\0')) return 'a NUL byte in its path';
  if (isAbsolute(entryPath) || /^[a-zA-Z]:/.test(entryPath) || entryPath.startsWith('\\')) return 'an absolute path';
  const rel = relative(resolve(targetDir), resolve(targetDir, entryPath));
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) return 'a path that escapes the target directory';
  if (entryPath.split(/[\\/]/).includes('..')) return 'a ".." path component';
  return null;
}

/** Extracts a .tar.gz into targetDir (removing `strip` leading path components) after checking every entry. */
export async function safeExtractTarGz(archive: string, targetDir: string, strip = 0, limits?: Partial<ReadLimits>): Promise<string[]> {
  const lim = readLimits(limits);
  const problems: string[] = [];
  const names: string[] = [];
  let tooMany = false;
  await readTarGz(archive, lim, tar.t({
    strict: true,
    onReadEntry: (entry) => {
      const reason = unsafeEntryReason(entry.path, entry.type, targetDir);
      if (reason) problems.push(`"${entry.path}": ${reason}`);
      if (names.length < lim.maxArchiveEntries) names.push(entry.path);
      else tooMany = true;
    },
  }));
  if (tooMany) {
    throw new LimitError((n) => `${archive}: more than ${lim.maxArchiveEntries} entries (maxArchiveEntries); if the archive is genuine, raise it: ` +
      n.readLimit('maxArchiveEntries'));
  }
  if (problems.length > 0) {
    throw new FormatError(`${archive}: refusing to extract into ${targetDir}; unsafe entries: ${problems.slice(0, 20).join('; ')}`);
  }
  await mkdir(targetDir, { recursive: true });
  await readTarGz(archive, lim, tar.x({
    cwd: targetDir,
    strip,
    strict: true,
    // Checked again while extracting: the archive could have changed since it was listed.
    filter: (path, entry) => {
      const type = 'type' in entry ? entry.type : 'File';
      if (unsafeEntryReason(path, type, targetDir)) throw new FormatError(`${archive}: unsafe entry "${path}" appeared during extraction`);
      return true;
    },
  }));
  return names;
}

/** Streams the inflated archive into `sink` (a tar parser), within the limits; errors name the archive. */
async function readTarGz(archive: string, limits: ReadLimits, sink: NodeJS.WritableStream): Promise<void> {
  const { bound, name } = inflateBound(statSync(archive).size, limits);
  let inflated = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inflated += chunk.length;
      try {
        checkLimit(archive, 'the inflated size of the archive', inflated, limits, name, bound);
      } catch (e) {
        done(e as Error);
        return;
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(archive), createGunzip(), counter, sink);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`${archive}: not a valid tar.gz archive (${(e as Error).message})`);
  }
}

export interface DownloadOptions {
  url?: string;
  md5?: string;
  timeoutMs?: number; // to get a response (not for the whole download); default 20 s
}

/**
 * Makes sure the CIFAR-10 binary files are in `dir` (or dir/cifar-10-batches-bin) and returns the
 * directory that holds them. Downloads, verifies and extracts only when they are missing.
 */
export async function downloadCifar10(dir: string, options: DownloadOptions = {}): Promise<string> {
  const existing = findCifar10Dir(dir);
  if (existing) return existing;
  const url = options.url ?? CIFAR10_URL;
  const expected = options.md5 ?? CIFAR10_MD5;
  await mkdir(dir, { recursive: true });
  const archive = resolve(dir, 'cifar-10-binary.tar.gz');
  const partial = `${archive}.part`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 20_000);
  let response: Response;
  try {
    response = await fetch(url, { signal: controller.signal });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    throw new Error(`Cannot download ${url} (${why}). ${missingCifar10Message(dir)}.`);
  } finally {
    clearTimeout(timer);
  }
  const hash = createHash('md5');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hashing, createWriteStream(partial));
  } catch (e) {
    await rm(partial, { force: true });
    throw new Error(`Download of ${url} failed (${(e as Error).message}). ${missingCifar10Message(dir)}.`);
  }
  const actual = hash.digest('hex');
  if (actual !== expected) {
    await rm(partial, { force: true });
    throw new Error(`${url}: MD5 ${actual} does not match the expected ${expected}; the download is corrupt, try again`);
  }
  await rename(partial, archive);
  await safeExtractTarGz(archive, dir, 1); // cifar-10-batches-bin/data_batch_1.bin → dir/data_batch_1.bin
  const found = findCifar10Dir(dir);
  if (!found) throw new Error(`${archive} did not contain the expected files. ${missingCifar10Message(dir)}.`);
  return found;
}
