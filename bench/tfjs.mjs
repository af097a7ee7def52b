// The benchmark workloads (src/bench/workloads.ts) on TensorFlow.js, one backend per process:
//
//   node bench/tfjs.mjs --workload resnet50-b1 --backend cpu|wasm [--runs R] [--warmup N]
//
// Prints one JSON object with the fields of `resnet bench --json`, timed by the same code
// (dist/src/bench/measure.js: warm-up excluded, median of the timed runs). The networks are
// built here from tfjs-core ops, in TensorFlow's NHWC layout with HWIO filters: ResNet-20 with
// option-A shortcuts (Sec. 4.2 of the paper) and torchvision's ResNet-18/50 (stride on the 3×3
// of a bottleneck, 1×1 projection shortcuts). A training step is forward, softmax cross-entropy,
// gradients of every variable (tf.variableGrads), and SGD with momentum 0.9 and weight decay 1e-4
// written in ops as PyTorch applies them. Batch norm in training mode normalizes with the batch
// statistics (tf.moments); the running averages are not updated (a few element-wise ops per
// layer, left out). The wasm backend has no gradient kernel for the convolution filter, so it
// cannot train: that is reported as {"status": "unsupported"} with tfjs's message.
//
// Needs `npm --prefix bench ci` (@tensorflow/tfjs, @tensorflow/tfjs-backend-wasm) and the built
// library (`npx tsc` at the root) for the timing code and the workload definitions.

import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs'; // core, the cpu backend and every gradient
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { benchResult, measure } from '../dist/src/bench/measure.js';
import { WORKLOADS, isWorkloadName, workloadCost } from '../dist/src/bench/workloads.js';

const { values } = parseArgs({
  options: {
    workload: { type: 'string' }, backend: { type: 'string', default: 'cpu' },
    runs: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' },
  },
});
if (!values.workload || !isWorkloadName(values.workload)) {
  console.error(`usage: node bench/tfjs.mjs --workload ${Object.keys(WORKLOADS).join('|')} --backend cpu|wasm`);
  process.exit(2);
}
if (!['cpu', 'wasm'].includes(values.backend)) {
  console.error(`--backend must be cpu or wasm, got '${values.backend}'`);
  process.exit(2);
}
const workload = WORKLOADS[values.workload];
const backend = values.backend;

// ------------------------------------------------------------------ parameters

let seed = 1;
const variables = [];

/** A trainable conv filter [kh, kw, cIn, cOut], He-normal (fan_out, as torchvision). */
function convWeight(kh, kw, cIn, cOut) {
  const v = tf.variable(tf.randomNormal([kh, kw, cIn, cOut], 0, Math.sqrt(2 / (kh * kw * cOut)), 'float32', seed++));
  variables.push(v);
  return v;
}

function batchNormParams(c) {
  const p = {
    gamma: tf.variable(tf.ones([c])), beta: tf.variable(tf.zeros([c])),
    runningMean: tf.zeros([c]), runningVar: tf.ones([c]),
  };
  variables.push(p.gamma, p.beta);
  return p;
}

// ------------------------------------------------------------------ layers (NHWC)

function conv(x, weight, stride, pad) {
  return tf.conv2d(x, weight, [stride, stride], [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
}

function batchNorm(x, p, training) {
  if (!training) return tf.batchNorm(x, p.runningMean, p.runningVar, p.beta, p.gamma, 1e-5);
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, p.beta, p.gamma, 1e-5);
}

/** conv → BN, the unit every block is made of. */
function convBn(cIn, cOut, k, stride) {
  const weight = convWeight(k, k, cIn, cOut);
  const bn = batchNormParams(cOut);
  const pad = (k - 1) / 2;
  return (x, training) => batchNorm(conv(x, weight, stride, pad), bn, training);
}

/**
 * Option-A shortcut: every stride-th pixel (a 1×1 average pool with that stride: tf.stridedSlice
 * would do it too, but has no gradient in tfjs), then zero channels after the identity ones.
 */
function shortcutA(stride, extra) {
  return (x) => tf.pad(tf.avgPool(x, 1, stride, 'valid'), [[0, 0], [0, 0], [0, 0], [0, extra]]);
}

function basicBlock(cIn, cOut, stride, shortcut) {
  const a = convBn(cIn, cOut, 3, stride);
  const b = convBn(cOut, cOut, 3, 1);
  let skip = (x) => x;
  if (stride !== 1 || cIn !== cOut) skip = shortcut === 'A' ? shortcutA(stride, cOut - cIn) : convBn(cIn, cOut, 1, stride);
  return (x, training) => tf.relu(tf.add(b(tf.relu(a(x, training)), training), skip(x, training)));
}

/** torchvision's bottleneck: 1×1, 3×3 (strided), 1×1 with 4× expansion; projection where the shape changes. */
function bottleneck(cIn, planes, stride) {
  const cOut = planes * 4;
  const a = convBn(cIn, planes, 1, 1);
  const b = convBn(planes, planes, 3, stride);
  const c = convBn(planes, cOut, 1, 1);
  const skip = stride !== 1 || cIn !== cOut ? convBn(cIn, cOut, 1, stride) : (x) => x;
  return (x, training) => tf.relu(tf.add(c(tf.relu(b(tf.relu(a(x, training)), training)), training), skip(x, training)));
}

function linear(cIn, cOut) {
  const weight = tf.variable(tf.randomUniform([cIn, cOut], -1 / Math.sqrt(cIn), 1 / Math.sqrt(cIn), 'float32', seed++));
  const bias = tf.variable(tf.zeros([cOut]));
  variables.push(weight, bias);
  return (x) => tf.add(tf.matMul(x, weight), bias);
}

// ------------------------------------------------------------------ networks

function resnetCifar(n, classes) {
  const stem = convBn(3, 16, 3, 1);
  const blocks = [];
  let cIn = 16;
  for (let stage = 0; stage < 3; stage++) {
    const cOut = 16 * 2 ** stage;
    for (let i = 0; i < n; i++) {
      blocks.push(basicBlock(cIn, cOut, stage > 0 && i === 0 ? 2 : 1, 'A'));
      cIn = cOut;
    }
  }
  const fc = linear(cIn, classes);
  return (x, training) => {
    let y = tf.relu(stem(x, training));
    for (const b of blocks) y = b(y, training);
    return fc(tf.mean(y, [1, 2]));
  };
}

function resnetImagenet(block, counts, classes) {
  const stem = convBn(3, 64, 7, 2);
  const blocks = [];
  let cIn = 64;
  counts.forEach((count, stage) => {
    const planes = 64 * 2 ** stage;
    for (let i = 0; i < count; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      if (block === 'basic') {
        blocks.push(basicBlock(cIn, planes, stride, 'B'));
        cIn = planes;
      } else {
        blocks.push(bottleneck(cIn, planes, stride));
        cIn = planes * 4;
      }
    }
  });
  const fc = linear(cIn, classes);
  return (x, training) => {
    let y = tf.maxPool(tf.relu(stem(x, training)), 3, 2, 1);
    for (const b of blocks) y = b(y, training);
    return fc(tf.mean(y, [1, 2]));
  };
}

function makeNet(w) {
  if (w.net === 'resnet20') return resnetCifar(3, w.classes);
  if (w.net === 'resnet18') return resnetImagenet('basic', [2, 2, 2, 2], w.classes);
  if (w.net === 'resnet50') return resnetImagenet('bottleneck', [3, 4, 6, 3], w.classes);
  throw new Error(`no tfjs graph for ${w.net}`);
}

// ------------------------------------------------------------------ the step

function makeStep(w) {
  const net = makeNet(w);
  const x = tf.randomUniform([w.batch, w.size, w.size, 3], -1, 1, 'float32', seed++);
  if (w.mode === 'eval') {
    return () => {
      const logits = tf.tidy(() => net(x, false));
      logits.dataSync();
      logits.dispose();
    };
  }
  const labels = tf.oneHot(tf.randomUniform([w.batch], 0, w.classes, 'int32', seed++), w.classes);
  const momentum = variables.map((v) => tf.zerosLike(v));
  const lr = 0.1, mu = 0.9, weightDecay = 1e-4;
  let first = true;
  return () => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, net(x, true)), variables);
    tf.tidy(() => {
      variables.forEach((v, i) => {
        const g = tf.add(grads[v.name], tf.mul(v, weightDecay));
        const buf = first ? g : tf.add(tf.mul(momentum[i], mu), g);
        momentum[i].dispose();
        momentum[i] = tf.keep(tf.clone(buf));
        v.assign(tf.sub(v, tf.mul(buf, lr)));
      });
    });
    first = false;
    value.dataSync();
    value.dispose();
    tf.dispose(grads);
  };
}

// ------------------------------------------------------------------ main

const engineFields = { workload, engine: 'tfjs', backend, threads: 1, version: `tfjs-core ${tf.version_core}` };
try {
  if (backend === 'wasm') {
    // The wasm backend runs single-threaded under Node (threads are disabled there: tfjs issue 3830).
    if (values.threads) tfwasm.setThreadsCount(Number(values.threads));
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed`);
  await tf.ready();
  if (backend === 'wasm') {
    engineFields.threads = tfwasm.getThreadsCount();
    engineFields.notes = 'single-threaded under Node: tfjs-backend-wasm disables threads there';
  }
  const step = makeStep(workload);
  const timings = await measure(step, {
    runs: values.runs === undefined ? undefined : Number(values.runs),
    warmup: values.warmup === undefined ? undefined : Number(values.warmup),
  });
  console.log(JSON.stringify(benchResult(engineFields, workloadCost(workload), timings), null, 2));
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  // A kernel that the backend lacks (the wasm backend has no Conv2DBackpropFilter) is a fact about
  // the engine, not a failure of the benchmark.
  const unsupported = /not registered for backend/.test(message);
  console.log(JSON.stringify({
    workload: workload.name, engine: 'tfjs', backend, threads: engineFields.threads, mode: workload.mode, batch: workload.batch,
    status: unsupported ? 'unsupported' : 'failed', reason: message.split('\n')[0], version: engineFields.version,
  }, null, 2));
  process.exitCode = unsupported ? 0 : 1;
}
