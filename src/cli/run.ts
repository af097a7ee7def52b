// The `resnet` command line as a function: dispatch to a command, print its errors, return the
// exit code (main.ts is the executable; tests call runCli in-process).

import { benchCommand } from './bench.js';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../train/recipe.js';
import { EXIT_CODES, type Command, UsageError, asUsage, closest, errorMessage } from './command.js';
import { exportCommand } from './export.js';
import { forwardCommand } from './forward.js';
import { importCommand } from './import.js';
import { infoCommand, listCommand } from './info.js';
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { dataCommand } from './data.js';
import { demoCommand } from './demo.js';
import { experimentCommand } from './experiment.js';
import { reportCommand } from './report.js';
import { READ_LIMIT_NAMES, type ReadLimits, setReadLimits } from '../io/limits.js';
import { serveCommand } from './serve.js';

export const COMMANDS: Command[] = [listCommand, infoCommand, forwardCommand, predictCommand, exportCommand, importCommand, benchCommand, trainCommand, evalCommand, dataCommand, demoCommand, experimentCommand, reportCommand, serveCommand];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `resnet: the networks of "Deep Residual Learning for Image Recognition" (He et al., 2015)

Usage: resnet COMMAND [options]     (resnet help COMMAND, or resnet COMMAND --help, for its options)
       resnet --version

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command: --read-limit NAME=N raises a limit on what a file may make a reader allocate, for an
unusual genuine file (the error that names a limit says which; docs/ROBUSTNESS.md lists them).

${EXIT_CODES}`;
}

/** Applies and removes every `--read-limit NAME=N` (or `--read-limit=NAME=N`) of args. */
function takeReadLimits(args: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--read-limit' || a.startsWith('--read-limit=')) {
      const value = a === '--read-limit' ? args[++i] : a.slice('--read-limit='.length);
      if (value === undefined) throw new UsageError('--read-limit needs NAME=N');
      asUsage(() => setReadLimits(parseReadLimit(value)));
    } else rest.push(a);
  }
  return rest;
}

/** Parses the value of --read-limit: NAME=N. */
function parseReadLimit(text: string): Partial<ReadLimits> {
  const match = /^([A-Za-z]+)=([0-9.e+]+)$/.exec(text);
  const value = match ? Number(match[2]) : NaN;
  if (!match || !(READ_LIMIT_NAMES as string[]).includes(match[1]!) || !(value > 0)) {
    throw new UsageError(`--read-limit takes NAME=N with NAME one of ${READ_LIMIT_NAMES.join(', ')}, got '${text}'`);
  }
  return { [match[1]!]: value };
}

/** The version in package.json (dist/src/cli/run.js → package.json). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version}`;
}

function unknownCommand(name: string): string {
  const near = closest(name, COMMANDS.map((c) => c.name));
  return `resnet: unknown command '${name}'${near ? `; did you mean '${near}'?` : ''}\n\n${help()}`;
}

/** Runs `resnet ARGV…` and returns its exit code (EXIT_CODES). */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest.length > 0) {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    if (!command) {
      console.error(unknownCommand(rest[0]!));
      return 2;
    }
    console.log(command.usage);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(unknownCommand(name));
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    await command.run(takeReadLimits(rest));
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(`resnet ${name}: ${errorMessage(e)}\n(resnet ${name} --help for usage)`);
      return 2;
    }
    // Errors that name a file or a problem are for the user; keep the stack for a debug run.
    console.error(`resnet ${name}: ${errorMessage(e)}`);
    if (process.env.RESNET_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}
