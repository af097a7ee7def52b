// `resnet experiment NAME`: runs one of the paper's experiments (src/experiments) and says how far it is.

import { EXPERIMENTS, SCALES, type Scale, isScale } from '../experiments/catalog.js';
import { runExperiment } from '../experiments/runner.js';
import { loadKernels } from '../kernels/select.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, backendFromFlags } from './net-flags.js';
import { exitInterrupted, progressFromFlag, withInterrupt } from './train.js';

function describe(): string {
  return EXPERIMENTS.map((e) => [
    `${e.name}  (${e.paper})`,
    `  ${e.title}.`,
    `  ${e.description}`,
    `  runs: ${e.runs.map((r) => r.id).join(', ')}`,
    ...SCALES.map((s) => `  --scale ${s.padEnd(6)} ${e.scales[s].summary}`),
  ].join('\n')).join('\n\n');
}

export const experimentCommand: Command = {
  name: 'experiment',
  summary: "run one of the paper's experiments (Fig. 4, 6, 7; Tables 2, 3, 6) at a chosen scale",
  usage: `Usage: resnet experiment NAME [--scale paper|small|smoke] [--data D] [--out DIR] [options]
       resnet experiment --list

Each network of the experiment is an ordinary training run in DIR/RUN (log.jsonl, checkpoints,
model.safetensors). Running the same command again continues: finished runs are skipped and an
interrupted one resumes from its checkpoint. \`resnet report DIR\` draws the figures and tables.

  --list                 describe the experiments
  --scale S              paper (the exact recipe), small (about an hour for the four nets of
                         degradation-cifar's slice on 2 cores) or smoke (seconds; for tests). Default small
  --data D               cifar10 | fashion-mnist | fashion-mnist-sample | mnist | folder:PATH.
                         Default: CIFAR-10 when present, else Fashion-MNIST, else the bundled sample
                         (degradation-imagenet needs folder:PATH)
  --data-dir D           where the dataset's files are
  --out DIR              default runs/NAME
  --runs A,B,...         only these runs (e.g. plain20,plain56,resnet20,resnet56)
  --from DIR             layer-responses: measure the finished runs of another experiment's folder
  --seed N               seed of every run (default 0)
  --progress bar|lines|none

${BACKEND_FLAGS_USAGE}

Experiments:
${describe()}`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      ...BACKEND_FLAGS, list: { type: 'boolean' }, scale: { type: 'string' }, data: { type: 'string' }, 'data-dir': { type: 'string' },
      out: { type: 'string' }, runs: { type: 'string' }, from: { type: 'string' }, seed: { type: 'string' }, progress: { type: 'string' },
    }, true);
    if (values.list) {
      console.log(describe());
      return;
    }
    if (positionals.length !== 1) throw new UsageError(`experiment needs one NAME: ${EXPERIMENTS.map((e) => e.name).join(', ')} (--list describes them)`);
    const name = positionals[0];
    if (!EXPERIMENTS.some((e) => e.name === name)) throw new UsageError(`unknown experiment '${name}'; choose one of ${EXPERIMENTS.map((e) => e.name).join(', ')}`);
    const scale = values.scale ?? 'small';
    if (!isScale(scale)) throw new UsageError(`--scale must be one of ${SCALES.join(', ')}, got '${scale}'`);
    const kernels = await loadKernels(backendFromFlags(values));
    const result = await withInterrupt((signal) => runExperiment({
      name, scale: scale as Scale, data: values.data, dataDir: values['data-dir'], out: values.out ?? `runs/${name}`, kernels,
      runs: values.runs?.split(',').map((s) => s.trim()).filter((s) => s !== ''), from: values.from,
      seed: intFlag(values.seed, '--seed', 0, { min: 0 }),
      signal, progress: progressFromFlag(values.progress), command: `resnet experiment ${argv.join(' ')}`,
    }));
    if (result.status === 'interrupted') exitInterrupted();
  },
};
