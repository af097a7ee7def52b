// Image folders as a dataset (issue 13): the image cache (decoded and resized once, rebuilt when the
// folder changes, never decoded again), the default image size and the recipe that fits it, a
// corrupt image named, and predict's input equal to eval's view of the cached image.

import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs, { appendFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainFromFlags } from '../src/cli/train.js';
import { ArrayDataset } from '../src/data/dataset.js';
import { decodeImage } from '../src/data/decode.js';
import { writeDatasetFolder } from '../src/data/folder-writer.js';
import { CACHE_FOLDER, FolderCache, cacheCounters } from '../src/data/image-cache.js';
import { ImageFolderDataset } from '../src/data/image-folder.js';
import { defaultImageSize, fitImage, geometryFor, toGray } from '../src/data/image-size.js';
import { viewsOf } from '../src/eval/evaluate.js';
import { RECIPE_KEY } from '../src/eval/metadata.js';
import { imageInput } from '../src/eval/predict.js';
import { readWeights } from '../src/models/weights.js';
import { type DataSplits, evalDataset, fitImageFolder, openData } from '../src/train/data.js';
import { CIFAR_PAPER, IMAGENET_PAPER, recipeForImages, recipeNameForImages } from '../src/train/recipe.js';
import { FOLDER_CLASSES, writeImageFolder } from './image-folder-fixture.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'resnet-imgf-'));

describe('image folders', () => {
  it('the default image size is the median shorter side of small images, 224 for photos; the recipe follows it', () => {
    assert.equal(defaultImageSize([{ height: 30, width: 40 }, { height: 32, width: 32 }, { height: 50, width: 28 }]), 30);
    assert.equal(defaultImageSize([{ height: 375, width: 500 }, { height: 20, width: 20 }, { height: 480, width: 640 }]), 224);
    assert.equal(recipeNameForImages(32), 'cifar-paper');
    assert.equal(recipeNameForImages(224), 'imagenet-paper');
    const small = recipeForImages(CIFAR_PAPER, 64, false);
    assert.deepEqual(small.augmentation, { kind: 'padCropFlip', pad: 8, flip: true });
    assert.equal(small.testCrop, null);
    const large = recipeForImages(IMAGENET_PAPER, 112, false);
    assert.deepEqual(large.augmentation, { kind: 'scale', minSize: 128, maxSize: 240, crop: 112, flip: true, lightingStd: 0.1 });
    assert.deepEqual([large.testResize, large.testCrop], [128, 112]);
    assert.deepEqual(large.validation, { fraction: 0.1 }, 'the plateau schedule needs validation images: 10% held out');
    assert.deepEqual(recipeForImages(large, 112, false), large, 'fitting twice changes nothing (resume fits the stored recipe)');
    assert.deepEqual(recipeForImages(IMAGENET_PAPER, 224, true).validation, { count: 0 }, 'val/ given: nothing held out');
    assert.deepEqual(geometryFor(false, 32), { kind: 'square', side: 32 });
    assert.deepEqual(geometryFor(true, 224), { kind: 'shorterSide', side: 256 });
  });

  it('images are decoded once into the cache; opening it again decodes nothing; a changed folder or size rebuilds it', async () => {
    const root = tmp();
    const paths = await writeImageFolder(root, 3, { formats: ['png', 'jpg', 'webp'] });
    const folder = new ImageFolderDataset(root);
    assert.deepEqual(folder.classes, FOLDER_CLASSES);
    assert.equal(folder.size, 9);
    const square = geometryFor(false, 16);
    const before = cacheCounters.decoded;
    const a = await new FolderCache(folder, root).images(square);
    assert.equal(cacheCounters.decoded - before, 9);
    assert.ok(existsSync(join(root, CACHE_FOLDER)));
    assert.deepEqual(new ImageFolderDataset(root).classes, FOLDER_CLASSES, 'the cache folder is not a class');
    assert.deepEqual([a.size, a.height, a.width, a.channels], [9, 16, 16, 3]);

    // Every epoch reads the cache: a second open, and every sample read from it, decode nothing.
    const b = await new FolderCache(new ImageFolderDataset(root), root).images(square);
    for (let i = 0; i < b.size; i++) b.get(i);
    assert.equal(cacheCounters.decoded - before, 9);
    // The cached image is the decoded image brought to the geometry.
    const d = await decodeImage(paths[4]!);
    assert.deepEqual(b.get(4).image, fitImage(d.image, 3, d.height, d.width, square).image);
    assert.equal(b.get(4).label, 1);

    // Another size is another cache; a file added or changed rebuilds.
    const photo = await new FolderCache(folder, root).images(geometryFor(true, 12));
    assert.equal(cacheCounters.decoded - before, 18);
    assert.equal(photo.height, null);
    const s = photo.get(0);
    assert.equal(Math.min(s.height, s.width), 14);
    appendFileSync(paths[0]!, new Uint8Array(1)); // same image, one more byte: the file changed
    await new FolderCache(new ImageFolderDataset(root), root).images(square);
    assert.equal(cacheCounters.decoded - before, 27);
    await writeImageFolder(join(root, 'extra'), 1); // a new class folder (with sub-folders of its own: no images in it)
    writeFileSync(join(root, 'cat', 'new.png'), await (await import('sharp')).default({ create: { width: 9, height: 7, channels: 3, background: '#808080' } }).png().toBuffer());
    const grown = await new FolderCache(new ImageFolderDataset(root), root).images(square);
    assert.equal(grown.size, 10);
    assert.equal(cacheCounters.decoded - before, 37);
  });

  it('a corrupt or hostile image is an error that names the file', async () => {
    const root = tmp();
    await writeImageFolder(root, 2);
    const bad = join(root, 'dog', 'broken.jpg');
    writeFileSync(bad, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]));
    const folder = new ImageFolderDataset(root);
    await assert.rejects(new FolderCache(folder, root).images(geometryFor(false, 16)), (e: Error) => e.message.includes(bad));
    const data = openData(`folder:${root}`);
    await assert.rejects(fitImageFolder(data, { recipe: CIFAR_PAPER, net: 'resnet20' }), (e: Error) => e.message.includes(bad));
  });

  it('train/ and val/ are cached at the size chosen from the training images; the test view matches', async () => {
    const root = tmp();
    await writeImageFolder(join(root, 'train'), 4, { minSide: 10, maxSide: 30 });
    await writeImageFolder(join(root, 'val'), 2, { seed: 3 });
    const opened = openData(`folder:${root}`);
    const { data, recipe, fit } = await fitImageFolder(opened, { net: 'resnet20' });
    const side = fit!.imageSize;
    assert.ok(side >= 10 && side <= 30);
    assert.deepEqual(fit!.geometry, { kind: 'square', side });
    for (const d of [data.trainFull, data.test!] as DataSplits['trainFull'][]) assert.deepEqual([d.height, d.width], [side, side]);
    assert.equal(data.val, data.test);
    assert.equal(recipe.augmentation.kind, 'padCropFlip');
    const given = await fitImageFolder(opened, { recipe: IMAGENET_PAPER, net: 'resnet20' }, 24);
    assert.deepEqual(given.fit, { imageSize: 24, geometry: { kind: 'shorterSide', side: 27 } });
    assert.deepEqual([given.recipe.testResize, given.recipe.testCrop], [27, 24]);
    await assert.rejects(fitImageFolder({ ...opened, trainFull: data.trainFull }, { net: 'resnet20' }, 32), /image folders/);
  });

  it('eval of a folder decodes only the split it tests; the val split takes the recorded hold-out; errors name what is missing', async () => {
    const root = tmp();
    await writeImageFolder(join(root, 'train'), 3, { minSide: 10, maxSide: 20 });
    await writeImageFolder(join(root, 'val'), 1, { seed: 3 });
    const geometry = geometryFor(false, 12);
    const info = { name: `folder:${root}`, dir: root, classes: FOLDER_CLASSES, channels: 3, height: null, width: null, testResize: null, testCrop: null, validation: { count: 0 }, geometry };
    const before = cacheCounters.decoded;
    const test = await evalDataset({ data: info }, { split: 'test', source: 'w.safetensors' });
    assert.equal(cacheCounters.decoded - before, 3, 'the 3 val/ images only, not the 9 of train/');
    assert.deepEqual([test.name, test.dataset.size, test.dataset.height], [`folder:${root}`, 3, 12]);
    const held = await evalDataset({ data: { ...info, validation: { count: 4 } } }, { split: 'val', source: 'w.safetensors' });
    assert.equal(held.dataset.size, 4, 'the hold-out of the training images');
    assert.equal(cacheCounters.decoded - before, 12, 'now train/ too, once');
    await assert.rejects(evalDataset({ data: null }, { split: 'test', source: 'w.safetensors' }), /w.safetensors does not say which data it was trained on: pass data$/);
    await assert.rejects(evalDataset({ data: { ...info, validation: undefined as never } }, { split: 'val', source: 'w.pth' }), /does not record a validation hold-out; use split: 'test'/);
    const noTest = tmp();
    await writeImageFolder(noTest, 1);
    await assert.rejects(evalDataset({ data: null }, { data: `folder:${noTest}`, split: 'test', source: 'w' }), /has no test set/);
  });

  it('resnet train on a folder looks at each image once: the image size, the default recipe and the cache share one scan', async () => {
    const root = tmp();
    const images = [...await writeImageFolder(join(root, 'train'), 2, { minSide: 10, maxSide: 20 }), ...await writeImageFolder(join(root, 'val'), 1, { seed: 3 })];
    const classDirs = ['train', 'val'].flatMap((split) => FOLDER_CLASSES.map((c) => join(root, split, c)));
    const calls = { stat: new Map<string, number>(), readdir: new Map<string, number>(), cacheDirs: 0 };
    const count = (m: Map<string, number>, path: unknown) => m.set(String(path), (m.get(String(path)) ?? 0) + 1);
    const { statSync, readdirSync, mkdirSync } = fs;
    mock.method(fs, 'statSync', (...a: Parameters<typeof statSync>) => (count(calls.stat, a[0]), statSync(...a)));
    mock.method(fs, 'readdirSync', (...a: Parameters<typeof readdirSync>) => (count(calls.readdir, a[0]), readdirSync(...a)));
    mock.method(fs, 'mkdirSync', (...a: Parameters<typeof mkdirSync>) => (String(a[0]).endsWith(CACHE_FOLDER) && calls.cacheDirs++, mkdirSync(...a)));
    syncBuiltinESMExports();
    let result;
    try {
      result = await trainFromFlags(['--net', 'resnet20', '--width', '4', '--data', `folder:${root}`, '--batch-size', '4', '--iterations', '1',
        '--backend', 'ref', '--no-test', '--progress', 'none', '--out', join(root, 'run')]);
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(result.status, 'completed');
    assert.deepEqual(images.map((p) => calls.stat.get(p) ?? 0), images.map(() => 1), 'each image is stat-ed once (its fingerprint)');
    assert.deepEqual(classDirs.map((d) => calls.readdir.get(d) ?? 0), classDirs.map(() => 1), 'each class folder is listed once');
    assert.equal(calls.cacheDirs, 1, 'the cache folder is found once');
    const recipe = JSON.parse(readWeights(result.modelPath!).metadata[RECIPE_KEY]!) as { name: string };
    assert.equal(recipe.name, 'cifar-paper', 'small images: the CIFAR recipe, chosen by the library');
  });

  it("predict's input from a photo is eval's view of the cached image, in RGB or grayscale", async () => {
    const root = tmp();
    const paths = await writeImageFolder(root, 1, { minSide: 20, maxSide: 40 });
    for (const geometry of [geometryFor(false, 16), geometryFor(true, 16)]) {
      const cached = await new FolderCache(new ImageFolderDataset(root), root).images(geometry);
      const rescales = geometry.kind === 'shorterSide';
      const norm = { kind: 'channel' as const, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
      const view = { resize: rescales ? 18 : 16, crop: 16, norm, fit: geometry };
      const sample = cached.get(2);
      const evalView = viewsOf(sample, 'center', { norm, resize: view.resize, cropSize: view.crop }, !rescales)[0]!;
      const input = await imageInput(paths[2]!, view);
      assert.deepEqual(input.data, evalView.data);
      // One channel: PIL's luminance of the same pixels.
      const gray = await imageInput(paths[2]!, { ...view, norm: { kind: 'none' } }, 1);
      const expected = toGray(sample.image, sample.height, sample.width);
      assert.equal(gray.channels, 1);
      if (!rescales) assert.deepEqual(Array.from(gray.data, (x) => Math.round(x * 255)), Array.from(expected));
    }
    assert.deepEqual(Array.from(toGray(Uint8Array.from([255, 0, 10, 0, 255, 10, 0, 0, 10]), 1, 3)), [76, 150, 10]);
  });
});

describe('resnet data folder', () => {
  it('writes a dataset as class folders of PNGs that read back as the same pixels', async () => {
    const images = Uint8Array.from({ length: 4 * 5 * 6 }, (_, i) => (i * 37) % 256);
    const set = new ArrayDataset(images, Uint8Array.from([1, 0, 1, 0]), 1, 5, 6, ['T-shirt/top', 'Bag']);
    const dir = tmp();
    assert.equal(await writeDatasetFolder(set, dir), 4);
    const back = new ImageFolderDataset(dir);
    assert.deepEqual(back.classes, ['Bag', 'T-shirt-top']);
    const first = await back.get(back.files.findIndex((f) => f.endsWith('0.png')));
    assert.deepEqual(first.image.subarray(0, 30), images.subarray(0, 30), 'gray is read back as RGB, each channel the original');
    assert.deepEqual(first.image.subarray(30, 60), images.subarray(0, 30));
    assert.equal(await writeDatasetFolder(set, tmp(), 2), 2);
  });
});
