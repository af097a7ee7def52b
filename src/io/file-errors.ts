// File system errors in words a user reads: the path they named and what is wrong with it, never
// a bare code (ENOENT) or the name of a temporary file.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ENOSPC: 'no space left on the disk',
  EROFS: 'the file system is read-only',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
};

/** What a file system error means, in words ("no such file or folder"); the message for other errors. */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code !== undefined && REASONS[code]) return REASONS[code]!;
  return (e as Error)?.message ?? String(e);
}

/** A Node system error (it has an errno code and a syscall). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** The name of the temporary file that writeFileAtomic uses for `path`. */
export function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** `path` without a trailing `.tmp-PID` (a temporary file is named after the file it becomes). */
export function withoutTemporarySuffix(path: string): string {
  return path.replace(/\.tmp-\d+$/, '');
}

/** Reads a file the user named; the error names the file, what it was for, and the reason. */
export function readUserFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} '${path}': ${fileErrorReason(e)}`);
  }
}

/** The error for a failed write of `path` (through a temporary file or not): names `path` and its folder. */
export function writeError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new Error(`cannot write '${path}': the folder '${dirname(path)}' does not exist`);
  return new Error(`cannot write '${path}': ${fileErrorReason(e)}`);
}
