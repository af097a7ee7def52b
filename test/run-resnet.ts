// `resnet ARGS…` as a user runs it, in a child process, for the tests of the command line.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/**
 * Runs `resnet ARGS…` (no colour in its output). A command that takes longer than `timeoutMs` fails
 * the test instead of hanging the suite; a child that cannot start is an error naming the command.
 */
export function runResnet(args: string[], timeoutMs = 120_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: timeoutMs });
  if (r.error) throw new Error(`resnet ${args.join(' ')}: ${r.error.message}\n${r.stderr}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
