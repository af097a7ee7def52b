// `npm run bench`: every workload on every engine (our kernel sets, then PyTorch, TensorFlow.js
// and onnxruntime where they install), one fresh child process per workload and engine, one at
// a time. Prints a Markdown table and writes bench/results/latest.md and latest.json.
//
//   npm run bench [-- --workloads resnet20-train,resnet50-b1] [--engines wasm,pytorch] [--threads 2] [--runs R]
//
// Peers are set up by hand (docs/BENCHMARKS.md): `npm --prefix bench ci` for TensorFlow.js,
// Debian's python3-torch for PyTorch; onnxruntime-node is a devDependency of the library.
// A peer that is missing or fails is reported as such in the table, never left out silently.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChild } from './child.js';
import { describeCpu, readCpuinfo } from './machine.js';
import { type Engine, detectEngines } from './engines.js';
import { type BenchResult, mergeRounds } from './measure.js';
import { PROFILED_WORKLOADS, type ProfileSet, checkProfileSet, collectProfiles } from './profiles.js';
import { type Report, type Row, checkTargets, renderMarkdown } from './report.js';
import { WORKLOADS, WORKLOAD_NAMES, type Workload, isWorkloadName, workloadCost } from './workloads.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const USAGE = `Usage: npm run bench [-- options]

  --workloads A,B        some of ${WORKLOAD_NAMES.join(', ')} (default: all)
  --engines A,B          some of wasm, ref, pytorch, tfjs-cpu, tfjs-wasm, onnxruntime (default: all)
  --threads N            threads of every engine that has a setting (default: the number of cores)
  --runs R               timed runs per workload (default: about 20 s worth, 3 to 30; 3 on the slow engines)
  --rounds N             run the whole suite N times, interleaved, and pool the runs of each row
                         (default 1; on a shared machine 2 or more spread the load over every engine)
  --max-run-seconds S    skip a slow engine (ref, tfjs-cpu) where one run would take longer (default 90)
  --timeout-minutes M    give up on one workload after M minutes (default 20)
  --profiles A,B|none    workloads whose per-layer profile (wasm set) goes into the report
                         (default: ${PROFILED_WORKLOADS.join(', ')}, those among --workloads)
  --profile-before FILE  an earlier build's profiles to compare with (tools/profile-snapshot.mjs;
                         default bench/results/profile-before.json when it exists)
  --out DIR              where latest.md and latest.json go (default bench/results)`;

interface Options {
  workloads: Workload[];
  engineIds?: string[];
  threads: number;
  runs?: number;
  rounds: number;
  maxRunSeconds: number;
  timeoutMs: number;
  out: string;
  profiles: string[];
  profileBefore?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      workloads: { type: 'string' }, engines: { type: 'string' }, threads: { type: 'string' }, runs: { type: 'string' },
      rounds: { type: 'string' },
      'max-run-seconds': { type: 'string' }, 'timeout-minutes': { type: 'string' }, out: { type: 'string' },
      profiles: { type: 'string' }, 'profile-before': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (v: string | undefined, flag: string, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${flag} must be a positive number, got '${v}'`);
    return n;
  };
  const names = values.workloads?.split(',').map((s) => s.trim()).filter(Boolean) ?? [...WORKLOAD_NAMES];
  for (const n of names) if (!isWorkloadName(n)) throw new Error(`unknown workload '${n}'; choose from ${WORKLOAD_NAMES.join(', ')}`);
  return {
    workloads: names.map((n) => WORKLOADS[n as keyof typeof WORKLOADS]),
    engineIds: values.engines?.split(',').map((s) => s.trim()).filter(Boolean),
    threads: Math.floor(positive(values.threads, '--threads', availableParallelism())),
    runs: values.runs === undefined ? undefined : Math.floor(positive(values.runs, '--runs', 0)),
    rounds: Math.floor(positive(values.rounds, '--rounds', 1)),
    maxRunSeconds: positive(values['max-run-seconds'], '--max-run-seconds', 90),
    timeoutMs: positive(values['timeout-minutes'], '--timeout-minutes', 20) * 60_000,
    out: values.out ?? join(ROOT, 'bench/results'),
    profiles: profileWorkloads(values.profiles, names),
    profileBefore: values['profile-before'] ?? (existsSync(DEFAULT_BEFORE) ? DEFAULT_BEFORE : undefined),
  };
}

const DEFAULT_BEFORE = join(ROOT, 'bench/results/profile-before.json');


/** --profiles: 'none', a list of workloads, or by default the targets' workloads among those run. */
function profileWorkloads(flag: string | undefined, run: string[]): string[] {
  if (flag === 'none') return [];
  if (flag === undefined) return PROFILED_WORKLOADS.filter((w) => run.includes(w));
  const names = flag.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!isWorkloadName(n)) throw new Error(`--profiles: unknown workload '${n}'; choose from ${WORKLOAD_NAMES.join(', ')} or 'none'`);
  return names;
}

function readBefore(file: string): ProfileSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--profile-before: cannot read ${file} (${(e as Error).message})`);
  }
  try {
    return checkProfileSet(JSON.parse(text), file);
  } catch (e) {
    throw new Error(`--profile-before: ${(e as Error).message}`);
  }
}

async function runOne(w: Workload, e: Engine, o: Options): Promise<Row> {
  const base = { workload: w.name, engine: e.label };
  if (e.unavailable !== undefined || e.command === undefined) return { ...base, status: 'not installed', reason: e.unavailable ?? 'no command' };
  if (e.slowGflops !== undefined) {
    const gflops = e.slowGflops[w.mode];
    const seconds = workloadCost(w).flopsPerBatch / (gflops * 1e9);
    if (seconds > o.maxRunSeconds) {
      return {
        ...base, status: 'skipped',
        reason: `one run would take about ${seconds.toFixed(0)} s at ~${gflops} GFLOP/s (over --max-run-seconds ${o.maxRunSeconds})`,
      };
    }
  }
  const { file, args } = e.command(w, { root: ROOT, threads: o.threads, runs: o.runs });
  const loadAverage = Math.round(loadavg()[0] * 100) / 100;
  const out = await runChild(file, args, ROOT, o.timeoutMs);
  if (out.error !== undefined) return { ...base, status: 'failed', reason: out.error };
  const j = out.json!;
  if (j.status === 'unsupported' || j.status === 'failed') {
    return { ...base, status: j.status, reason: String(j.reason ?? '') };
  }
  return { ...base, status: 'ok', result: j as unknown as BenchResult, loadAverage };
}

/** One row from its rounds: the runs pooled; a round that failed is noted, not dropped silently. */
function combineRounds(rounds: Row[]): Row {
  const ok = rounds.filter((r): r is Row & { status: 'ok' } => r.status === 'ok');
  if (ok.length === 0) return rounds[0];
  const result = mergeRounds(ok.map((r) => r.result));
  const failed = rounds.flatMap((r) => (r.status === 'ok' ? [] : [r.reason]));
  if (failed.length > 0) result.notes = [result.notes, `${failed.length} round(s) failed: ${failed.join('; ')}`].filter(Boolean).join('; ');
  const loads = ok.map((r) => r.loadAverage).filter((l): l is number => l !== undefined);
  const loadAverage = loads.length ? Math.round((loads.reduce((a, b) => a + b, 0) / loads.length) * 100) / 100 : undefined;
  return { ...ok[0], result, ...(loadAverage !== undefined ? { loadAverage } : {}) };
}

/** The commit measured, with '+dirty' when the kernels or the wasm build differ from it. */
function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src/kernels', 'assembly', 'src/ops', 'src/nn'], { cwd: ROOT, encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() ? '+dirty' : ''}`;
}

function describeRow(r: Row): string {
  if (r.status !== 'ok') return `${r.status}: ${r.reason}`;
  const m = r.result;
  return `${m.imagesPerSecond.toFixed(1)} images/s, ${m.msPerBatch.toFixed(1)} ms/batch, ${m.gflops.toFixed(1)} GFLOP/s, ` +
    `${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB (${m.runs} runs)`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  let engines = detectEngines(ROOT);
  if (o.engineIds !== undefined) {
    for (const id of o.engineIds) if (!engines.some((e) => e.id === id)) throw new Error(`unknown engine '${id}'; choose from ${engines.map((e) => e.id).join(', ')}`);
    engines = engines.filter((e) => o.engineIds!.includes(e.id));
  }
  for (const e of engines) if (e.unavailable) console.error(`${e.label}: ${e.unavailable}`);
  const before = o.profileBefore === undefined || o.profiles.length === 0 ? undefined : readBefore(o.profileBefore);
  const started = Date.now();
  const date = new Date().toISOString();
  const machine = {
    cpu: describeCpu(cpus()[0]?.model ?? '', readCpuinfo()), cores: availableParallelism(), memoryBytes: totalmem(),
    os: `${osType()} ${release()}`, node: process.versions.node, loadAverage: loadavg()[0],
  };
  const commit = gitCommit();
  const byRow = new Map<string, Row[]>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const w of o.workloads) {
      for (const e of engines) {
        const key = `${w.name}|${e.label}`;
        const earlier = byRow.get(key) ?? [];
        // what is skipped, unsupported or missing stays so: ask once
        if (earlier.length > 0 && earlier.every((r) => r.status !== 'ok' && r.status !== 'failed')) continue;
        const t0 = Date.now();
        const row = await runOne(w, e, o);
        byRow.set(key, [...earlier, row]);
        const tag = o.rounds > 1 ? `round ${round}: ` : '';
        console.error(`${w.name.padEnd(15)} ${e.label.padEnd(15)} ${tag}${describeRow(row)} [${((Date.now() - t0) / 1000).toFixed(0)} s]`);
      }
    }
  }
  const rows = [...byRow.values()].map(combineRounds);
  const profileRun = o.profiles.length > 0 && engines.some((e) => e.id === 'wasm' && e.unavailable === undefined);
  if (profileRun) console.error(`profiling ${o.profiles.join(', ')} on the wasm set…`);
  const profiles = profileRun
    ? await collectProfiles(ROOT, { workloads: o.profiles, threads: o.threads, commit, timeoutMs: o.timeoutMs, loadAverage: loadavg()[0] })
    : undefined;
  const report: Report = {
    date, commit, machine, threads: o.threads, rounds: o.rounds, workloads: o.workloads.map((w) => w.name),
    engines: engines.map((e) => ({ label: e.label, side: e.side, ...(e.unavailable ? { unavailable: e.unavailable } : {}) })),
    rows, targets: checkTargets(rows), elapsedSeconds: Math.round((Date.now() - started) / 1000),
    ...(profiles ? { profiles, ...(before ? { profilesBefore: before } : {}) } : {}),
  };
  const markdown = renderMarkdown(report);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'latest.md'), markdown);
  writeFileSync(join(o.out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(markdown);
  console.error(`wrote ${join(o.out, 'latest.md')} and latest.json`);
}

try {
  await main();
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 2;
}
