// The per-layer profiles of `npm run bench`: the wasm kernel set's `resnet bench --profile` on
// the workloads that have targets, each in a fresh child process, and a comparison with the
// profiles of an earlier build (bench/results/profile-before.json, made by
// tools/profile-snapshot.mjs from a checkout of that build): where the time went, where it goes now.

import { markdownTable } from './profile.js';
import { runChild } from './child.js';
import { WORKLOADS, isWorkloadName } from './workloads.js';

/** One kernel and shape of a profile, per step. */
export interface ProfileLine {
  kernel: string;
  shape: string;
  calls: number;
  msPerStep: number;
}

export interface WorkloadProfile {
  workload: string;
  /** Median step of the profiled run (the timing proxy adds a little to it). */
  msPerBatch: number;
  steps: number;
  lines: ProfileLine[];
}

export interface ProfileSet {
  commit: string;
  date: string;
  threads: number;
  /** 1-minute load average when the first profile started. */
  loadAverage: number;
  profiles: WorkloadProfile[];
  /** Workloads whose profile could not be taken, and why. */
  failed: { workload: string; reason: string }[];
}

/** The workloads profiled by default: those the speed targets are about. */
export const PROFILED_WORKLOADS = ['resnet20-train', 'resnet20-eval', 'resnet50-b1'];

/** Runs of each profile: enough for a stable median without lengthening the bench much. */
const PROFILE_RUNS: Record<string, number> = { 'resnet20-train': 10, 'resnet20-eval': 10, 'resnet50-b1': 20 };

/** Reads `resnet bench --profile --json` output into a WorkloadProfile (throws on anything else). */
export function parseProfileJson(workload: string, j: Record<string, unknown>): WorkloadProfile {
  const entries = j.profile;
  const times = j.timesMs;
  if (!Array.isArray(entries) || !Array.isArray(times) || typeof j.msPerBatch !== 'number') {
    throw new Error(`the profile of ${workload} has no 'profile', 'timesMs' or 'msPerBatch' field`);
  }
  const steps = times.length;
  if (steps === 0) throw new Error(`the profile of ${workload} has no timed steps`);
  const lines = entries.map((e: Record<string, unknown>) => {
    if (typeof e.kernel !== 'string' || typeof e.calls !== 'number' || typeof e.msPerStep !== 'number') {
      throw new Error(`a line of the profile of ${workload} lacks kernel, calls or msPerStep`);
    }
    return { kernel: e.kernel, shape: typeof e.shape === 'string' ? e.shape : '', calls: e.calls / steps, msPerStep: e.msPerStep };
  });
  return { workload, msPerBatch: j.msPerBatch, steps, lines };
}

/**
 * Profiles each workload with the CLI of the checkout at `root` (its dist/ built), one child
 * process per workload, one after the other.
 */
export async function collectProfiles(
  root: string, o: { workloads: string[]; threads: number; commit: string; timeoutMs: number; loadAverage: number },
): Promise<ProfileSet> {
  const set: ProfileSet = { commit: o.commit, date: new Date().toISOString(), threads: o.threads, loadAverage: o.loadAverage, profiles: [], failed: [] };
  for (const workload of o.workloads) {
    const args = [`${root}/dist/src/cli/main.js`, 'bench', '--workload', workload, '--backend', 'wasm', '--threads', String(o.threads),
      '--profile', '--json', '--runs', String(PROFILE_RUNS[workload] ?? 10)];
    const out = await runChild(process.execPath, args, root, o.timeoutMs);
    if (out.error !== undefined) {
      set.failed.push({ workload, reason: out.error });
      continue;
    }
    try {
      set.profiles.push(parseProfileJson(workload, out.json!));
    } catch (e) {
      set.failed.push({ workload, reason: (e as Error).message });
    }
  }
  return set;
}

/** Checks that a parsed JSON file is a ProfileSet, naming what is wrong. */
export function checkProfileSet(j: unknown, file: string): ProfileSet {
  const s = j as Partial<ProfileSet>;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.profiles) || typeof s.commit !== 'string') {
    throw new Error(`${file} is not a profile set (no 'commit' or 'profiles'); make one with tools/profile-snapshot.mjs`);
  }
  for (const p of s.profiles) {
    if (typeof p.workload !== 'string' || typeof p.msPerBatch !== 'number' || !Array.isArray(p.lines)) {
      throw new Error(`${file}: a profile lacks workload, msPerBatch or lines`);
    }
  }
  return { failed: [], threads: 0, loadAverage: 0, date: '', ...s } as ProfileSet;
}

const ms = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2));
const ratio = (before: number | undefined, after: number | undefined) =>
  before === undefined || after === undefined || after <= 0 ? '' : `${(before / after).toFixed(2)}×`;

/** Layers shown per workload: the largest, by the time they take now (or took before). */
const TOP_LAYERS = 15;

/** The comparison of one workload's profiles, as Markdown lines. */
function compareOne(title: string, after: WorkloadProfile, before: WorkloadProfile | undefined, beforeCommit: string): string[] {
  const byKernel = (p: WorkloadProfile | undefined) => {
    const m = new Map<string, number>();
    for (const l of p?.lines ?? []) m.set(l.kernel, (m.get(l.kernel) ?? 0) + l.msPerStep);
    return m;
  };
  const kb = byKernel(before), ka = byKernel(after);
  const kernels = [...new Set([...ka.keys(), ...kb.keys()])]
    .sort((x, y) => Math.max(ka.get(y) ?? 0, kb.get(y) ?? 0) - Math.max(ka.get(x) ?? 0, kb.get(x) ?? 0));
  const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  const head = before === undefined
    ? `${after.msPerBatch.toFixed(1)} ms per step now (no earlier profile of this workload to compare with).`
    : `${before.msPerBatch.toFixed(1)} ms per step before (${beforeCommit}), ${after.msPerBatch.toFixed(1)} ms now ` +
      `(${ratio(before.msPerBatch, after.msPerBatch)}); kernel time ${total(kb).toFixed(1)} → ${total(ka).toFixed(1)} ms.`;
  const kernelRows = kernels.map((k) => [k, ms(kb.get(k)), ms(ka.get(k)), ratio(kb.get(k), ka.get(k))]);
  const key = (l: ProfileLine) => `${l.kernel}|${l.shape}`;
  const lb = new Map((before?.lines ?? []).map((l) => [key(l), l]));
  const la = new Map(after.lines.map((l) => [key(l), l]));
  const layers = [...new Set([...la.keys(), ...lb.keys()])]
    .filter((k) => (la.get(k) ?? lb.get(k))!.shape !== '')
    .sort((x, y) => Math.max(la.get(y)?.msPerStep ?? 0, lb.get(y)?.msPerStep ?? 0) - Math.max(la.get(x)?.msPerStep ?? 0, lb.get(x)?.msPerStep ?? 0))
    .slice(0, TOP_LAYERS);
  const layerRows = layers.map((k) => {
    const l = (la.get(k) ?? lb.get(k))!;
    const calls = la.get(k)?.calls ?? lb.get(k)!.calls;
    return [l.kernel, l.shape, calls.toFixed(0), ms(lb.get(k)?.msPerStep), ms(la.get(k)?.msPerStep), ratio(lb.get(k)?.msPerStep, la.get(k)?.msPerStep)];
  });
  return [
    `### ${title}`, '', head, '',
    markdownTable(['kernel', 'before ms/step', 'now ms/step', 'speed-up'], kernelRows), '',
    markdownTable(['kernel', 'shape (n×c×h×w → c×h×w, k×k/stride)', 'calls/step', 'before ms/step', 'now ms/step', 'speed-up'], layerRows), '',
  ];
}

/** The profile section of the report: every workload of `after`, beside `before` where it has it. */
export function renderProfiles(after: ProfileSet, before: ProfileSet | undefined): string {
  const beforeCommit = before === undefined ? '' : `commit ${before.commit}`;
  const intro = before === undefined
    ? 'No earlier profile was given (`--profile-before`), so only the time of this build is shown.'
    : `"Before" is commit ${before.commit}, profiled ${before.date.slice(0, 10)} (load ${before.loadAverage.toFixed(1)}, ` +
      `${before.threads} threads); "now" is this run's build (load ${after.loadAverage.toFixed(1)} at the start of the profiles). ` +
      'Fused kernels appear under the kernel they extend, so a kernel that disappeared has a dash now.';
  const out = [
    '## Per-layer profile', '',
    'Every kernel call of the wasm set timed by `resnet bench --workload W --profile` (src/bench/profile.ts), in ms per step; ' +
      'the proxy that times the calls adds a little to each step. ' + intro, '',
  ];
  for (const p of after.profiles) {
    const title = isWorkloadName(p.workload) ? WORKLOADS[p.workload].description : p.workload;
    out.push(...compareOne(title, p, before?.profiles.find((b) => b.workload === p.workload), beforeCommit));
  }
  for (const f of after.failed) out.push(`- ${f.workload}: **profile failed**: ${f.reason}`, '');
  return out.join('\n');
}
