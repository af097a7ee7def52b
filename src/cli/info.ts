// `resnet list` and `resnet info`: the networks and the paper's Table 1 view of one.

import { NET_NAMES, NETS, depth, isNetName } from '../models/registry.js';
import { type NetSummary, summarize } from '../models/summary.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { NET_FLAGS, NET_FLAGS_USAGE, netOptionsFromFlags } from './net-flags.js';

export const listCommand: Command = {
  name: 'list',
  summary: 'list the networks of the paper',
  usage: 'Usage: resnet list [--json]',
  async run(argv) {
    const { values } = parseFlags(argv, { json: { type: 'boolean' } });
    const rows = NET_NAMES.map((name) => {
      const spec = NETS[name];
      return { name, family: spec.family, block: spec.block, blocks: spec.blocks, residual: spec.residual, depth: depth(spec) };
    });
    if (values.json) {
      console.log(JSON.stringify(rows, null, 2));
      return;
    }
    console.log(table(['network', 'dataset', 'depth', 'block', 'blocks per stage', 'shortcuts'],
      rows.map((r) => [r.name, r.family === 'imagenet' ? 'ImageNet' : 'CIFAR-10', String(r.depth), r.block, r.blocks.join(', '), r.residual ? 'yes' : 'no (plain)'])));
  },
};

export const infoCommand: Command = {
  name: 'info',
  summary: "show a network's stages, parameters and multiply-accumulates (Table 1)",
  usage: `Usage: resnet info NET [--json] [--input H] [network options]

Counts come from running the network's forward pass on a counting kernel set.
  --input H              square input size (default 224 on ImageNet nets, 32 on CIFAR nets)

${NET_FLAGS_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { ...NET_FLAGS, json: { type: 'boolean' }, input: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new UsageError('info needs one network name (see resnet list)');
    const name = positionals[0];
    if (!isNetName(name)) throw new UsageError(`unknown network '${name}'; known: ${NET_NAMES.join(', ')}`);
    const size = values.input === undefined ? undefined : intFlag(values.input, '--input', 0);
    const summary = summarize(name, netOptionsFromFlags(values), size);
    console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  },
};

export function formatSummary(s: NetSummary): string {
  const o = s.options;
  const head = `${s.net}: ${s.depth} layers, shortcut ${o.shortcut}, stride in ${o.strideIn}, width ${o.width}, ` +
    `${o.classes} classes, input ${s.input.join('×')}`;
  const rows = s.stages.map((st) => [st.name, st.output.join('×'), group(st.params), group(st.macs)]);
  rows.push(['total', '', group(s.params), group(s.macs)]);
  return `${head}\n${table(['stage', 'output', 'parameters', 'multiply-adds'], rows)}\n` +
    `${(s.params / 1e6).toFixed(2)}M parameters, ${(s.macs / 1e9).toFixed(2)}×10^9 multiply-adds`;
}

function group(n: number): string {
  return n.toLocaleString('en-US');
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
