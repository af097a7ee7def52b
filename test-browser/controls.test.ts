// The app's own controls in a real headless Chromium, driven as a person drives them: the Pause,
// Resume and Stop buttons of a training run; a digit drawn with the mouse on the pad and
// classified; a weights file dropped on the load area and an image dropped on the pad. What the
// page shows is checked against the library in Node on the same weights and pixels.
//
// Run with `npm run test:browser` (after `npm run build`), as app.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { openFashionMnist } from '../src/data/idx-dataset.js';
import { type Normalization, applyTransform } from '../src/data/transforms.js';
import { classify } from '../src/eval/classify.js';
import { readTrainedMetadata } from '../src/eval/metadata.js';
import { loadKernels } from '../src/kernels/select.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { loadNet, readWeights } from '../src/models/weights.js';
import { train } from '../src/train/loop.js';
import { applyOverrides, getRecipe } from '../src/train/recipe.js';
import { Rng } from '../src/tensor/random.js';
import { type AppPage, chromiumMissing, openApp, savedBytes } from './browser.js';

const skip = chromiumMissing() ?? false;

interface TrainEnd { status: string; iteration: number; total: number; losses: number[] }
interface Shown { label: string; percent: number }
type AppGlobal = { resnetApp: { train(s: object): Promise<TrainEnd | null>; events: { type: string; iteration?: number }[] }; runEnd?: Promise<TrainEnd | null> };

const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? '';
const disabled = (page: Page, id: string) => page.$eval(`#${id}`, (b) => (b as unknown as { disabled: boolean }).disabled);

/** The top-5 list the page shows: label and percentage of each line. */
async function shownTop5(page: Page): Promise<Shown[]> {
  const lines = await page.$$eval('#top5 li', (items) => items.map((li) => li.textContent ?? ''));
  return lines.map((line) => {
    const m = /^(.*) (\d+\.\d) %$/.exec(line.trim());
    assert.ok(m, `a top-5 line reads '${line}'`);
    return { label: m[1]!, percent: Number(m[2]) };
  });
}

/** The 28×28 gray image the page shows as what the network sees (drawn 4× with no smoothing). */
async function seenGray(page: Page): Promise<Uint8Array> {
  const values = await page.$eval('#seen', (c) => {
    type Canvas = { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
    const canvas = c as unknown as Canvas;
    const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const scale = canvas.width / 28;
    const out: number[] = [];
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out.push(rgba[4 * ((y * scale + 1) * canvas.width + x * scale + 1)]!);
    return out;
  });
  return Uint8Array.from(values);
}

/** The library's top-5 in Node for a 28×28 gray image under the file's weights and normalization. */
function nodeTop5(file: string, gray: Uint8Array, kernels: KernelSet): Shown[] {
  const w = readWeights(file);
  const meta = readTrainedMetadata(w.metadata, file);
  const norm: Normalization = meta.normalization ?? { kind: 'none' };
  const net = loadNet(file, undefined, { kernels });
  const x = applyTransform({ kind: 'plain', norm }, { image: gray, label: 0, height: 28, width: 28 }, new Rng(0)).data;
  const labels = meta.data?.classes ?? [];
  assert.equal(labels.length, net.options.classes, 'the file records its class names');
  return classify(net, x, [1, 1, 28, 28], labels)[0]!.map((s) => ({ label: s.label, percent: 100 * s.probability }));
}

function assertSameTop5(page: Shown[], node: Shown[]): void {
  assert.equal(page.length, 5);
  assert.deepEqual(page.map((s) => s.label), node.map((s) => s.label), `page ${JSON.stringify(page)}, Node ${JSON.stringify(node)}`);
  for (const [i, s] of page.entries()) assert.ok(Math.abs(s.percent - node[i]!.percent) <= 0.051, `${s.label}: page ${s.percent} %, Node ${node[i]!.percent} %`);
}

/** Drops a file on an element of the page, as a drag from the desktop does. */
async function dropFile(page: Page, selector: string, bytes: Buffer, name: string, type: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(({ base64, name, type }) => {
    const g = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: unknown[], name: string, o: object) => unknown };
    const dt = new g.DataTransfer();
    dt.items.add(new g.File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name, { type }));
    return dt;
  }, { base64: bytes.toString('base64'), name, type });
  await page.dispatchEvent(selector, 'dragover', { dataTransfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}

describe("the app's controls in Chromium: pause, resume, stop, a drawn image, drag and drop", { skip, timeout: 20 * 60 * 1000 }, () => {
  let app: AppPage;
  let dir: string;
  let kernels: KernelSet;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'resnet-web-controls-'));
    kernels = await loadKernels({ backend: 'wasm', threads: 2 });
    app = await openApp({ isolation: true });
  });
  after(async () => {
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Pause holds the run between two steps, Resume continues it, Stop ends it; the buttons follow', async () => {
    const { page } = app;
    const total = 400;
    await page.evaluate((total) => {
      const g = globalThis as unknown as AppGlobal;
      g.runEnd = g.resnetApp.train({ net: 'resnet20', epochs: 1, batchSize: 16, lr: 0.05, seed: 0, augment: false, evalsPerEpoch: 1, maxSteps: total, testLimit: 100 });
    }, total);
    const stepShown = (n: number) => page.waitForFunction((n) => (globalThis as unknown as AppGlobal).resnetApp.events.some((e) => e.type === 'progress' && e.iteration! > n), n);
    /** Pauses; the step the status says the run paused after, once it names one after step `after` (not an earlier pause's). */
    const pause = async (after: number) => {
      await page.click('#pause');
      const step = await page.waitForFunction((after) => {
        type Doc = { document: { querySelector(s: string): { textContent: string | null } | null } };
        const m = /paused after step (\d+) of/.exec((globalThis as unknown as Doc).document.querySelector('#status')?.textContent ?? '');
        return m !== null && Number(m[1]) > after ? Number(m[1]) : false;
      }, after);
      assert.equal(await text(page, '#pause'), 'Resume');
      return (await step.jsonValue()) as number;
    };
    await stepShown(1);
    assert.equal(await disabled(page, 'start'), true, 'Train is disabled while a run goes on');
    assert.equal(await disabled(page, 'pause'), false);
    assert.equal(await disabled(page, 'stop'), false);

    const first = await pause(1);
    assert.ok(first < total, `paused after step ${first}`);
    await page.click('#pause');
    assert.equal(await text(page, '#pause'), 'Pause');
    await stepShown(first);

    // Paused again, then stopped without resuming. The worker takes Stop only between two steps, and a
    // run that went on after the pause would have started its next step at once (no wait between the
    // pause's answer and a step): the run ends exactly where it paused, however fast or slow the machine.
    const second = await pause(first);
    assert.ok(second < total, `paused after step ${second}`);
    await page.click('#stop');
    const end = await page.evaluate(() => (globalThis as unknown as AppGlobal).runEnd!);
    assert.ok(end, 'the run ended without an error');
    assert.equal(end.status, 'stopped');
    assert.equal(end.iteration, second, 'no step ran while paused');
    assert.equal(end.losses.length, end.iteration, 'each step ran once');
    assert.match(await text(page, '#status'), new RegExp(`^stopped after ${end.iteration} steps: test error \\d+\\.\\d\\d %`));
    assert.equal(await disabled(page, 'start'), false);
    assert.equal(await disabled(page, 'pause'), true);
    assert.equal(await disabled(page, 'stop'), true);
    assert.equal(await disabled(page, 'save'), false);
    assert.deepEqual(app.errors, []);
  });

  it('a shape drawn with the mouse is classified: the top-5 shown is what the saved net gives in Node for the pixels shown', async () => {
    const { page } = app;
    await page.click('#clear');
    await page.locator('#draw').scrollIntoViewIfNeeded();
    const box = (await page.locator('#draw').boundingBox())!;
    await page.mouse.move(box.x + 90, box.y + 60);
    await page.mouse.down();
    for (const [x, y] of [[190, 60], [200, 230], [80, 230], [90, 60]]) await page.mouse.move(box.x + x!, box.y + y!, { steps: 12 });
    await page.mouse.up();
    await page.click('#classify');
    await page.locator('#top5 li').nth(4).waitFor();

    const gray = await seenGray(page);
    const lit = gray.filter((v) => v > 128).length;
    assert.ok(lit > 28 && lit < 28 * 28 - 28, `the drawn shape reached the network (${lit} of 784 pixels lit)`);
    const file = join(dir, 'page.safetensors');
    writeFileSync(file, await savedBytes(app));
    assertSameTop5(await shownTop5(page), nodeTop5(file, gray, kernels));
    assert.deepEqual(app.errors, []);
  });

  it('a weights file dropped on the load area loads; an image dropped on the pad is classified as in Node', async () => {
    const { page } = app;
    // A run of `train()` (a narrow ResNet-20, two steps): its model file, as `resnet train` writes it.
    const recipe = applyOverrides(getRecipe('cifar-paper'), { iterations: 2, batchSize: 8, validation: { count: 0 } });
    const run = await train({
      net: 'resnet20', netOptions: { width: 4 }, data: 'fashion-mnist-sample', recipe, outDir: join(dir, 'run'), kernels, seed: 3,
      test: false, progress: 'none', worker: false,
    });
    const model = run.modelPath!;
    await dropFile(page, '#drop', readFileSync(model), 'model.safetensors', 'application/octet-stream');
    await page.locator('#net-info', { hasText: /^resnet20, model\.safetensors/ }).waitFor();

    const sample = openFashionMnist('test').get(7);
    const png = await sharp(Buffer.from(sample.image), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    await page.$eval('#top5', (el) => { el.innerHTML = ''; });
    await dropFile(page, '#draw', png, 'shirt.png', 'image/png');
    await page.locator('#top5 li').nth(4).waitFor();
    assert.deepEqual(await seenGray(page), Uint8Array.from(sample.image), 'the page decoded the dropped image exactly');
    assertSameTop5(await shownTop5(page), nodeTop5(model, Uint8Array.from(sample.image), kernels));
    assert.deepEqual(app.errors, []);
  });
});
