// Flags shared by every command that builds a network or picks a kernel set.

import { availableParallelism } from 'node:os';
import { BACKENDS, type BackendName, type BackendOptions } from '../kernels/select.js';
import type { NetOptions } from '../models/resnet.js';
import { UsageError, intFlag } from './command.js';

export const NET_FLAGS = {
  shortcut: { type: 'string' },
  'stride-in': { type: 'string' },
  classes: { type: 'string' },
  'in-channels': { type: 'string' },
  width: { type: 'string' },
  'zero-init-residual': { type: 'boolean' },
} as const;

export const BACKEND_FLAGS = {
  backend: { type: 'string' },
  threads: { type: 'string' },
} as const;

export const NET_FLAGS_USAGE = `Network options:
  --shortcut A|B|C       shortcut option of Sec. 3.3 (default: A on CIFAR nets, B on ImageNet nets)
  --stride-in 1x1|3x3    which bottleneck conv strides (default 1x1, the paper; torchvision weights need 3x3)
  --classes N            classifier outputs (default 10 on CIFAR nets, 1000 on ImageNet nets)
  --in-channels N        input channels (default 3)
  --width N              channels of the first stage (default 16 on CIFAR nets, 64 on ImageNet nets)
  --zero-init-residual   γ = 0 on the last BN of each residual branch (off in the paper)`;

export const BACKEND_FLAGS_USAGE = `Engine options:
  --backend ref|wasm     kernel set (default wasm, the fastest)
  --threads N            worker threads of the wasm set (default: the number of cores; more
                         than the cores is capped to them, with a warning: it only slows down)`;

type Values = Record<string, string | boolean | undefined>;

/** Network options given on the command line (absent ones stay undefined). */
export function netOptionsFromFlags(v: Values): Partial<NetOptions> {
  const o: Partial<NetOptions> = {};
  if (v.shortcut !== undefined) {
    if (!['A', 'B', 'C'].includes(String(v.shortcut))) throw new UsageError(`--shortcut must be A, B or C, got '${v.shortcut}'`);
    o.shortcut = v.shortcut as NetOptions['shortcut'];
  }
  if (v['stride-in'] !== undefined) {
    if (!['1x1', '3x3'].includes(String(v['stride-in']))) throw new UsageError(`--stride-in must be 1x1 or 3x3, got '${v['stride-in']}'`);
    o.strideIn = v['stride-in'] as NetOptions['strideIn'];
  }
  if (v.classes !== undefined) o.classes = intFlag(String(v.classes), '--classes', 0);
  if (v['in-channels'] !== undefined) o.inChannels = intFlag(String(v['in-channels']), '--in-channels', 0);
  if (v.width !== undefined) o.width = intFlag(String(v.width), '--width', 0);
  if (v['zero-init-residual']) o.zeroInitResidual = true;
  return o;
}

export function backendFromFlags(v: Values): BackendOptions {
  const o: BackendOptions = {};
  if (v.backend !== undefined) {
    if (!BACKENDS.includes(v.backend as BackendName)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got '${v.backend}'`);
    o.backend = v.backend as BackendName;
  }
  if (v.threads !== undefined) {
    const { threads, warning } = capThreads(intFlag(String(v.threads), '--threads', 0), availableParallelism());
    if (warning) console.warn(`resnet: ${warning}`);
    o.threads = threads;
  }
  return o;
}

/**
 * More worker threads than cores make every kernel wait on the others (80× slower at 100 threads
 * on 2 cores): such a request is capped to the cores, with a warning that says so.
 */
export function capThreads(requested: number, cores: number): { threads: number; warning: string | null } {
  if (requested <= cores) return { threads: requested, warning: null };
  return { threads: cores, warning: `--threads ${requested} is more than the ${cores} cores here; using ${cores} (more threads than cores only slow the kernels down)` };
}
