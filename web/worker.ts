// The app's Web Worker: holds the kernel set, the data and the network, and trains, saves, loads,
// inspects and predicts on request (protocol.ts), so that the page never freezes. Everything it
// computes comes from the library's browser entry; this file only orders the calls and reports.

import {
  type ArrayDataset, type DataInfo, DATA_KEY, type InputView, FASHION_MNIST_CLASSES, type KernelSet, METRICS_KEY,
  NORMALIZATION_KEY, type Normalization, type Recipe, type ResNet, Rng, SGD, Schedule, type WasmKernelSet,
  applyTransform, chooseRecipe, browserHost, buildBatch, classify, computeMeanImage, createNet,
  encodeMeanImage, endStep, epochOrder, sgdStep, evaluate, fromArray, idxDataset, isNetName, layerResponses, loadKernels,
  netFromWeights, noGrad, parseWeights, shapeOptions, inputView, viewsOf, readTrainedMetadata, refKernels, scheduleSpec,
  summarize, toPlanar, totalIterations, weightsBytes,
} from '../src/browser.js';
import { prepareWorkload } from '../src/bench/ours.js';
import { measure } from '../src/bench/measure.js';
import { WORKLOADS, isWorkloadName } from '../src/bench/workloads.js';
import type { ImagePixels, InitRequest, NetInfo, Prediction, ReadyInfo, Replies, Request, TrainEnd, TrainSettings, WorkerEvent } from './protocol.js';

const scope = self as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

function emit(event: WorkerEvent): void {
  scope.postMessage(event);
}

// ------------------------------------------------------------------------------ state

let base = '';
let kernels: KernelSet = refKernels as KernelSet;

interface Sample28 {
  train: ArrayDataset;
  test: ArrayDataset;
}
let sample: Promise<Sample28> | null = null;

/** The network on hand (trained here or loaded) and what it needs to be evaluated and saved. */
interface Current {
  net: ResNet;
  info: NetInfo;
  norm: Normalization;
  /** Metadata written with the weights (beyond the net and its options). */
  metadata: Record<string, string>;
  /** Photo preprocessing of ImageNet-style nets. */
  photo: InputView | null;
  labels: string[];
}
let current: Current | null = null;

/** The run in progress. */
interface Run {
  paused: boolean;
  stop: boolean;
  wake: (() => void) | null;
  /** Pause requests waiting for the loop to stop between two steps: told the steps taken. */
  pausing: ((r: Replies['pause']) => void)[];
  steps: number;
}
let run: Run | null = null;

// ------------------------------------------------------------------------------ set-up

async function init(r: InitRequest): Promise<ReadyInfo> {
  base = r.base;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const host = browserHost({ wasmBase: new URL('wasm/', base), workerUrl: new URL('kernel-worker.js', base), threads: r.threads });
  kernels = await loadKernels({ backend: r.backend ?? 'wasm', threads: r.threads, host });
  const wasm = kernels.name === 'wasm' ? kernels as unknown as WasmKernelSet : null;
  const threads = wasm?.threads ?? 1;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const note = !isolated && kernels.name === 'wasm'
    ? 'this page is not cross-origin isolated (no COOP/COEP headers), so the kernels run on one thread (the single-thread build)'
    : null;
  return { backend: kernels.name, variant: wasm?.variant ?? null, threads, cores, isolated, note };
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const url = new URL(path, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url} (${res.status} ${res.statusText})`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The bundled Fashion-MNIST sample (10,000 train, 2,000 test images), fetched once. */
function fashionSample(): Promise<Sample28> {
  sample ??= (async () => {
    emit({ type: 'status', text: 'fetching the Fashion-MNIST sample …' });
    const dir = 'data/fashion-mnist/';
    const [ti, tl, si, sl] = await Promise.all(
      ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => fetchBytes(dir + f)),
    );
    const train = idxDataset(ti!, tl!, FASHION_MNIST_CLASSES, { images: `${dir}train-images`, labels: `${dir}train-labels` });
    const test = idxDataset(si!, sl!, FASHION_MNIST_CLASSES, { images: `${dir}t10k-images`, labels: `${dir}t10k-labels` });
    return { train, test };
  })();
  sample.catch(() => { sample = null; });
  return sample;
}

// ------------------------------------------------------------------------------ training

const yieldToMessages = () => new Promise<void>((r) => setTimeout(r, 0));

/** The demo's recipe (`resnet demo`): the paper's CIFAR recipe shortened, all images trained on. */
function recipeOf(s: TrainSettings): Recipe {
  return chooseRecipe({
    recipe: 'cifar-paper', net: s.net,
    overrides: {
      epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, validation: { count: 0 },
      augmentation: s.augment ? { kind: 'padCropFlip', pad: 4, flip: true } : { kind: 'none' },
    },
  }, null);
}

async function train(s: TrainSettings): Promise<TrainEnd> {
  if (run) throw new Error('a run is in progress: stop it first');
  if (!isNetName(s.net)) throw new Error(`unknown network '${s.net}'`);
  const { train: trainSet, test } = await fashionSample();
  const recipe = recipeOf(s);
  emit({ type: 'status', text: 'computing the mean image …' });
  const mean = await computeMeanImage(trainSet);
  const stored = encodeMeanImage(mean, [1, trainSet.height, trainSet.width]);
  const norm: Normalization = { kind: 'meanImage', mean };
  const net = createNet(s.net, { inChannels: 1, classes: 10, kernels, seed: s.seed });
  if (net.spec.family !== 'cifar') throw new Error(`${s.net} is an ImageNet net: train a CIFAR net (resnet20 …) on 28×28 images`);
  const batchesPerEpoch = Math.floor(trainSet.size / recipe.batchSize);
  const total = s.maxSteps ? Math.min(s.maxSteps, totalIterations(recipe, batchesPerEpoch)) : totalIterations(recipe, batchesPerEpoch);
  const schedule = new Schedule(scheduleSpec(recipe, totalIterations(recipe, batchesPerEpoch)));
  const opt = new SGD(net.parameters(), { lr: schedule.lr, momentum: recipe.momentum, weightDecay: recipe.weightDecay, nesterov: recipe.nesterov });
  const transform = recipe.augmentation.kind === 'padCropFlip'
    ? { kind: 'padCropFlip' as const, pad: 4, flip: true, norm }
    : { kind: 'plain' as const, norm };
  const dataInfo: DataInfo = {
    name: 'fashion-mnist-sample', dir: 'assets/fashion-mnist', classes: trainSet.classes, channels: 1, height: trainSet.height,
    width: trainSet.width, testResize: null, testCrop: null, validation: { count: 0 },
  };
  current = {
    net, norm, photo: null, labels: FASHION_MNIST_CLASSES,
    info: { net: net.name, options: { ...net.options }, source: 'trained in this page', input: { channels: 1, size: 28, kind: 'fashion-mnist' }, testError: null },
    metadata: { recipe: JSON.stringify(recipe), seed: String(s.seed), [NORMALIZATION_KEY]: JSON.stringify(stored), [DATA_KEY]: JSON.stringify(dataInfo) },
  };
  const evalEvery = Math.max(1, Math.round(batchesPerEpoch / Math.max(1, s.evalsPerEpoch)));
  const me: Run = { paused: false, stop: false, wake: null, pausing: [], steps: 0 };
  run = me;
  net.train();
  emit({ type: 'status', text: `training ${net.name} on the Fashion-MNIST sample (${trainSet.size} images, ${total} steps)` });

  let iteration = 0;
  let order: Int32Array | null = null;
  let window = { loss: 0, wrong: 0, images: 0 };
  let lastEmit = performance.now();
  let trainingSeconds = 0; // excluding pauses and test evaluations
  let images = 0;
  const recent: { t: number; iteration: number }[] = [];
  let testError: number | null = null;
  const losses: number[] = [];
  const runTest = async () => {
    const r = await evaluate(net, test, { kernels, norm, batchSize: 200, limit: s.testLimit });
    net.train();
    testError = r.top1Error;
    current!.info.testError = testError;
    emit({ type: 'eval', iteration, epoch: iteration / batchesPerEpoch, testError: r.top1Error, testLoss: r.loss });
  };
  try {
    while (iteration < total) {
      await yieldToMessages();
      if (me.paused && !me.stop) {
        for (const tell of me.pausing.splice(0)) tell({ iteration });
        emit({ type: 'status', text: `paused after step ${iteration} of ${total}` });
      }
      while (me.paused && !me.stop) await new Promise<void>((r) => { me.wake = r; });
      if (me.stop) break;
      const epoch = Math.floor(iteration / batchesPerEpoch);
      const b = iteration % batchesPerEpoch;
      if (b === 0 || !order) order = epochOrder(trainSet.size, s.seed, epoch, true);
      const indices = order.subarray(b * recipe.batchSize, (b + 1) * recipe.batchSize);
      const t0 = performance.now();
      const batch = await buildBatch(trainSet, transform, indices, s.seed, epoch, b);
      opt.lr = schedule.lr;
      const { loss: lossValue, wrong } = sgdStep(net, opt, batch);
      if (!Number.isFinite(lossValue)) throw new Error(`training diverged: the loss is ${lossValue} at step ${iteration + 1}; lower the learning rate`);
      losses.push(lossValue);
      schedule.afterStep(wrong / batch.n);
      iteration++;
      me.steps = iteration;
      const t1 = performance.now();
      trainingSeconds += (t1 - t0) / 1000;
      images += batch.n;
      window.loss += lossValue * batch.n;
      window.wrong += wrong;
      window.images += batch.n;
      recent.push({ t: trainingSeconds, iteration });
      while (recent.length > 2 && recent[recent.length - 1]!.t - recent[0]!.t > 20) recent.shift();
      if (t1 - lastEmit > 250 || iteration === total) {
        const first = recent[0]!;
        const last = recent[recent.length - 1]!;
        const stepsPerSecond = last.t > first.t ? (last.iteration - first.iteration) / (last.t - first.t) : iteration / trainingSeconds;
        emit({
          type: 'progress', iteration, total, epoch: iteration / batchesPerEpoch, loss: window.loss / window.images,
          error: window.wrong / window.images, lr: opt.lr, imagesPerSecond: stepsPerSecond * recipe.batchSize,
          etaSeconds: (total - iteration) / stepsPerSecond,
        });
        window = { loss: 0, wrong: 0, images: 0 };
        lastEmit = t1;
      }
      if (iteration % evalEvery === 0 || iteration === total) await runTest();
    }
    if (me.stop && iteration > 0 && iteration % evalEvery !== 0) await runTest();
  } finally {
    run = null;
    for (const tell of me.pausing.splice(0)) tell({ iteration }); // the run ended before it paused
  }
  current.metadata[METRICS_KEY] = JSON.stringify({ iteration, seconds: trainingSeconds, test: testError === null ? null : { images: Math.min(test.size, s.testLimit ?? test.size), crop: 'center', top1Error: testError } });
  return { status: me.stop ? 'stopped' : 'completed', iteration, total, testError, imagesPerSecond: images / Math.max(1e-9, trainingSeconds), losses };
}

/** Pause (answered once the run stands between two steps, with the steps taken), resume or stop the run. */
function control(what: 'pause' | 'resume' | 'stop'): Promise<Replies['pause']> | null {
  if (!run) throw new Error('no run in progress');
  const me = run;
  if (what === 'pause') {
    me.paused = true;
    return new Promise((resolve) => me.pausing.push(resolve));
  }
  if (what === 'resume') me.paused = false;
  if (what === 'stop') me.stop = true;
  for (const tell of me.pausing.splice(0)) tell({ iteration: me.steps }); // resumed or stopped before it paused
  me.wake?.();
  me.wake = null;
  return null;
}

// ------------------------------------------------------------------------------ weights

function requireNet(): Current {
  if (!current) throw new Error('no network yet: train one or load a weights file');
  return current;
}

function save(): Replies['save'] {
  const c = requireNet();
  const bytes = weightsBytes(c.net, c.metadata);
  const copy = bytes.slice().buffer as ArrayBuffer;
  return { bytes: copy, fileName: `${c.net.name}-${c.info.input.kind}.safetensors` };
}

async function load(r: Extract<Request, { type: 'load' }>): Promise<NetInfo> {
  if (run) throw new Error('a run is in progress: stop it first');
  const file = parseWeights(new Uint8Array(r.bytes), r.fileName);
  if (file.net === undefined && r.net === undefined) throw new Error(`${r.fileName} does not say which network it holds: choose one for files without metadata`);
  // Files without metadata (torchvision's): the widths and classes their shapes tell, and the
  // bottleneck stride chosen on the page (torchvision strides the 3×3 conv).
  const given = file.net === undefined ? { ...shapeOptions(file), strideIn: r.strideIn ?? '3x3' } : {};
  const net = netFromWeights(file, r.fileName, file.net ?? r.net, { kernels, ...given });
  const trained = readTrainedMetadata(file.metadata, r.fileName);
  const gray = net.options.inChannels === 1;
  const photo = gray ? null : inputView(file.metadata, net.spec.family, r.fileName).view;
  const size = trained.data?.height ?? photo?.crop ?? 28;
  const kind = gray && size === 28 && trained.data?.name.startsWith('fashion-mnist') ? 'fashion-mnist' : net.spec.family === 'imagenet' ? 'imagenet' : 'other';
  const labels = trained.data?.classes ?? (net.options.classes === 1000 ? await imagenetLabels() : FASHION_MNIST_CLASSES.slice(0, net.options.classes));
  const metrics = trained.metrics as { test?: { top1Error?: number } } | null;
  current = {
    net, photo, labels,
    norm: trained.normalization ?? { kind: 'none' },
    metadata: Object.fromEntries(Object.entries(file.metadata).filter(([k]) => !['format', 'net', 'options'].includes(k))),
    info: { net: net.name, options: { ...net.options }, source: r.fileName, input: { channels: net.options.inChannels, size, kind }, testError: metrics?.test?.top1Error ?? null },
  };
  return current.info;
}

let imagenetClasses: Promise<string[]> | null = null;
function imagenetLabels(): Promise<string[]> {
  imagenetClasses ??= fetchBytes('data/imagenet-classes.txt').then((b) => new TextDecoder().decode(b).split('\n').filter((l) => l.length > 0));
  return imagenetClasses;
}

// ------------------------------------------------------------------------------ inspect, predict

async function responses(limit: number | undefined): Promise<Replies['responses']> {
  const c = requireNet();
  if (c.info.input.kind !== 'fashion-mnist') throw new Error('layer responses are measured on the Fashion-MNIST test images: train or load a 28×28 gray net');
  const { test } = await fashionSample();
  return layerResponses(c.net, test, { kernels, norm: c.norm, limit });
}

/** Logits of the net (eval mode) on `input`, or on the first `count` Fashion-MNIST test images (their test view). */
async function logits(r: Extract<Request, { type: 'logits' }>): Promise<Replies['logits']> {
  const c = requireNet();
  let x: Float32Array;
  let shape: [number, number, number, number];
  const labels: number[] = [];
  if (r.input) {
    x = r.input.data;
    shape = r.input.shape;
  } else {
    const { test } = await fashionSample();
    const n = Math.min(r.count ?? 8, test.size);
    shape = [n, 1, 28, 28];
    x = new Float32Array(n * 784);
    for (let i = 0; i < n; i++) {
      const s = test.get(i);
      x.set(applyTransform({ kind: 'plain', norm: c.norm }, s, new Rng(0)).data, i * 784);
      labels.push(s.label);
    }
  }
  const wasTraining = c.net.training;
  c.net.eval();
  try {
    const out = noGrad(() => Float32Array.from(c.net.forward(fromArray(x, shape, { kernels })).toArray()));
    endStep(kernels);
    return { logits: out, classes: c.net.options.classes, labels };
  } finally {
    c.net.train(wasTraining);
  }
}

/**
 * Top-5 classes of an image from the page. Gray nets: the page brought it to the net's size; it is
 * converted to gray as PIL's convert('L') does and given the net's test view (its normalization).
 * Photo nets: RGB, then eval's single test view recorded in the weights (torchvision's for ImageNet
 * files without one: shorter side 256, center crop 224, ImageNet mean/std).
 */
async function predict(image: ImagePixels): Promise<Prediction> {
  const c = requireNet();
  const { rgba, height: h, width: w } = image;
  if (c.net.options.inChannels === 1) {
    const size = c.info.input.size;
    if (h !== size || w !== size) throw new Error(`${c.net.name} takes ${size}×${size} images, got ${w}×${h}`);
    const gray = new Uint8Array(h * w);
    for (let p = 0; p < h * w; p++) gray[p] = Math.floor((rgba[4 * p]! * 299 + rgba[4 * p + 1]! * 587 + rgba[4 * p + 2]! * 114) / 1000);
    const view = applyTransform({ kind: 'plain', norm: c.norm }, { image: gray, label: 0, height: h, width: w }, new Rng(0));
    const top = classify(c.net, view.data, [1, 1, h, w], c.labels)[0]!;
    return { top, input: { data: new Uint8ClampedArray(gray), height: h, width: w } };
  }
  if (c.net.options.inChannels !== 3 || !c.photo) throw new Error(`${c.net.name} takes ${c.net.options.inChannels} channels: the page classifies gray (1) and RGB (3) images`);
  const chw = toPlanar(rgba, h * w, 3, 4); // [3, h, w], as decoders give image folders' images
  const sample = { image: chw, label: 0, height: h, width: w };
  const crop = c.photo.crop;
  const options = { resize: c.photo.resize, cropSize: crop };
  const x = viewsOf(sample, 'center', { ...options, norm: c.photo.norm }, false)[0]!.data; // eval's single test view
  const top = classify(c.net, x, [1, 3, crop, crop], c.labels)[0]!;
  const seen = viewsOf(sample, 'center', { ...options, norm: { kind: 'none' } }, false)[0]!.data; // the same view in [0, 1]
  const shown = new Uint8ClampedArray(crop * crop * 3);
  for (let p = 0; p < crop * crop; p++) for (let k = 0; k < 3; k++) shown[3 * p + k] = Math.round(255 * seen[k * crop * crop + p]!);
  return { top, input: { data: shown, height: crop, width: crop } };
}

/** One of the benchmark's workloads (`resnet bench`), timed here as the bench times it in Node. */
async function bench(r: Extract<Request, { type: 'bench' }>): Promise<Replies['bench']> {
  if (run) throw new Error('a run is in progress: stop it first');
  if (!isWorkloadName(r.workload)) throw new Error(`unknown workload '${r.workload}'`);
  const w = WORKLOADS[r.workload];
  const runner = prepareWorkload(w, kernels);
  const { timesMs } = await measure(() => runner.step(), { warmup: r.warmup, runs: r.runs });
  const wasm = kernels.name === 'wasm' ? kernels as unknown as WasmKernelSet : null;
  return { timesMs, batch: w.batch, threads: wasm?.threads ?? 1, variant: wasm?.variant ?? null };
}

// ------------------------------------------------------------------------------ dispatch

async function handle(r: Request): Promise<unknown> {
  switch (r.type) {
    case 'init': return init(r);
    case 'train': return train(r);
    case 'pause': case 'resume': case 'stop': return control(r.type);
    case 'save': return save();
    case 'load': return load(r);
    case 'summary': {
      const name = r.net ?? current?.net.name;
      if (!name || !isNetName(name)) throw new Error(`unknown network '${name}'`);
      const options = r.net === undefined || r.net === current?.net.name ? current?.net.options ?? {} : { inChannels: 1 };
      return summarize(name, options, r.net === undefined ? current?.info.input.size : 28);
    }
    case 'responses': return responses(r.limit);
    case 'predict': return predict(r.image);
    case 'logits': return logits(r);
    case 'bench': return bench(r);
  }
}

scope.onmessage = (e: MessageEvent) => {
  const { id, ...request } = e.data as { id: number } & Request;
  handle(request as Request).then(
    (result) => {
      const transfer: Transferable[] = [];
      if (request.type === 'save') transfer.push((result as Replies['save']).bytes);
      scope.postMessage({ id, result }, transfer);
    },
    (err: unknown) => scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) }),
  );
};
