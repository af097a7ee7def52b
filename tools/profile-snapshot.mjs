// Profiles a build of resnet-ts (any checkout with its dist/ built, e.g. an earlier commit in a
// git worktree) on the workloads that have speed targets, and writes the profiles as JSON: the
// "before" that `npm run bench` compares its own profiles with (--profile-before).
//
//   git worktree add --detach /tmp/before <commit> && (cd /tmp/before && npm ci && npm run build)
//   npm run build && node tools/profile-snapshot.mjs --root /tmp/before --out bench/results/profile-before.json
//
// Run it on an idle machine: every profile is a timed run.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROFILED_WORKLOADS, collectProfiles } from '../dist/src/bench/profiles.js';

const { values } = parseArgs({ options: { root: { type: 'string' }, out: { type: 'string' }, workloads: { type: 'string' }, threads: { type: 'string' } } });
if (!values.root || !values.out) {
  console.error('usage: node tools/profile-snapshot.mjs --root CHECKOUT --out FILE [--workloads A,B] [--threads N]');
  process.exit(2);
}
const root = resolve(values.root);
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
if (git.status !== 0) {
  console.error(`${root} is not a git checkout (${git.stderr.trim()}); the snapshot must name the commit it profiled`);
  process.exit(2);
}
const threads = Number(values.threads ?? availableParallelism());
const set = await collectProfiles(root, {
  workloads: values.workloads ? values.workloads.split(',') : PROFILED_WORKLOADS,
  threads, commit: git.stdout.trim(), timeoutMs: 20 * 60_000, loadAverage: loadavg()[0],
});
for (const f of set.failed) console.error(`${f.workload}: ${f.reason}`);
writeFileSync(values.out, `${JSON.stringify(set, null, 2)}\n`);
console.error(`wrote ${values.out}: ${set.profiles.map((p) => `${p.workload} ${p.msPerBatch.toFixed(1)} ms`).join(', ')}`);
if (set.profiles.length === 0) process.exit(1);
