// What every `resnet` sub-command provides. main.ts dispatches on `name`.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  /** One line for `resnet --help`. */
  summary: string;
  /** Full usage text for `resnet NAME --help`. */
  usage: string;
  run(argv: string[]): Promise<void>;
}

/** An error the user caused (bad flag, missing file): printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flag parsing; unknown flags are a UsageError naming the flag. */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = false):
  ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Parses a positive integer flag value, naming the flag on failure. */
export function intFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}
