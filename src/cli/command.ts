// What every `resnet` sub-command provides, and how its flags are parsed and checked. main.ts
// dispatches on `name`.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LibraryError } from '../io/errors.js';
import { fileErrorReason, isSystemError, withoutTemporarySuffix } from '../io/file-errors.js';
import { FLAG_NAMES } from './option-flags.js';

export interface Command {
  name: string;
  /** One line for `resnet --help`. */
  summary: string;
  /** Full usage text for `resnet NAME --help` and `resnet help NAME`. */
  usage: string;
  run(argv: string[]): Promise<void>;
}

/** An error in the command line itself (unknown or bad option, missing argument): exit code 2. */
export class UsageError extends Error {}

/** Runs `fn`, reporting what it throws as a usage error (exit code 2): for library checks of the user's flags. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
}

/** The exit codes of every command (main.ts sets them; `resnet --help` prints this). */
export const EXIT_CODES = `Exit codes: 0 done; 1 the work failed (a file missing or unreadable, bad data, a diverged
run, out of memory); 2 the command line is wrong (unknown command or option, bad value);
130 interrupted (Ctrl-C; a training run saves a checkpoint first).`;


/**
 * The message of an error for the user: a path and a reason for file errors, never a temporary
 * file's name; the library's errors name the flags of the options they name (option-flags.ts).
 */
export function errorMessage(e: unknown): string {
  if (isSystemError(e) && e.path !== undefined) return `${withoutTemporarySuffix(e.path)}: ${fileErrorReason(e)}`;
  const text = e instanceof LibraryError ? e.messageWith(FLAG_NAMES) : e instanceof Error ? e.message : String(e);
  return text.replace(/(\S+?)\.tmp-\d+\b/g, '$1');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing with messages for people: an unknown flag names the closest known one, a
 * flag that needs a value says so, and a negative number is taken as a value (`--epochs -1` is
 * then refused by the flag's own check, which says what is valid).
 */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = false):
  ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (!token.startsWith('-') || token === '-' || isNumber(token)) {
      if (!allowPositionals) throw new UsageError(`unexpected argument '${token}'${isNumber(token) ? ' (a value needs its flag before it)' : ''}`);
      args.push(token);
      continue;
    }
    const [rawName, inline] = splitOnce(token.replace(/^--?/, ''), '=');
    const option = options[rawName];
    if (option === undefined || (!token.startsWith('--') && rawName.length > 1)) {
      throw new UsageError(`unknown option '${token.startsWith('--') ? `--${rawName}` : token}'${suggestion(rawName, Object.keys(options))}`);
    }
    const flag = `--${rawName}`;
    if (option.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value (got '${token}')`);
      args.push(flag);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-' && !isNumber(next))) {
        throw new UsageError(`${flag} needs a value`);
      }
      value = next;
      i++;
    }
    args.push(`${flag}=${value}`);
  }
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

function isNumber(token: string): boolean {
  return /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(token);
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** "; did you mean --X?" for the known flag closest to `name`, or '' when none is close. */
export function suggestion(name: string, known: string[]): string {
  const best = closest(name, known);
  return best === null ? '' : `; did you mean --${best}?`;
}

/** The known name closest to `name` (one is a prefix of the other, or a small edit distance), if any. */
export function closest(name: string, known: string[]): string | null {
  let best: string | null = null;
  let bestScore = Infinity;
  for (const k of known) {
    const prefix = k.startsWith(name) || name.startsWith(k);
    const score = prefix ? Math.abs(k.length - name.length) / 100 : editDistance(name, k);
    if (score < bestScore) {
      bestScore = score;
      best = k;
    }
  }
  return best !== null && bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** What values a numeric flag takes: bounds are inclusive unless marked open. */
export interface Range {
  integer?: boolean;
  min?: number;
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
}

/** "a whole number ≥ 1", "a number > 0 and < 1", … */
export function describeRange(r: Range): string {
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`${r.minOpen ? '>' : '≥'} ${r.min}`);
  if (r.max !== undefined) parts.push(`${r.maxOpen ? '<' : '≤'} ${r.max}`);
  return `${r.integer ? 'a whole number' : 'a number'}${parts.length ? ` ${parts.join(' and ')}` : ''}`;
}

/** Parses a numeric flag value (default range: a number ≥ 0); undefined stays undefined. The error says what is valid. */
export function numberFlag(value: string | undefined, flag: string, range: Range = { min: 0 }): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(x) && (!range.integer || Number.isSafeInteger(x)) &&
    (range.min === undefined || (range.minOpen ? x > range.min : x >= range.min)) &&
    (range.max === undefined || (range.maxOpen ? x < range.max : x <= range.max));
  if (!ok) throw new UsageError(`${flag} must be ${describeRange(range)}, got '${value}'`);
  return x;
}

/** Parses a whole-number flag (default: ≥ 1), `fallback` when absent. */
export function intFlag(value: string | undefined, flag: string, fallback: number, range: Range = { min: 1 }): number {
  return numberFlag(value, flag, { ...range, integer: true }) ?? fallback;
}
