// What a run keeps beside its recipe, and the state of its folder.
//
// Settings: the flags that shape a run without being part of the recipe (how often it logs and
// checkpoints, whether it tests at the end, the micro-batch) are stored in every checkpoint and
// restored by --resume. A flag given on resume that changes one is applied, recorded in the log
// and in the next checkpoint, and said; none is dropped silently.
//
// The folder: a run killed while writing a checkpoint leaves `checkpoint.safetensors.tmp-PID`;
// such files are removed on the next start. A run that failed before its first checkpoint left a
// log and no checkpoint: it is started afresh, with no --overwrite needed.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface RunSettings {
  /** A step record every this many iterations. */
  logEvery: number;
  /** A checkpoint every this many iterations. */
  checkpointEvery: number;
  /** Evaluate the final weights on the test set. */
  test: boolean;
  /** Images per forward/backward pass; the batch when it fits memory (train/accumulate.ts). */
  microBatch: number;
}

/** The `resnet train` flag of each setting. */
export const SETTING_FLAGS: Record<keyof RunSettings, string> = {
  logEvery: '--log-every', checkpointEvery: '--checkpoint-every', test: '--no-test', microBatch: '--micro-batch',
};

export interface SettingsChange {
  key: keyof RunSettings;
  flag: string;
  from: number | boolean;
  to: number | boolean;
}

/**
 * The settings of a run: a fresh run's are those given, else the defaults; a resumed run's are
 * the stored ones, with those given on resume applied (and returned as changes). Checkpoints
 * written before settings were stored restore nothing.
 */
export function resolveSettings(stored: Partial<RunSettings> | undefined, given: Partial<RunSettings>, defaults: RunSettings):
  { settings: RunSettings; changes: SettingsChange[] } {
  const settings = { ...defaults };
  const changes: SettingsChange[] = [];
  for (const key of Object.keys(defaults) as (keyof RunSettings)[]) {
    const before = stored?.[key];
    const now = given[key];
    const value = now ?? before ?? defaults[key];
    (settings as Record<string, number | boolean>)[key] = value;
    if (before !== undefined && now !== undefined && now !== before) changes.push({ key, flag: SETTING_FLAGS[key], from: before, to: now });
  }
  return { settings, changes };
}

/** "--log-every 2 → 5, --no-test: testing off" for a resumed run's message. */
export function describeChanges(changes: SettingsChange[]): string {
  return changes.map((c) => (c.key === 'test' ? `testing at the end ${c.to ? 'on' : 'off'}` : `${c.flag} ${c.from} → ${c.to}`)).join(', ');
}

/**
 * Removes what an earlier run in `dir` left behind: temporary files of writes that never finished
 * (`NAME.tmp-PID` of the given files, whose process is gone). Returns the names removed.
 */
export function removeStaleTemporaries(dir: string, names: string[]): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const entry of readdirSync(dir)) {
    const m = /^(.+)\.tmp-(\d+)$/.exec(entry);
    if (!m || !names.includes(m[1]!) || processAlive(Number(m[2]))) continue;
    rmSync(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // this process is starting the run: nothing of it is being written
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
