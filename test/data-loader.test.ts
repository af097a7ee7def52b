import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/data/rng.js';
import { ArrayDataset, SubsetDataset, sharedBytes } from '../src/data/dataset.js';
import { Loader, type Batch } from '../src/data/loader.js';
import { cifarTrainTransform } from '../src/data/transforms.js';

/** 103 images of 1×8×8 whose first pixel is the sample's id; label = id mod 10. */
function smallSet(n = 103): ArrayDataset {
  const r = new Rng(1);
  const images = sharedBytes(n * 64);
  for (let i = 0; i < images.length; i++) images[i] = r.int(256);
  const labels = sharedBytes(n);
  for (let i = 0; i < n; i++) labels[i] = i % 10;
  return new ArrayDataset(images, labels, 1, 8, 8, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
}
const transform = cifarTrainTransform({ kind: 'none' });

async function take(loader: Loader, k: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < k; i++) out.push(await loader.next());
  return out;
}

test('loader: NCHW batches, every sample once per epoch, a new order each epoch', async () => {
  const ds = smallSet();
  const loader = new Loader({ dataset: ds, transform: { kind: 'plain', norm: { kind: 'none' } }, batchSize: 10, seed: 5, worker: false });
  assert.equal(loader.batchesPerEpoch, 11);
  const orders: number[][] = [];
  for (let e = 0; e < 2; e++) {
    const ids: number[] = [];
    for await (const b of loader.epoch()) {
      assert.equal(b.epoch, e);
      assert.deepEqual([b.channels, b.height, b.width], [1, 8, 8]);
      assert.equal(b.x.length, b.n * 64);
      assert.equal(b.labels.length, b.n);
      for (let k = 0; k < b.n; k++) {
        // find the sample by its pixels
        const id = [...Array(ds.size).keys()].find((i) => ds.get(i).image.every((v, j) => Math.fround(v / 255) === b.x[k * 64 + j]))!;
        assert.equal(b.labels[k], ds.labels[id]);
        ids.push(id);
      }
    }
    assert.deepEqual([...ids].sort((a, b) => a - b), [...Array(103).keys()]);
    orders.push(ids);
  }
  assert.notDeepEqual(orders[0], orders[1]);
  assert.deepEqual(loader.position, { epoch: 2, batchIndex: 0 });
});

test('loader: drop-last and no shuffle', async () => {
  const loader = new Loader({ dataset: smallSet(), transform, batchSize: 10, seed: 5, dropLast: true, shuffle: false, worker: false });
  assert.equal(loader.batchesPerEpoch, 10);
  const batches = await take(loader, 11);
  assert.ok(batches.every((b) => b.n === 10));
  assert.deepEqual(Array.from(batches[0].labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([batches[10].epoch, batches[10].batchIndex], [1, 0]);
});

test('loader: a run resumed from a saved position reproduces the same batches', async () => {
  const opts = { dataset: smallSet(), transform, batchSize: 16, seed: 42, worker: false };
  const a = new Loader(opts);
  await take(a, 9); // into the second epoch (7 batches per epoch)
  const saved = JSON.parse(JSON.stringify(a.position));
  assert.deepEqual(saved, { epoch: 1, batchIndex: 2 });
  const rest = await take(a, 8);
  const b = new Loader({ ...opts, start: saved });
  const again = await take(b, 8);
  assert.deepEqual(again.map((x) => [x.epoch, x.batchIndex]), rest.map((x) => [x.epoch, x.batchIndex]));
  for (let i = 0; i < rest.length; i++) {
    assert.deepEqual(again[i].x, rest[i].x);
    assert.deepEqual(again[i].labels, rest[i].labels);
  }
  b.seek({ epoch: 0, batchIndex: 7 }); // end of epoch 0 is the start of epoch 1
  assert.deepEqual(b.position, { epoch: 1, batchIndex: 0 });
});

test('loader: the worker gives the same batches as the in-process path', async () => {
  const ds = smallSet();
  for (const dataset of [ds, new SubsetDataset(ds, Int32Array.from([5, 3, 99, 0, 7, 20, 21, 22, 50, 51, 52, 60]))]) {
    const opts = { dataset, transform, batchSize: 5, seed: 3, prefetch: 2 };
    const inProcess = new Loader({ ...opts, worker: false });
    const inWorker = new Loader({ ...opts, worker: true });
    assert.equal(inWorker.usesWorker, true);
    const a = await take(inProcess, 9);
    const b = await take(inWorker, 9);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual([b[i].epoch, b[i].batchIndex, b[i].n], [a[i].epoch, a[i].batchIndex, a[i].n]);
      assert.deepEqual(b[i].x, a[i].x);
      assert.deepEqual(b[i].labels, a[i].labels);
    }
    // seeking drops the prefetched batches and still agrees
    inWorker.seek({ epoch: 5, batchIndex: 1 });
    inProcess.seek({ epoch: 5, batchIndex: 1 });
    assert.deepEqual((await inWorker.next()).x, (await inProcess.next()).x);
    await inWorker.close();
    await inProcess.close();
  }
});

test('loader: a process that never closes its worker loader still exits', () => {
  const loaderUrl = new URL('../src/data/loader.js', import.meta.url).href;
  const datasetUrl = new URL('../src/data/dataset.js', import.meta.url).href;
  const script = `
    import { Loader } from '${loaderUrl}';
    import { ArrayDataset } from '${datasetUrl}';
    const ds = new ArrayDataset(new Uint8Array(new SharedArrayBuffer(40 * 16)), new Uint8Array(new SharedArrayBuffer(40)), 1, 4, 4, ['a']);
    const loader = new Loader({ dataset: ds, transform: { kind: 'plain', norm: { kind: 'none' } }, batchSize: 8, seed: 1, worker: true });
    const b = await loader.next();
    console.log('got', b.n, loader.usesWorker);
  `;
  const dir = mkdtempSync(join(tmpdir(), 'loader-exit-'));
  writeFileSync(join(dir, 'run.mjs'), script);
  const r = spawnSync(process.execPath, [join(dir, 'run.mjs')], { timeout: 20000, encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.error, undefined, 'the process did not exit by itself');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'got 8 true');
});

test('loader: worker errors reach the caller', async () => {
  const ds = smallSet();
  const bad = { ...transform, norm: { kind: 'channel' as const, mean: [0, 0], std: [1, 1] } };
  const loader = new Loader({ dataset: ds, transform: bad, batchSize: 4, seed: 1, worker: true });
  await assert.rejects(loader.next(), /Loader worker: channel normalization has 2 means for 1 channels/);
  await loader.close();
});

test('loader: image folders through the worker (sharp decoding there) match in process', async () => {
  const { default: sharp } = await import('sharp');
  const { mkdirSync } = await import('node:fs');
  const { ImageFolderDataset } = await import('../src/data/image-folder.js');
  const root = mkdtempSync(join(tmpdir(), 'loader-imgf-'));
  try {
    const r = new Rng(4);
    for (const c of ['cat', 'dog']) {
      mkdirSync(join(root, c));
      for (let i = 0; i < 3; i++) {
        const [h, w] = [20 + i, 30 - i];
        const px = Uint8Array.from({ length: h * w * 3 }, () => r.int(256));
        await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(root, c, `${i}.png`));
      }
    }
    const dataset = new ImageFolderDataset(root);
    const spec = { kind: 'imagenetTrain' as const, minSize: 16, maxSize: 24, crop: 12, flip: true, lightingStd: 0.1, norm: { kind: 'none' as const } };
    const opts = { dataset, transform: spec, batchSize: 4, seed: 8 };
    const a = await take(new Loader({ ...opts, worker: false }), 3);
    const wl = new Loader({ ...opts, worker: true });
    const b = await take(wl, 3);
    await wl.close();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual([b[i].channels, b[i].height, b[i].width], [3, 12, 12]);
      assert.deepEqual(b[i].x, a[i].x);
      assert.deepEqual(b[i].labels, a[i].labels);
    }
    const plain = new Loader({ dataset, transform: { kind: 'plain', norm: { kind: 'none' } }, batchSize: 6, seed: 1, worker: false });
    await assert.rejects(plain.next(), /variable-size images need a cropping transform/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
