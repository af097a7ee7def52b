// Every network of the paper, as data: a depth is one line.

export interface NetSpec {
  family: 'imagenet' | 'cifar';
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  blocks: readonly number[];
  /** With shortcuts (ResNet) or without (the plain twin). */
  residual: boolean;
}

const imagenet = (block: NetSpec['block'], blocks: number[], residual = true): NetSpec =>
  ({ family: 'imagenet', block, blocks, residual });
/** CIFAR-10 nets of Sec. 4.2: depth 6n + 2, three stages of n basic blocks. */
const cifar = (n: number, residual = true): NetSpec => ({ family: 'cifar', block: 'basic', blocks: [n, n, n], residual });

export const NETS = {
  // Table 1
  resnet18: imagenet('basic', [2, 2, 2, 2]),
  resnet34: imagenet('basic', [3, 4, 6, 3]),
  resnet50: imagenet('bottleneck', [3, 4, 6, 3]),
  resnet101: imagenet('bottleneck', [3, 4, 23, 3]),
  resnet152: imagenet('bottleneck', [3, 8, 36, 3]),
  plain18: imagenet('basic', [2, 2, 2, 2], false),
  plain34: imagenet('basic', [3, 4, 6, 3], false),
  // Table 6
  resnet20: cifar(3),
  resnet32: cifar(5),
  resnet44: cifar(7),
  resnet56: cifar(9),
  resnet110: cifar(18),
  resnet1202: cifar(200),
  plain20: cifar(3, false),
  plain32: cifar(5, false),
  plain44: cifar(7, false),
  plain56: cifar(9, false),
  plain110: cifar(18, false),
} as const satisfies Record<string, NetSpec>;

export type NetName = keyof typeof NETS;

export const NET_NAMES = Object.keys(NETS) as NetName[];

export function isNetName(name: string): name is NetName {
  return Object.hasOwn(NETS, name);
}

export function netSpec(name: string): NetSpec {
  if (!isNetName(name)) throw new Error(`unknown network '${name}'; known: ${NET_NAMES.join(', ')}`);
  return NETS[name];
}

/** Depth as the paper counts it: weighted layers (convs and the FC layer). */
export function depth(spec: NetSpec): number {
  const perBlock = spec.block === 'bottleneck' ? 3 : 2;
  return 2 + perBlock * spec.blocks.reduce((a, b) => a + b, 0);
}
