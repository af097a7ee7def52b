// The report of one `npm run bench`: every workload on every engine, side by side, with
// ratios against the peers measured in the same run, and the speed targets checked.

import { markdownTable } from './profile.js';
import type { BenchResult } from './measure.js';
import { type ProfileSet, renderProfiles } from './profiles.js';

/** A workload an engine did not run, and why. */
export interface NotRun {
  workload: string;
  engine: string;
  status: 'skipped' | 'unsupported' | 'not installed' | 'failed';
  reason: string;
}

export type Row = { workload: string; engine: string; status: 'ok'; result: BenchResult; loadAverage?: number } | NotRun;

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  /** Load average (1 min) when the run started: the machine is shared. */
  loadAverage: number;
}

export interface Target {
  name: string;
  /** The measured ratio (undefined when one side did not run). */
  ratio?: number;
  goal: number;
  /** Whether the ratio must reach the goal ('at least': speed) or stay under it ('at most': memory). */
  kind: 'at least' | 'at most';
  met?: boolean;
  how: string;
  /**
   * With several rounds: the ratio of each round's medians, in round order (speed targets only):
   * how far the noise of a shared machine moves it.
   */
  roundRatios?: number[];
}

export interface Report {
  date: string;
  /** The commit measured ('+dirty': the engine's sources had uncommitted changes). */
  commit: string;
  machine: Machine;
  threads: number;
  /** Interleaved rounds of the whole suite whose runs were pooled. */
  rounds: number;
  workloads: string[];
  engines: { label: string; side: 'ours' | 'peer'; unavailable?: string }[];
  rows: Row[];
  targets: Target[];
  elapsedSeconds: number;
  /** The wasm set's per-layer profiles of this build, and of an earlier one to compare with. */
  profiles?: ProfileSet;
  profilesBefore?: ProfileSet;
}

function find(rows: Row[], workload: string, engine: string): BenchResult | undefined {
  const r = rows.find((x) => x.workload === workload && x.engine === engine);
  return r && r.status === 'ok' ? r.result : undefined;
}

/** The targets for the wasm kernel set (issue 9). */
export function checkTargets(rows: Row[]): Target[] {
  const ours = 'resnet-ts wasm';
  const target = (name: string, kind: Target['kind'], goal: number, how: string, ratio: number | undefined): Target => ({
    name, kind, goal, how, ratio, met: ratio === undefined ? undefined : kind === 'at least' ? ratio >= goal : ratio <= goal,
  });
  const both = (workload: string, peer: string) => {
    const a = find(rows, workload, ours), b = find(rows, workload, peer);
    return a && b ? [a, b] as const : undefined;
  };
  const speed = (workload: string, peer: string, goal: number, name: string): Target => {
    const m = both(workload, peer);
    const t = target(name, 'at least', goal, `images/s of ${ours} ÷ images/s of ${peer}`, m && m[0].imagesPerSecond / m[1].imagesPerSecond);
    const a = m?.[0].roundMediansMs, b = m?.[1].roundMediansMs;
    return a && b && a.length === b.length && a.length > 1 ? { ...t, roundRatios: a.map((ms, i) => b[i] / ms) } : t;
  };
  const memory = (workload: string, peer: string, goal: number, name: string): Target => {
    const m = both(workload, peer);
    return target(name, 'at most', goal, `peak RSS of ${ours} ÷ peak RSS of ${peer}`, m && m[0].peakRssBytes / m[1].peakRssBytes);
  };
  return [
    speed('resnet20-train', 'PyTorch', 1.0, 'ResNet-20 training, batch 128: ≥ 1.0× PyTorch images/s'),
    speed('resnet20-eval', 'PyTorch', 1.2, 'ResNet-20 inference, batch 128: ≥ 1.2× PyTorch images/s'),
    speed('resnet50-b1', 'PyTorch', 0.8, 'ResNet-50 batch 1: ≥ 0.8× PyTorch images/s'),
    speed('resnet50-b1', 'tfjs-wasm', 3, 'ResNet-50 batch 1: ≥ 3× tfjs-wasm images/s'),
    memory('resnet50-b16', 'PyTorch', 1.2, 'ResNet-50 batch 16: peak RSS ≤ 1.2× PyTorch'),
    memory('resnet20-train', 'PyTorch', 1.2, 'ResNet-20 training: peak RSS ≤ 1.2× PyTorch'),
  ];
}

const fmt = (x: number, digits = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

export function renderMarkdown(r: Report): string {
  const pooled = r.rounds > 1 ? `, runs pooled over ${r.rounds} interleaved rounds of the whole suite` : '';
  const peers = r.engines.filter((e) => e.side === 'peer').map((e) => e.label);
  const header = ['workload', 'engine', 'threads', 'images/s', 'ms/batch', 'GFLOP/s', 'peak RSS', 'runs', 'load', ...peers.map((p) => `× ${p}`)];
  const rows: string[][] = [];
  for (const w of r.workloads) {
    for (const e of r.engines) {
      const row = r.rows.find((x) => x.workload === w && x.engine === e.label);
      if (row === undefined) continue;
      if (row.status !== 'ok') {
        rows.push([w, e.label, '', row.status, '', '', '', '', '', ...peers.map(() => '')]);
        continue;
      }
      const m = row.result;
      const ratios = peers.map((p) => {
        if (e.side !== 'ours') return '';
        const peer = find(r.rows, w, p);
        return peer ? `${(m.imagesPerSecond / peer.imagesPerSecond).toFixed(2)}×` : '–';
      });
      rows.push([w, e.label, String(m.threads), fmt(m.imagesPerSecond), fmt(m.msPerBatch), fmt(m.gflops), mib(m.peakRssBytes), String(m.runs),
        row.loadAverage === undefined ? '' : row.loadAverage.toFixed(1), ...ratios]);
    }
  }
  const notes = r.rows.filter((x): x is NotRun => x.status !== 'ok')
    .map((x) => `- ${x.workload} on ${x.engine}: **${x.status}**: ${x.reason}`);
  const engineNotes = r.rows.filter((x): x is Row & { status: 'ok' } => x.status === 'ok' && x.result.notes !== undefined)
    .map((x) => `${x.engine}: ${x.result.notes}`);
  const perRound = r.rounds > 1;
  const targets = r.targets.map((t) => [
    t.name, t.ratio === undefined ? 'not measured' : `${t.ratio.toFixed(2)}×`, `${t.kind === 'at least' ? '≥' : '≤'} ${t.goal}×`,
    t.met === undefined ? '–' : t.met ? 'met' : 'not met',
    ...(perRound ? [t.roundRatios ? t.roundRatios.map((x) => `${x.toFixed(2)}×`).join(', ') : ''] : []), t.how,
  ]);
  const versions = [...new Set(r.rows.flatMap((x) => (x.status === 'ok' && x.result.version ? [`${x.engine}: ${x.result.version}`] : [])))];
  return [
    `# resnet-ts benchmark, ${r.date.slice(0, 10)}`,
    '',
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${(r.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${r.machine.os}, Node ${r.machine.node}; ` +
      `load average ${r.machine.loadAverage.toFixed(2)} at the start (a shared machine). Threads: ${r.threads} per engine where it has a setting. ` +
      `Commit ${r.commit}. Run took ${(r.elapsedSeconds / 60).toFixed(1)} min.`,
    '',
    `Median of the timed runs (warm-up excluded), each workload in a fresh process${pooled}. ` +
      'GFLOP/s counts 2 per multiply-accumulate of the convolutions and the classifier, 3× the forward pass for a training step. `× peer` = our images/s ÷ the peer\'s, ' +
      'measured in this run (above 1: we are faster). `load`: the 1-minute load average when the workload started (averaged over the rounds).',
    '',
    markdownTable(header, rows),
    '',
    '## Targets',
    '',
    markdownTable(['target', 'measured', 'goal', 'result', ...(perRound ? ['each round'] : []), 'ratio of'], targets),
    ...(perRound ? ['', '`measured` is the ratio of the medians of every round\'s runs pooled; `each round`, the ratio of that round\'s two medians.'] : []),
    '',
    ...(r.profiles ? [renderProfiles(r.profiles, r.profilesBefore)] : []),
    ...(notes.length ? ['## Not run', '', ...notes, ''] : []),
    ...(engineNotes.length ? ['## Notes', '', ...[...new Set(engineNotes)].map((n) => `- ${n}`), ''] : []),
    '## Versions',
    '',
    ...versions.map((v) => `- ${v}`),
    '',
  ].join('\n');
}
