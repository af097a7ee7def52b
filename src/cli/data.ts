// `resnet data get cifar10` and `resnet data info`.

import { existsSync } from 'node:fs';
import { findCifar10Dir } from '../data/cifar10.js';
import { downloadCifar10 } from '../data/download.js';
import { findIdxPair } from '../data/idx-dataset.js';
import { dataSearchPaths, defaultDataDir } from '../train/data.js';
import { type Command, UsageError, parseFlags } from './command.js';

const USAGE = `Usage: resnet data get cifar10 [--dir D]
       resnet data info [--json]

  get cifar10            download the CIFAR-10 binary version (163 MB) from its home page, check
                         its MD5 and extract it into D (default ${defaultDataDir('cifar10')}, or
                         $RESNET_DATA/cifar10). Without a network it fails at once and says where to
                         put the files by hand.
  info                   where each dataset is looked for, in order, and which are present

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
  summary: 'get CIFAR-10, or show where datasets are looked for',
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
    throw new UsageError(sub === undefined ? 'data needs a sub-command: get or info' : `unknown sub-command '${sub}'; use get or info`);
  },
};
