// `resnet data get cifar10`, `resnet data info` and `resnet data folder`.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findCifar10Dir } from '../data/cifar10.js';
import { downloadCifar10 } from '../data/download.js';
import { findIdxPair } from '../data/idx-dataset.js';
import { writeDatasetFolder } from '../data/folder-writer.js';
import { DATA_NAMES, dataSearchPaths, defaultDataDir, openData } from '../train/data.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';

const USAGE = `Usage: resnet data get cifar10 [--dir D]
       resnet data info [--json]
       resnet data folder DATA DIR [--limit N] [--data-dir D]

  get cifar10            download the CIFAR-10 binary version (163 MB) from its home page, check
                         its MD5 and extract it into D (default ${defaultDataDir('cifar10')}, or
                         $RESNET_DATA/cifar10). Without a network it fails at once and says where to
                         put the files by hand.
  info                   where each dataset is looked for, in order, and which are present
  folder DATA DIR        write a dataset (e.g. fashion-mnist-sample) as an image folder: its
                         training images as DIR/train/<class>/<n>.png, its test images as
                         DIR/val/<class>/<n>.png (--limit N: the first N of each), the layout
                         --data folder:DIR reads; to try image folders without images of your own

Fashion-MNIST: Debian's dataset-fashion-mnist package puts it in /usr/share/datasets/fashion-mnist;
a 10,000/2,000 image sample comes with resnet-ts (--data fashion-mnist-sample).`;

function present(name: string, dir: string): boolean {
  if (!existsSync(dir)) return false;
  if (name === 'cifar10') return findCifar10Dir(dir) !== null;
  if (name === 'folder:PATH') return false;
  return findIdxPair(dir, 'train') !== null && findIdxPair(dir, 'test') !== null;
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'get CIFAR-10, show where datasets are looked for, or write one as an image folder',
  usage: USAGE,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'get') {
      const { values, positionals } = parseFlags(rest, { dir: { type: 'string' } }, true);
      if (positionals.length !== 1 || positionals[0] !== 'cifar10') throw new UsageError('data get knows one dataset: cifar10');
      const dir = values.dir ?? defaultDataDir('cifar10');
      if (findCifar10Dir(dir)) {
        console.log(`CIFAR-10 is already in ${findCifar10Dir(dir)}`);
        return;
      }
      console.error(`downloading CIFAR-10 into ${dir} …`);
      const found = await downloadCifar10(dir);
      console.log(`CIFAR-10 is in ${found}`);
      return;
    }
    if (sub === 'info') {
      const { values } = parseFlags(rest, { json: { type: 'boolean' }, 'data-dir': { type: 'string' } });
      const rows = dataSearchPaths(values['data-dir']).map((d) => ({
        ...d, found: d.paths.find((p) => present(d.name, p)) ?? null,
      }));
      if (values.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      for (const r of rows) {
        console.log(`${r.name}: ${r.note}`);
        if (r.name === 'folder:PATH') {
          console.log(`  ${r.paths[0]}`);
          continue;
        }
        for (const p of r.paths) console.log(`  ${p === r.found ? '*' : ' '} ${p}`);
      }
      console.log('(* found there; environment variables CIFAR10_DIR, FASHION_MNIST_DIR, MNIST_DIR, RESNET_DATA add places)');
      return;
    }
    if (sub === 'folder') {
      const { values, positionals } = parseFlags(rest, { limit: { type: 'string' }, 'data-dir': { type: 'string' } }, true);
      if (positionals.length !== 2) throw new UsageError('data folder needs a dataset and a folder: resnet data folder fashion-mnist-sample DIR');
      const [name, dir] = positionals as [string, string];
      if (name.startsWith('folder:') || !(DATA_NAMES as readonly string[]).includes(name)) {
        throw new UsageError(`data folder writes one of ${DATA_NAMES.filter((d) => !d.startsWith('folder:')).join(', ')}, got '${name}'`);
      }
      const limit = values.limit === undefined ? undefined : intFlag(values.limit, '--limit', 0);
      const data = openData(name, values['data-dir']);
      const train = await writeDatasetFolder(data.trainFull, join(dir, 'train'), limit);
      const val = data.test ? await writeDatasetFolder(data.test, join(dir, 'val'), limit) : 0;
      console.log(`${train} training images in ${join(dir, 'train')}, ${val} test images in ${join(dir, 'val')}: train with --data folder:${dir}`);
      return;
    }
    throw new UsageError(sub === undefined ? 'data needs a sub-command: get, info or folder' : `unknown sub-command '${sub}'; use get, info or folder`);
  },
};
