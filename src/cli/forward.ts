// `resnet forward`: eval-mode logits of a .npy batch, for scripts and other tools.

import { readUserFile } from '../io/file-errors.js';
import { noGrad } from '../autograd/tape.js';
import { readNpy, toFloat32, writeNpy } from '../io/npy.js';
import { loadKernels } from '../kernels/select.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { loadNet } from '../models/weights.js';
import { fromArray } from '../tensor/tensor.js';
import { type Command, UsageError, parseFlags } from './command.js';
import { BACKEND_FLAGS, BACKEND_FLAGS_USAGE, NET_FLAGS, NET_FLAGS_USAGE, backendFromFlags, netOptionsFromFlags } from './net-flags.js';

export const forwardCommand: Command = {
  name: 'forward',
  summary: 'eval-mode logits of an input batch (.npy in, .npy out)',
  usage: `Usage: resnet forward --weights W --input X.npy --output Y.npy [--net NET] [options]

  --weights W            .safetensors (written by resnet-ts: net and options come from it) or .pth
  --net NET              the network (needed for files without resnet-ts metadata)
  --input X.npy          float32 or float64 array [n, channels, height, width]
  --output Y.npy         where to write the logits, float32 [n, classes]

${NET_FLAGS_USAGE}

${BACKEND_FLAGS_USAGE}`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...NET_FLAGS, ...BACKEND_FLAGS, net: { type: 'string' }, weights: { type: 'string' },
      input: { type: 'string' }, output: { type: 'string' },
    });
    for (const flag of ['weights', 'input', 'output'] as const) {
      if (!values[flag]) throw new UsageError(`forward needs --${flag}`);
    }
    const kernels = await loadKernels(backendFromFlags(values));
    const net = loadNet(values.weights!, values.net, { ...netOptionsFromFlags(values), kernels }).eval();
    const x = readNpy(readUserFile(values.input!, 'input'), values.input);
    const c = net.options.inChannels;
    if (x.shape.length !== 4 || x.shape[1] !== c) {
      throw new Error(`${values.input}: expected an array [n, ${c}, height, width], got [${x.shape.join(', ')}]`);
    }
    const logits = noGrad(() => net.forward(fromArray(toFloat32(x), x.shape, { kernels })));
    writeFileAtomic(values.output!, writeNpy({ dtype: '<f4', shape: [...logits.shape], data: Float32Array.from(logits.toArray()) }));
    console.error(`wrote logits [${logits.shape.join(', ')}] to ${values.output}`);
  },
};
