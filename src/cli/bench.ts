// `resnet bench`: one workload on one kernel set, in this process; `npm run bench` runs every
// workload this way in a fresh child process each, beside the peers (src/bench/run.ts).

import { loadKernels } from '../kernels/select.js';
import { type BenchResult, benchResult, measure, median } from '../bench/measure.js';
import { prepareWorkload } from '../bench/ours.js';
import { formatProfile, timeKernels } from '../bench/profile.js';
import { WORKLOADS, WORKLOAD_NAMES, isWorkloadName, workloadCost } from '../bench/workloads.js';
import type { KernelSet } from '../kernels/contract.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, backendFromFlags } from './net-flags.js';

export const benchCommand: Command = {
  name: 'bench',
  summary: 'time a training or inference workload (images/s, GFLOP/s, peak memory)',
  usage: `Usage: resnet bench --workload W [--backend ref|wasm] [--threads N] [--runs R] [--json] [--profile]

Times one workload with random weights and data: warm-up runs first (not counted), then R
runs of one batch each; reports the median. \`npm run bench\` runs every workload, each in a
fresh process, beside PyTorch, TensorFlow.js and onnxruntime (docs/BENCHMARKS.md).

  --workload W           ${WORKLOAD_NAMES.join(' | ')}
${WORKLOAD_NAMES.map((n) => `                           ${n}: ${WORKLOADS[n].description}`).join('\n')}
  --runs R               timed runs (default: enough for about 20 s, between 3 and 30)
  --warmup N             warm-up runs (default 2, or 1 when a run takes over 10 s)
  --json                 print one JSON object (workload, backend, threads, imagesPerSecond,
                         msPerBatch, gflops, peakRssBytes, runs, timesMs, …)
  --profile              time every kernel call and print the time per step of each kernel and
                         shape (each conv forward and backward, batch norm, …), largest first

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...BACKEND_FLAGS, workload: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' },
      json: { type: 'boolean' }, profile: { type: 'boolean' },
    });
    const name = values.workload;
    if (name === undefined) throw new UsageError(`bench needs --workload (${WORKLOAD_NAMES.join(', ')})`);
    if (!isWorkloadName(name)) throw new UsageError(`unknown workload '${name}'; choose one of ${WORKLOAD_NAMES.join(', ')}`);
    const workload = WORKLOADS[name];
    const runs = values.runs === undefined ? undefined : intFlag(values.runs, '--runs', 0);
    const warmup = values.warmup === undefined ? undefined : intFlag(values.warmup, '--warmup', 0);
    const kernels = await loadKernels(backendFromFlags(values));
    try {
      const threads = threadsOf(kernels);
      const cost = workloadCost(workload);
      const fields = { workload, engine: 'resnet-ts', backend: kernels.name, threads, version: versionOf(kernels) };
      if (values.profile) {
        const timed = timeKernels(kernels);
        const runner = prepareWorkload(workload, timed.kernels);
        const step = () => runner.step();
        await measure(step, { warmup, runs: 0 });
        timed.reset(); // the profile covers the timed steps only
        const timings = await measure(step, { warmup: 0, runs: runs ?? 3 });
        const steps = timings.timesMs.length;
        const profile = timed.entries();
        if (values.json) {
          const perStep = profile.map((e) => ({ ...e, msPerStep: e.totalMs / steps }));
          console.log(JSON.stringify({ ...benchResult(fields, cost, timings), profile: perStep }, null, 2));
        } else {
          console.log(`${workload.description}\n${kernels.name} kernels, ${threads} thread(s), ${steps} profiled steps\n`);
          console.log(formatProfile(profile, steps, median(timings.timesMs)));
        }
        return;
      }
      const runner = prepareWorkload(workload, kernels);
      const result = benchResult(fields, cost, await measure(() => runner.step(), { warmup, runs }));
      console.log(values.json ? JSON.stringify(result, null, 2) : formatResult(result));
    } finally {
      (kernels as { dispose?: () => void }).dispose?.();
    }
  },
};

function threadsOf(kernels: KernelSet): number {
  const t = (kernels as { threads?: unknown }).threads;
  return typeof t === 'number' ? t : 1;
}

function versionOf(kernels: KernelSet): string | undefined {
  const v = (kernels as { variant?: unknown }).variant;
  return typeof v === 'string' ? `${kernels.name} (${v} build)` : undefined;
}

function formatResult(r: BenchResult): string {
  return `${r.workload} on ${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'}): ` +
    `${r.imagesPerSecond.toFixed(1)} images/s, ${r.msPerBatch.toFixed(1)} ms per batch of ${r.batch} (median of ${r.runs}), ` +
    `${r.gflops.toFixed(1)} GFLOP/s, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`;
}
