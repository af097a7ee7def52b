// The browser app in a real headless Chromium (Debian's chromium, driven by playwright-core):
// the page loads cleanly, is cross-origin isolated and runs the threaded kernels; training in its
// worker lowers the loss; weights saved in the page give the same logits in Node and are read by
// `resnet eval`; a file written by `resnet train` predicts in the page what `resnet predict` says;
// a torchvision .pth gives PyTorch's logits; without isolation the single-thread build trains.
//
// Run with `npm run test:browser` (after `npm run build`); not part of `npm test`, as a browser
// start and a few training steps take tens of seconds on two cores.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { openFashionMnist } from '../src/data/idx-dataset.js';
import { applyTransform } from '../src/data/transforms.js';
import { readTrainedMetadata } from '../src/eval/metadata.js';
import { readNpy } from '../src/io/npy.js';
import { loadKernels } from '../src/kernels/select.js';
import { loadNet, readWeights } from '../src/models/weights.js';
import { noGrad } from '../src/autograd/tape.js';
import { Rng } from '../src/tensor/random.js';
import { fromArray } from '../src/tensor/tensor.js';
import { runResnet } from '../test/run-resnet.js';
import { type AppPage, chromiumMissing, openApp, request, savedBytes } from './browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INTEROP = join(ROOT, 'test', 'fixtures', 'interop');
const skip = chromiumMissing() ?? false;

interface TrainEnd { status: string; iteration: number; losses: number[]; testError: number | null }
interface Ready { backend: string; variant: string; threads: number; isolated: boolean; note: string | null }

function resnet(args: string[]): { stdout: string; stderr: string } {
  const r = runResnet(args, 300_000);
  assert.equal(r.code, 0, `resnet ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Trains a few steps in the page; the mean loss of the last steps must be below that of the first. */
async function trainLowersLoss(app: AppPage, steps: number): Promise<TrainEnd> {
  const end = await request<TrainEnd>(app.page, {
    type: 'train', net: 'resnet20', epochs: 1, batchSize: 32, lr: 0.05, seed: 0, augment: false, evalsPerEpoch: 1,
    maxSteps: steps, testLimit: 200,
  });
  assert.equal(end.iteration, steps);
  assert.equal(end.losses.length, steps);
  assert.ok(end.losses.every(Number.isFinite), `losses ${end.losses}`);
  const q = Math.floor(steps / 3);
  const first = mean(end.losses.slice(0, q));
  const last = mean(end.losses.slice(-q));
  assert.ok(last < first - 0.1, `the loss did not fall: first ${q} steps ${first.toFixed(3)}, last ${q} steps ${last.toFixed(3)} (${end.losses.map((l) => l.toFixed(2)).join(' ')})`);
  return end;
}

/** Loads a file into the page as a drop would. */
async function loadInPage(app: AppPage, bytes: Buffer, fileName: string, net?: string): Promise<{ net: string }> {
  return app.page.evaluate(async ({ base64, fileName, net }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const app = (globalThis as unknown as { resnetApp: { request(r: object, t?: ArrayBuffer[]): Promise<{ net: string }> } }).resnetApp;
    return app.request({ type: 'load', bytes: bytes.buffer, fileName, net, strideIn: '3x3' }, [bytes.buffer]);
  }, { base64: bytes.toString('base64'), fileName, net });
}

/** The page's logits on `input` [n, c, h, w], or on the first `count` Fashion-MNIST test images. */
async function pageLogits(app: AppPage, o: { count?: number; input?: { data: number[]; shape: number[] } }): Promise<number[]> {
  return app.page.evaluate(async ({ count, input }) => {
    const app = (globalThis as unknown as { resnetApp: { request(r: object): Promise<{ logits: Float32Array }> } }).resnetApp;
    const r = await app.request({ type: 'logits', count, input: input && { data: Float32Array.from(input.data), shape: input.shape } });
    return Array.from(r.logits);
  }, o);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('the browser app in Chromium', { skip, timeout: 40 * 60 * 1000 }, () => {
  let app: AppPage;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'resnet-web-'));
    app = await openApp({ isolation: true });
  });
  after(async () => {
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no console error, cross-origin isolated, on the threaded wasm kernels', async () => {
    const ready = await app.page.evaluate(() => (globalThis as unknown as { resnetApp: { ready: Promise<Ready> } }).resnetApp.ready);
    assert.equal(await app.page.evaluate(() => (globalThis as unknown as { crossOriginIsolated: boolean }).crossOriginIsolated), true);
    assert.equal(ready.backend, 'wasm');
    assert.ok(ready.threads > 1, `threads: ${ready.threads}`);
    assert.notEqual(ready.variant, 'single');
    assert.match(await app.page.textContent('#engine') ?? '', /wasm kernels .*2 threads|wasm kernels .*\d+ threads/);
    assert.deepEqual(app.errors, []);
  });

  it('trains ResNet-20 in the worker: the loss falls', async () => {
    await trainLowersLoss(app, 24);
    assert.deepEqual(app.errors, []);
  });

  it('weights saved in the page give the same logits in Node, and `resnet eval` reads them', async () => {
    const bytes = await savedBytes(app);
    const file = join(dir, 'page.safetensors');
    writeFileSync(file, bytes);
    const inPage = await pageLogits(app, { count: 16 });

    const w = readWeights(file);
    const meta = readTrainedMetadata(w.metadata, file);
    assert.equal(w.net, 'resnet20');
    assert.equal(meta.data?.name, 'fashion-mnist-sample');
    assert.ok(meta.normalization?.kind === 'meanImage');
    const kernels = await loadKernels({ backend: 'wasm', threads: 2 });
    const net = loadNet(file, undefined, { kernels }).eval();
    const test = openFashionMnist('test');
    const x = new Float32Array(16 * 784);
    for (let i = 0; i < 16; i++) x.set(applyTransform({ kind: 'plain', norm: meta.normalization! }, test.get(i), new Rng(0)).data, i * 784);
    const inNode = noGrad(() => Array.from(net.forward(fromArray(x, [16, 1, 28, 28], { kernels })).toArray()));
    const diff = maxAbsDiff(inPage, inNode);
    assert.ok(diff <= 1e-5, `logits differ by ${diff}`);

    const r = resnet(['eval', '--weights', file, '--limit', '200', '--json']);
    const result = JSON.parse(r.stdout) as { net: string; data: string; images: number; top1Error: number };
    assert.equal(result.net, 'resnet20');
    assert.equal(result.data, 'fashion-mnist-sample');
    assert.equal(result.images, 200);
    assert.ok(result.top1Error >= 0 && result.top1Error < 0.9, `top-1 error ${result.top1Error}`);
  });

  it('a file written by `resnet train` predicts in the page the classes `resnet predict` gives', async () => {
    // A small image folder of three classes (PNG: decoded exactly alike by Chromium and libvips),
    // and a narrow ResNet-20 (its test view is 224×224: shorter side 256, center crop).
    const folder = join(dir, 'folder');
    const rng = new Rng(7);
    const images: string[] = [];
    for (const [c, cls] of ['red', 'green', 'blue'].entries()) {
      mkdirSync(join(folder, cls), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const w = 40 + 8 * i;
        const h = 36 + 4 * c;
        const px = Buffer.alloc(w * h * 3);
        for (let p = 0; p < w * h; p++) for (let k = 0; k < 3; k++) px[3 * p + k] = Math.floor((k === c ? 160 : 40) + 90 * rng.float());
        const path = join(folder, cls, `${i}.png`);
        await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
        images.push(path);
      }
    }
    const out = join(dir, 'run');
    resnet(['train', '--net', 'resnet20', '--width', '4', '--data', `folder:${folder}`, '--iterations', '2', '--batch-size', '4', '--val', '0',
      '--no-augment', '--no-test', '--out', out, '--progress', 'none', '--threads', '2']);
    const weights = join(out, 'model.safetensors');
    const cli = JSON.parse(resnet(['predict', '--weights', weights, '--json', '--top', '3', '--threads', '2', ...images]).stdout) as
      { image: string; top: { index: number; probability: number }[] }[];

    await loadInPage(app, readFileSync(weights), 'model.safetensors');
    for (const [i, path] of images.entries()) {
      const png = readFileSync(path).toString('base64');
      const top = await app.page.evaluate(async (b64) => {
        const blob = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' });
        const app = (globalThis as unknown as { resnetApp: { classifyBlob(b: Blob): Promise<{ top: { index: number; probability: number }[] }> } }).resnetApp;
        return (await app.classifyBlob(blob)).top;
      }, png);
      assert.deepEqual(top.slice(0, 3).map((t) => t.index), cli[i]!.top.map((t) => t.index), `${path}: page ${JSON.stringify(top)} CLI ${JSON.stringify(cli[i]!.top)}`);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(top[k]!.probability - cli[i]!.top[k]!.probability) < 1e-4, `${path}: probabilities differ`);
    }
    assert.deepEqual(app.errors, []);
  });

  it('a torchvision .pth (no metadata) loads in the page and gives PyTorch\'s logits', async () => {
    const info = await loadInPage(app, readFileSync(join(INTEROP, 'tiny_resnet18_w4.pth')), 'tiny_resnet18_w4.pth', 'resnet18');
    assert.equal(info.net, 'resnet18');
    const input = readNpy(readFileSync(join(INTEROP, 'tiny_resnet18_w4_input.npy')));
    const expected = readNpy(readFileSync(join(INTEROP, 'tiny_resnet18_w4_logits.npy')));
    const logits = await pageLogits(app, { input: { data: Array.from(input.data as Float32Array), shape: input.shape } });
    let scale = 0;
    for (const v of expected.data as Float32Array) scale = Math.max(scale, Math.abs(v));
    const rel = maxAbsDiff(logits, expected.data as Float32Array) / scale;
    assert.ok(rel < 1e-4, `relative error ${rel}`);
  });
});

describe('the browser app without cross-origin isolation', { skip, timeout: 10 * 60 * 1000 }, () => {
  let app: AppPage;
  before(async () => { app = await openApp({ isolation: false }); });
  after(async () => { await app?.close(); });

  it('says so, runs the single-thread build, and trains', async () => {
    const ready = await app.page.evaluate(() => (globalThis as unknown as { resnetApp: { ready: Promise<Ready> } }).resnetApp.ready);
    assert.equal(ready.isolated, false);
    assert.equal(ready.backend, 'wasm');
    assert.equal(ready.variant, 'single');
    assert.equal(ready.threads, 1);
    assert.match(await app.page.textContent('#engine') ?? '', /not cross-origin isolated/);
    await trainLowersLoss(app, 24);
    assert.deepEqual(app.errors, []);
  });
});
