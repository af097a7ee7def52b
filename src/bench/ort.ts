// The inference workloads on onnxruntime-node (CPU), one per process:
//
//   node dist/src/bench/ort.js --workload resnet50-b1 [--threads 2] [--runs R] [--warmup N]
//
// Our network, with random weights, exported to ONNX by src/models/onnx-export.ts (opset 13,
// batch norm folded into the convolutions, as an ONNX user would ship it) and run by
// onnxruntime with all graph optimizations. Prints one JSON object with the fields of
// `resnet bench --json`, timed by the same code. onnxruntime-node cannot train (it has no
// training API): a training workload is reported as {"status": "unsupported"}.

import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { createNet } from '../models/resnet.js';
import { ONNX_INPUT, exportOnnx } from '../models/onnx-export.js';
import { benchResult, measure } from './measure.js';
import { WORKLOADS, WORKLOAD_NAMES, isWorkloadName, workloadCost } from './workloads.js';

const { values } = parseArgs({
  options: {
    workload: { type: 'string' }, threads: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' },
    json: { type: 'boolean' },
  },
});
if (values.workload === undefined || !isWorkloadName(values.workload)) {
  console.error(`usage: node dist/src/bench/ort.js --workload ${WORKLOAD_NAMES.join('|')} [--threads N]`);
  process.exit(2);
}
const workload = WORKLOADS[values.workload];
const threads = values.threads === undefined ? availableParallelism() : Number(values.threads);

const ort = await import('onnxruntime-node');
const version = `onnxruntime-node ${ort.env.versions?.node ?? '?'}`;

if (workload.mode === 'train') {
  console.log(JSON.stringify({
    workload: workload.name, engine: 'onnxruntime', backend: 'cpu', threads, mode: workload.mode, batch: workload.batch,
    status: 'unsupported', reason: 'onnxruntime-node runs inference only (no training API)', version,
  }, null, 2));
} else {
  const net = createNet(workload.net, { ...workload.options, classes: workload.classes, seed: 0 }).eval();
  const model = exportOnnx(net, { batch: workload.batch, inputSize: [workload.size, workload.size] });
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const pixels = new Float32Array(workload.batch * 3 * workload.size * workload.size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i); // any fixed values
  const input = new ort.Tensor('float32', pixels, [workload.batch, 3, workload.size, workload.size]);
  const step = async () => {
    const out = await session.run({ [ONNX_INPUT]: input });
    for (const t of Object.values(out)) t.dispose?.();
  };
  const timings = await measure(step, {
    runs: values.runs === undefined ? undefined : Number(values.runs),
    warmup: values.warmup === undefined ? undefined : Number(values.warmup),
  });
  console.log(JSON.stringify(benchResult({ workload, engine: 'onnxruntime', backend: 'cpu', threads, version }, workloadCost(workload), timings), null, 2));
  await session.release();
}
