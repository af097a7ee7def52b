// Files written whole or not at all: a temporary file beside the target, then a rename, so that a
// reader never sees half a file and an interrupted write leaves the old file (or none).

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { temporaryName, writeError } from './file-errors.js';

/** Writes `data` to `path` through a temporary file renamed into place; the error names `path`, never the temporary file. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = temporaryName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw writeError(path, e);
  }
}
