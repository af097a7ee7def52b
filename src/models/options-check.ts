// Network options read from a file (the metadata of weights and checkpoints) are checked here, key
// by key, before any network is built from them: a hostile or damaged file must not make `createNet`
// allocate until memory runs out. The keys and their types are those of NetOptions (taken from the
// defaults, so that a new option needs no change here); counts must be positive integers, and the
// network they describe must stay under the maxParameters read limit and, when the file's tensors
// are known, within a small factor of the number of values the file holds.

import { FormatError, LimitError } from '../io/errors.js';
import { type ReadLimits, checkLimit, readLimits } from '../io/limits.js';
import { type NetName, isNetName, netSpec } from './registry.js';
import { type NetOptions, defaultOptions } from './resnet.js';

const CHOICES: Partial<Record<keyof NetOptions, readonly string[]>> = { shortcut: ['A', 'B', 'C'], strideIn: ['1x1', '3x3'] };

/** The largest value of a count option on its own (the parameter bound below is the real limit). */
const MAX_COUNT = 2 ** 20;

/**
 * Checks `value` (parsed from the metadata key `options` of the file `source`) and returns it as
 * options. `net`: the network the file names, when known; `fileValues`: the number of values the
 * file's tensors hold, when known.
 */
export function checkFileOptions(
  value: unknown,
  source: string,
  net?: string,
  fileValues?: number,
  limits?: Partial<ReadLimits>,
): Partial<NetOptions> {
  const fail = (problem: string): never => {
    throw new FormatError(`${source}: metadata 'options': ${problem}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('not a JSON object');
  const defaults = defaultOptions(net !== undefined && isNetName(net) ? net : 'resnet20');
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(defaults, key)) fail(`unknown option '${key}' (known: ${Object.keys(defaults).join(', ')})`);
    const k = key as keyof NetOptions;
    const expected = typeof defaults[k];
    const choices = CHOICES[k];
    if (choices !== undefined) {
      if (typeof v !== 'string' || !choices.includes(v)) fail(`'${key}' is ${JSON.stringify(v)?.slice(0, 40)}, not one of ${choices.join(', ')}`);
    } else if (expected === 'number') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`'${key}' is ${JSON.stringify(v)?.slice(0, 40)}, not a positive integer`);
      if ((v as number) > MAX_COUNT) fail(`'${key}' is ${v as number}, over ${MAX_COUNT}: no such network exists`);
    } else if (typeof v !== expected) {
      fail(`'${key}' is ${JSON.stringify(v)?.slice(0, 40)}, not a ${expected}`);
    }
    out[key] = v;
  }
  const options = out as Partial<NetOptions>;
  if (net !== undefined && isNetName(net)) {
    const params = estimateParameters(net, { ...defaults, ...options });
    const lim = readLimits(limits);
    checkLimit(`${source}: metadata 'options'`, `the parameter count of the ${net} they describe`, params, lim, 'maxParameters');
    if (fileValues !== undefined && params > 2 * fileValues + 2 ** 20) {
      throw new LimitError(
        `${source}: metadata 'options' describe a ${net} of about ${params} parameters, but the file's tensors hold only ${fileValues} values`,
      );
    }
  }
  return options;
}

/**
 * Parameters of the convolutions and the classifier of `net` with `o` (BN's few are left out): the
 * shapes resnet.ts builds, counted without building anything.
 */
export function estimateParameters(net: NetName, o: NetOptions): number {
  const spec = netSpec(net);
  const k = spec.family === 'imagenet' ? 7 : 3;
  let total = o.inChannels * o.width * k * k;
  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  let inC = o.width;
  spec.blocks.forEach((count, stage) => {
    const planes = o.width * 2 ** stage;
    const outC = planes * expansion;
    for (let b = 0; b < count; b++) {
      const c = b === 0 ? inC : outC;
      total += spec.block === 'bottleneck' ? c * planes + 9 * planes * planes + planes * outC : 9 * c * planes + 9 * planes * planes;
      const projects = spec.residual && (o.shortcut === 'C' || (o.shortcut === 'B' && b === 0 && (c !== outC || stage > 0)));
      if (projects) total += c * outC;
    }
    inC = outC;
  });
  return total + inC * o.classes + o.classes;
}
