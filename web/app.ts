// The page: controls, live charts and results. All computing happens in the worker (worker.ts);
// this file sends it requests (protocol.ts) and draws what comes back.
//
// For tests and scripts, `window.resnetApp` exposes the same requests: `await resnetApp.ready`,
// `await resnetApp.request({ type: 'train', ... })`, and `resnetApp.events` (every event so far);
// `resnetApp.train(settings)` runs as the Train button does (the page's buttons then control it).

import { type Chart, errorChart, lossChart, responsesChart } from './charts.js';
import type { ImagePixels, NetInfo, ReadyInfo, Replies, Reply, Request, TrainEnd, TrainSettings, WorkerEvent } from './protocol.js';

const CIFAR_NETS = ['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110', 'plain20', 'plain32', 'plain44', 'plain56'];
const IMAGENET_NETS = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'plain18', 'plain34'];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// ------------------------------------------------------------------------------ the worker

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
const events: WorkerEvent[] = [];
let nextId = 1;

type RequestOf<T extends Request['type']> = Omit<Extract<Request, { type: T }>, never>;

function request<T extends Request['type']>(r: RequestOf<T>, transfer: Transferable[] = []): Promise<Replies[T]> {
  const id = nextId++;
  const reply = new Promise<Replies[T]>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, ...r }, transfer);
  });
  if (r.type === 'load') {
    void reply.then((info) => {
      net = info as NetInfo;
      showNet();
    }, () => {});
  }
  return reply;
}

worker.onmessage = (e: MessageEvent) => {
  const m = e.data as Reply | WorkerEvent;
  if ('id' in m) {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if ('error' in m) p?.reject(new Error(m.error));
    else p?.resolve(m.result);
    return;
  }
  events.push(m);
  onEvent(m);
};
worker.onerror = (e) => showError(`the worker failed: ${e.message}`);

// ------------------------------------------------------------------------------ engine line

// ?threads=N and ?backend=ref|wasm in the page's URL choose the kernels (default: wasm on every core).
const params = new URLSearchParams(location.search);
const ready: Promise<ReadyInfo> = request<'init'>({
  type: 'init', base: document.baseURI, threads: params.has('threads') ? Number(params.get('threads')) : undefined,
  backend: params.get('backend') === 'ref' ? 'ref' : 'wasm',
}).then((info) => {
  const line = $('engine');
  const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  line.textContent = `engine: ${info.backend} kernels${info.variant ? ` (${info.variant})` : ''}, ${threads}` +
    (info.isolated ? ', cross-origin isolated' : '') + (info.note ? ` — ${info.note}` : '');
  if (info.note) line.classList.add('warn');
  return info;
});
ready.catch((e: Error) => showError(e.message, $('engine')));

/** Classifies an image file as the page's picker does (for tests: the page decodes it). */
async function classifyBlob(blob: Blob): Promise<Replies['predict']> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  return classify(bitmap);
}

(window as unknown as { resnetApp: unknown }).resnetApp = { ready, request, events, classifyBlob, train: (s: TrainSettings) => train(s) };

// ------------------------------------------------------------------------------ train

const lossView = lossChart($('chart-loss'));
const errorView = errorChart($('chart-error'));
let responsesView: Chart | null = null;
let running = false;
let paused = false;
let net: NetInfo | null = null;

for (const n of CIFAR_NETS) $('net').append(new Option(n, n));
for (const n of [...IMAGENET_NETS, ...CIFAR_NETS]) $('load-net').append(new Option(n, n));

function setRunning(on: boolean): void {
  running = on;
  paused = false;
  $('pause').textContent = 'Pause';
  refreshButtons();
}

function refreshButtons(): void {
  $<HTMLButtonElement>('start').disabled = running;
  $<HTMLButtonElement>('pause').disabled = !running;
  $<HTMLButtonElement>('stop').disabled = !running;
  $<HTMLButtonElement>('save').disabled = running || net === null;
  $<HTMLButtonElement>('responses').disabled = running || net?.input.kind !== 'fashion-mnist';
  $<HTMLButtonElement>('classify').disabled = running || net === null;
}

/** Trains with these settings as the Train button does (the button: the form's), showing the run's end. */
async function train(settings: TrainSettings): Promise<TrainEnd | null> {
  lossView.replace([]);
  errorView.replace([]);
  setRunning(true);
  status('');
  try {
    const end = await request<'train'>({ type: 'train', ...settings });
    status(`${end.status === 'completed' ? 'done' : 'stopped'} after ${end.iteration} steps: test error ${pct(end.testError)}, ` +
      `${end.imagesPerSecond.toFixed(0)} images/s while training`);
    return end;
  } catch (e) {
    showError((e as Error).message);
    return null;
  } finally {
    setRunning(false);
  }
}

$('start').onclick = () => {
  const form = new FormData($<HTMLFormElement>('train-form'));
  const num = (k: string) => Number(form.get(k));
  void train({
    net: String(form.get('net')), epochs: num('epochs'), batchSize: num('batch'), lr: num('lr'), seed: num('seed'),
    augment: form.get('augment') === 'on', evalsPerEpoch: 2,
  });
};

// Pause answers once the run stands between two steps (the worker then says after which step).
$('pause').onclick = async () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  try {
    if (paused) await request<'pause'>({ type: 'pause' });
    else {
      await request<'resume'>({ type: 'resume' });
      status('resumed');
    }
  } catch (e) {
    showError((e as Error).message);
  }
};
$('stop').onclick = () => { request<'stop'>({ type: 'stop' }).catch((e: Error) => showError(e.message)); };

$('save').onclick = async () => {
  try {
    const { bytes, fileName } = await request<'save'>({ type: 'save' });
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status(`saved ${fileName} (${(bytes.byteLength / 1024).toFixed(0)} KiB): \`resnet eval --weights ${fileName}\` reads it`);
  } catch (e) {
    showError((e as Error).message);
  }
};

function onEvent(m: WorkerEvent): void {
  if (m.type === 'status') {
    status(m.text);
  } else if (m.type === 'progress') {
    $('s-step').textContent = `${m.iteration}/${m.total}`;
    $('s-epoch').textContent = m.epoch.toFixed(2);
    $('s-loss').textContent = m.loss.toFixed(3);
    $('s-speed').textContent = m.imagesPerSecond.toFixed(0);
    $('s-eta').textContent = duration(m.etaSeconds);
    lossView.add([{ epoch: m.epoch, loss: m.loss }]);
    errorView.add([{ epoch: m.epoch, error: 100 * m.error, series: 'train' }]);
    if (!net || net.source !== 'trained in this page') {
      net = { net: String($<HTMLSelectElement>('net').value), options: {}, source: 'trained in this page', input: { channels: 1, size: 28, kind: 'fashion-mnist' }, testError: null };
    }
  } else if (m.type === 'eval') {
    $('s-test').textContent = pct(m.testError);
    errorView.add([{ epoch: m.epoch, error: 100 * m.testError, series: 'test' }]);
    if (net) net.testError = m.testError;
    showNet();
  }
}

// ------------------------------------------------------------------------------ load

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void loadFile(file);
});
$<HTMLInputElement>('weights-file').onchange = (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void loadFile(file);
};

async function loadFile(file: File): Promise<void> {
  if (running) return showError('stop the run before loading weights');
  status(`reading ${file.name} …`, $('net-info'));
  try {
    const bytes = await file.arrayBuffer();
    await request<'load'>({
      type: 'load', bytes, fileName: file.name, net: $<HTMLSelectElement>('load-net').value,
      strideIn: $<HTMLSelectElement>('load-stride').value as '1x1' | '3x3',
    }, [bytes]);
    showNet();
    setRunning(false);
    await showSummary();
  } catch (e) {
    showError((e as Error).message, $('net-info'));
  }
}

function showNet(): void {
  if (!net) return;
  const input = net.input.kind === 'fashion-mnist' ? '28×28 gray (Fashion-MNIST)' : net.input.kind === 'imagenet' ? 'photos (ImageNet preprocessing)' : `${net.input.channels}×${net.input.size}×${net.input.size}`;
  $('net-info').classList.remove('error');
  $('net-info').textContent = `${net.net}, ${net.source}; input ${input}${net.testError === null ? '' : `; test error ${pct(net.testError)}`}`;
  refreshButtons();
}

// ------------------------------------------------------------------------------ inspect

$('summary').onclick = () => void showSummary();

/** Table 1 view of the net on hand, or of the one chosen in the training form when there is none. */
async function showSummary(): Promise<void> {
  try {
    const s = await request<'summary'>({ type: 'summary', net: net ? undefined : $<HTMLSelectElement>('net').value });
    const rows = s.stages.map((st) => `<tr><td>${st.name}</td><td>${st.output.join('×')}</td><td>${st.params.toLocaleString('en')}</td><td>${(st.macs / 1e6).toFixed(2)} M</td></tr>`);
    $('summary-table').innerHTML = `<table><caption>${s.net} (${s.depth} layers), input ${s.input.join('×')}</caption>` +
      '<tr><th>stage</th><th>output</th><th>parameters</th><th>multiply-adds</th></tr>' + rows.join('') +
      `<tr><th>total</th><th></th><th>${s.params.toLocaleString('en')}</th><th>${(s.macs / 1e6).toFixed(2)} M</th></tr></table>`;
  } catch (e) {
    showError((e as Error).message);
  }
}

$('responses').onclick = async () => {
  try {
    status('measuring layer responses on the test images …');
    const r = await request<'responses'>({ type: 'responses' });
    responsesView ??= responsesChart($('chart-responses'));
    responsesView.replace(r.map((x, i) => ({ index: i + 1, layer: x.layer, std: x.std })));
    status(`layer responses of ${r.length} 3×3 layers`);
  } catch (e) {
    showError((e as Error).message);
  }
};

// ------------------------------------------------------------------------------ predict

const draw = $<HTMLCanvasElement>('draw');
const pen = draw.getContext('2d')!;
function clearDrawing(): void {
  pen.fillStyle = '#000';
  pen.fillRect(0, 0, draw.width, draw.height);
}
clearDrawing();
let drawing = false;
draw.addEventListener('pointerdown', (e) => { drawing = true; stroke(e); });
draw.addEventListener('pointermove', (e) => { if (drawing) stroke(e); });
window.addEventListener('pointerup', () => { drawing = false; });
function stroke(e: PointerEvent): void {
  const r = draw.getBoundingClientRect();
  pen.fillStyle = '#fff';
  pen.beginPath();
  pen.arc(((e.clientX - r.left) * draw.width) / r.width, ((e.clientY - r.top) * draw.height) / r.height, 14, 0, 2 * Math.PI);
  pen.fill();
}
$('clear').onclick = clearDrawing;
$('classify').onclick = () => classifyShown(draw);
$<HTMLInputElement>('image-file').onchange = async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  try {
    classifyShown(await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }));
  } catch (err) {
    showError(`cannot read ${file.name} as an image: ${(err as Error).message}`);
  }
};
draw.addEventListener('dragover', (e) => e.preventDefault());
draw.addEventListener('drop', async (e) => {
  e.preventDefault();
  const file = e.dataTransfer?.files[0];
  if (file) classifyShown(await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }));
});

/** Pixels for the net on hand: 28×28 (scaled by the browser) for 28×28 nets, the image as it is for photo nets. */
function pixelsOf(source: CanvasImageSource & { width: number; height: number }): ImagePixels {
  const small = net?.input.kind === 'fashion-mnist';
  const w = small ? 28 : source.width;
  const h = small ? 28 : source.height;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  if (small && $<HTMLInputElement>('invert').checked && source !== draw) {
    for (let i = 0; i < rgba.length; i += 4) for (let c = 0; c < 3; c++) rgba[i + c] = 255 - rgba[i + c]!;
  }
  return { rgba, height: h, width: w };
}

async function classify(source: CanvasImageSource & { width: number; height: number }): Promise<Replies['predict']> {
  if (!net) throw new Error('no network yet: train one or load a weights file');
  const image = pixelsOf(source);
  const p = await request<'predict'>({ type: 'predict', image }, [image.rgba.buffer]);
  showSeen(p.input);
  $('top5').innerHTML = p.top.map((t) => `<li><span class="bar" style="width:${Math.max(1, 160 * t.probability).toFixed(0)}px"></span>` +
    `${escapeHtml(t.label)} <b>${(100 * t.probability).toFixed(1)} %</b></li>`).join('');
  return p;
}

/** classify() for the page's buttons: errors go to the status line. */
function classifyShown(source: CanvasImageSource & { width: number; height: number }): void {
  classify(source).catch((e: Error) => showError(e.message));
}

function showSeen(input: { data: Uint8ClampedArray; height: number; width: number }): void {
  const seen = $<HTMLCanvasElement>('seen');
  const rgb = input.data.length === 3 * input.height * input.width;
  const img = new ImageData(input.width, input.height);
  for (let p = 0; p < input.height * input.width; p++) {
    for (let c = 0; c < 3; c++) img.data[4 * p + c] = rgb ? input.data[3 * p + c]! : input.data[p]!;
    img.data[4 * p + 3] = 255;
  }
  const tmp = new OffscreenCanvas(input.width, input.height);
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  const ctx = seen.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, seen.width, seen.height);
}

// ------------------------------------------------------------------------------ helpers

function status(text: string, el = $('status')): void {
  el.classList.remove('error');
  el.textContent = text;
}

function showError(text: string, el = $('status')): void {
  el.classList.add('error');
  el.textContent = text;
}

function pct(x: number | null): string {
  return x === null ? '–' : `${(100 * x).toFixed(2)} %`;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '–';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

setRunning(false);
