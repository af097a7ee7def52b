// ResNet-20 training speed in Chromium against Node, on the same wasm kernel set and threads: the
// benchmark's `resnet20-train` workload (batch 128, 3×32×32, forward + loss + backward + SGD),
// timed the same way (bench/measure.ts) in the app's worker and in this process, in interleaved
// rounds so that a shared machine's load falls on both. A measurement, not a test.
//
//   npm run build && node tools/web-speed.mjs [--threads N] [--rounds R] [--runs K] [--json]
//
// Needs Debian's chromium (/usr/bin/chromium, or $CHROMIUM).
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { loadKernels } from '../dist/src/kernels/select.js';
import { prepareWorkload } from '../dist/src/bench/ours.js';
import { measure, median } from '../dist/src/bench/measure.js';
import { WORKLOADS } from '../dist/src/bench/workloads.js';
import { chromiumMissing, openApp, request } from '../dist/test-browser/browser.js';

const { values } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' } } });
const threads = Number(values.threads ?? 2);
const rounds = Number(values.rounds ?? 3);
const runs = Number(values.runs ?? 5);
const missing = chromiumMissing();
if (missing) {
  console.error(`web-speed: ${missing}`);
  process.exit(1);
}

const workload = WORKLOADS['resnet20-train'];
const kernels = await loadKernels({ backend: 'wasm', threads });
const nodeSet = { threads: kernels.threads, variant: kernels.variant }; // read before dispose() stops the pool
const runner = prepareWorkload(workload, kernels);
const app = await openApp({ timeoutMs: 600000, query: `?threads=${threads}` });
const before = loadavg()[0];
const node = [];
const browser = [];
let info;
try {
  for (let r = 0; r < rounds; r++) {
    node.push(...(await measure(() => runner.step(), { warmup: 1, runs })).timesMs);
    info = await request(app.page, { type: 'bench', workload: workload.name, warmup: 1, runs });
    browser.push(...info.timesMs);
  }
} finally {
  await app.close();
  kernels.dispose?.();
}
const after = loadavg()[0];
const ips = (ms) => (1000 * workload.batch) / ms;
const result = {
  workload: workload.name,
  threads: { node: nodeSet.threads, chromium: info.threads },
  variant: { node: nodeSet.variant, chromium: info.variant },
  rounds, runsPerRound: runs,
  nodeImagesPerSecond: ips(median(node)),
  chromiumImagesPerSecond: ips(median(browser)),
  ratio: median(node) / median(browser), // Chromium's speed as a fraction of Node's
  cores: cpus().length,
  loadAverage: { before, after },
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${workload.description}`);
  console.log(`  Node      ${result.nodeImagesPerSecond.toFixed(1)} images/s (${result.threads.node} threads, ${result.variant.node})`);
  console.log(`  Chromium  ${result.chromiumImagesPerSecond.toFixed(1)} images/s (${result.threads.chromium} threads, ${result.variant.chromium})`);
  console.log(`  Chromium / Node: ${result.ratio.toFixed(3)} (medians of ${rounds} interleaved rounds × ${runs} batches; ` +
    `load average ${before.toFixed(1)} → ${after.toFixed(1)} on ${result.cores} cores)`);
}
process.exit(0);
