// The paper's experiments at --scale smoke, end to end (train every net, measure, report), on tiny
// data with the reference kernels; the report's figures are SVG with the expected series and its
// tables carry the paper's numbers; Fig. 7's stds equal a direct computation over the probed tensors.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { refKernels } from '../src/kernels/ref/index.js';
import type { KernelSet } from '../src/kernels/contract.js';
import { EXPERIMENTS, getExperiment } from '../src/experiments/catalog.js';
import { type ResponsesFile, readManifest, runExperiment, runFinished } from '../src/experiments/runner.js';
import { addMoments, layerResponses } from '../src/experiments/responses.js';
import { writeReport } from '../src/report/report.js';
import { ArrayDataset } from '../src/data/dataset.js';
import { createNet } from '../src/models/resnet.js';
import { fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { endStep } from '../src/tensor/engine.js';
import { Rng } from '../src/tensor/random.js';
import { assertSvg, writeTinyIdx } from './experiment-helpers.js';

const kernels = refKernels as KernelSet;
const root = mkdtempSync(join(tmpdir(), 'resnet-experiments-'));
const idxDir = join(root, 'mnist');
const folder = join(root, 'folder');

/** An image folder with train/ and val/, two classes of 40×40 RGB PNGs. */
async function writeTinyFolder(dir: string): Promise<void> {
  const rng = new Rng(9);
  for (const [split, n] of [['train', 8], ['val', 4]] as const) {
    for (const cls of ['ant', 'bee']) {
      mkdirSync(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Uint8Array.from({ length: 40 * 40 * 3 }, (_, j) => (cls === 'ant' && j % 3 === 0 ? 200 : 0) + rng.int(50));
        await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(join(dir, split, cls, `${i}.png`));
      }
    }
  }
}

before(async () => {
  writeTinyIdx(idxDir, 48, 16);
  await writeTinyFolder(folder);
});

const dataFor = (name: string) => (getExperiment(name).data === 'folder' ? { data: `folder:${folder}` } : { data: 'mnist', dataDir: idxDir });

describe('experiments at --scale smoke', () => {
  for (const e of EXPERIMENTS) {
    it(`${e.name}: every run trains, the report renders with the expected series and the paper's numbers`, async () => {
      const out = join(root, e.name);
      const r = await runExperiment({ name: e.name, scale: 'smoke', ...dataFor(e.name), out, kernels, progress: 'none' });
      assert.equal(r.status, 'completed');
      assert.deepEqual(r.trained, e.runs.map((x) => x.id));
      for (const run of e.runs) assert.ok(runFinished(join(out, run.id)), `${run.id} finished`);
      const m = readManifest(out)!;
      assert.equal(m.experiment, e.name);
      assert.equal(m.scale, 'smoke');
      assert.equal(m.sessions.length, 1);

      const report = await writeReport(out, { out: join(out, 'report') });
      for (const fig of e.figures) {
        const svg = readFileSync(join(out, 'report', `${fig}.svg`), 'utf8');
        assertSvg(svg);
        for (const run of e.runs) assert.ok(svg.includes(`>${run.label}<`), `${fig}.svg has a legend entry for ${run.label}`);
        if (fig === 'curves') for (const curve of ['training', 'test']) assert.ok(svg.includes(`>${curve}<`), `curves.svg names the ${curve} curve`);
      }
      const md = report.markdown;
      const rows = (e.table?.rows ?? []).filter((row) => e.runs.some((run) => (run.paperRow ?? run.id) === row.id));
      assert.equal(rows.length, e.table ? e.runs.length : 0, 'every run has its paper row');
      for (const row of rows) {
        if (row.top1 !== null) assert.ok(md.includes(row.top1.toFixed(2)), `the report has the paper's ${row.top1.toFixed(2)}`);
      }
      if (e.table) assert.match(md, /Where this run departs from the paper: data: /);
      assert.ok(md.includes(m.command), 'the report says how to reproduce it');
      const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
      assert.match(html, /<img src="(curves|responses)\.svg"/);
    });
  }

  it('layer-responses: one std per 3×3 layer of every net, and --from measures another folder\'s runs', async () => {
    const file = JSON.parse(readFileSync(join(root, 'layer-responses', 'responses.json'), 'utf8')) as ResponsesFile;
    const layers = { plain20: 19, plain56: 55, resnet20: 19, resnet56: 55, resnet110: 109 };
    for (const [id, n] of Object.entries(layers)) {
      assert.equal(file.runs[id].length, n, `${id}: ${n} 3×3 layers`);
      assert.ok(file.runs[id].every((l) => Number.isFinite(l.std) && l.std > 0));
    }
    const out = join(root, 'responses-from');
    const r = await runExperiment({ name: 'layer-responses', scale: 'smoke', data: 'mnist', dataDir: idxDir, out, kernels, progress: 'none',
      from: join(root, 'degradation-cifar') });
    assert.deepEqual(r.trained, []);
    const measured = JSON.parse(readFileSync(join(out, 'responses.json'), 'utf8')) as ResponsesFile;
    assert.deepEqual(Object.keys(measured.runs).sort(), ['plain20', 'plain56', 'resnet110', 'resnet20', 'resnet56']);
  });
});

describe('Fig. 7 layer responses', () => {
  it('the stds equal a direct computation over the probed tensors, taken before the addition and the ReLU', async () => {
    const rng = new Rng(4);
    const n = 10;
    const images = Uint8Array.from({ length: n * 3 * 8 * 8 }, () => rng.int(256));
    const test = new ArrayDataset(images, Uint8Array.from({ length: n }, (_, i) => i % 3), 3, 8, 8, ['a', 'b', 'c']);
    const net = createNet('resnet20', { kernels, width: 4, classes: 3, seed: 2 });
    // Running statistics away from 0/1, so that eval mode matters.
    for (const [key, t] of net.stateDict()) {
      if (key.endsWith('running_mean')) t.set(Float32Array.from({ length: t.size }, (_, i) => 0.1 * (i % 3)));
      if (key.endsWith('running_var')) t.set(Float32Array.from({ length: t.size }, (_, i) => 0.5 + 0.2 * (i % 4)));
    }
    const got = await layerResponses(net, test, { kernels, norm: { kind: 'none' }, batchSize: 3 });
    assert.equal(got.length, 19);

    // Directly: every probed tensor of one forward pass over all images, std by the two-pass formula.
    net.eval();
    const x = new Float32Array(images.length);
    images.forEach((b, i) => { x[i] = b / 255; });
    const probed = new Map<string, number[]>();
    noGrad(() => net.forward(fromArray(x, [n, 3, 8, 8], { kernels }), (name, t) => { probed.set(name, Array.from(t.toArray())); }));
    endStep(kernels);
    assert.deepEqual(got.map((l) => l.layer), [...probed.keys()]);
    for (const l of got) {
      const v = probed.get(l.layer)!;
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      assert.ok(Math.abs(l.std - std) <= 1e-6 * std, `${l.layer}: ${l.std} vs ${std}`);
      assert.equal(l.count, v.length);
      assert.ok(v.some((y) => y < 0), `${l.layer}: before the ReLU (negative values present)`);
    }

    // Where: block layer1.1 (identity shortcut) outputs relu(bn2 response + its input); its input is
    // block layer1.0's output.
    const block0 = net.stages[0].blocks[0];
    const block1 = net.stages[0].blocks[1];
    const stemOut = probed.get('bn1')!.map((y) => Math.max(0, y));
    const out0 = noGrad(() => block0.forward(fromArray(Float32Array.from(stemOut), [n, 4, 8, 8], { kernels })).toArray());
    const out1 = noGrad(() => block1.forward(fromArray(Float32Array.from(out0), [n, 4, 8, 8], { kernels })).toArray());
    endStep(kernels);
    const response = probed.get('layer1.1.bn2')!;
    let worst = 0;
    for (let i = 0; i < out1.length; i++) worst = Math.max(worst, Math.abs(out1[i] - Math.max(0, response[i] + out0[i])));
    assert.ok(worst < 1e-5, `relu(response + shortcut) is the block's output (max diff ${worst})`);
  });

  it('the running moments of batches equal those of all values at once', () => {
    const rng = new Rng(1);
    const all = Array.from({ length: 1000 }, () => 3 + 2 * rng.normal());
    const acc = { count: 0, mean: 0, m2: 0 };
    for (let i = 0; i < all.length; i += 137) addMoments(acc, all.slice(i, i + 137));
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const m2 = all.reduce((a, b) => a + (b - mean) ** 2, 0);
    assert.equal(acc.count, 1000);
    assert.ok(Math.abs(acc.mean - mean) < 1e-12 && Math.abs(acc.m2 - m2) < 1e-9 * m2);
  });
});
