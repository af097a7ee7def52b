// The networks of He et al., "Deep Residual Learning for Image Recognition" (2015):
// the basic and bottleneck residual blocks (Fig. 5), shortcut options A, B and C
// (Sec. 3.3), the ImageNet architectures of Table 1 and the CIFAR-10 family of
// Sec. 4.2, with and without shortcuts (the "plain" twins).
//
// Module and tensor names follow torchvision's state_dict keys.

import * as ops from '../ops/index.js';
import { BatchNorm2d, Conv2d, type LayerContext, Linear, convBn, layerContext } from '../nn/layers.js';
import { Module, type Placement } from '../nn/module.js';
import { type Tensor, scoped } from '../tensor/tensor.js';
import { type NetName, type NetSpec, netSpec } from './registry.js';

export type ShortcutOption = 'A' | 'B' | 'C';
export type StrideIn = '1x1' | '3x3';

export interface NetOptions {
  /**
   * How a shortcut crosses a change of shape (Sec. 3.3, Table 3). A (shortcutA): identity,
   * subsampled and zero-padded where the shape changes, no parameters; B: 1×1 projection only where the shape changes;
   * C: projection on every shortcut. Paper defaults: A on CIFAR, B on ImageNet.
   */
  shortcut: ShortcutOption;
  /**
   * Which conv of a bottleneck strides when it downsamples. '1x1' is the paper
   * (the first 1×1 conv, "v1"); '3x3' is torchvision's choice ("v1.5"), which its
   * pretrained weights need.
   */
  strideIn: StrideIn;
  classes: number;
  inChannels: number;
  /** Channels of the first stage: 64 on ImageNet, 16 on CIFAR (narrower nets for tests and quick studies). */
  width: number;
  /**
   * γ = 0 on the last BN of every residual branch, so each block starts as the
   * identity (Goyal et al., 2017). Off in the paper.
   */
  zeroInitResidual: boolean;
}

export function defaultOptions(name: NetName): NetOptions {
  const spec = netSpec(name);
  const imagenet = spec.family === 'imagenet';
  return {
    shortcut: imagenet ? 'B' : 'A',
    strideIn: '1x1',
    classes: imagenet ? 1000 : 10,
    inChannels: 3,
    width: imagenet ? 64 : 16,
    zeroInitResidual: false,
  };
}

/** Observes intermediate tensors during a forward pass (e.g. layer responses for Fig. 7). */
export type Probe = (name: string, t: Tensor) => void;

// ---------------------------------------------------------------- shortcuts

/** none: a plain block; identity: x; shortcutA: option A's subsampled, zero-padded x; projection: W_s x (B, C). */
export type ShortcutKind = 'none' | 'identity' | 'shortcutA' | 'projection';

/** A conv and the BN right after it, with their names in the block (torchvision's state_dict keys). */
export interface ConvBn {
  convName: string;
  conv: Conv2d;
  bnName: string;
  bn: BatchNorm2d;
}

function shortcutKind(option: ShortcutOption, residual: boolean, shapeChanges: boolean): ShortcutKind {
  if (!residual) return 'none';
  if (option === 'C') return 'projection';
  if (!shapeChanges) return 'identity';
  return option === 'A' ? 'shortcutA' : 'projection';
}

/** The projection shortcut W_s x (Eq. 2): a strided 1×1 conv and BN, named `downsample.0` and `downsample.1`. */
class Projection extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(ctx: LayerContext, inC: number, outC: number, stride: number) {
    super();
    this.conv = this.registerModule('0', new Conv2d(ctx, inC, outC, 1, stride, 0));
    this.bn = this.registerModule('1', new BatchNorm2d(ctx, outC));
  }

  forward(x: Tensor): Tensor {
    return convBn(this.conv, this.bn, x);
  }

  /** Its conv and BN, named as in the block. */
  convBn(): ConvBn {
    return { convName: 'downsample.0', conv: this.conv, bnName: 'downsample.1', bn: this.bn };
  }
}

/** What the block adds to its residual branch: nothing (plain), x, option A's x, or W_s x. */
export class Shortcut {
  constructor(readonly kind: ShortcutKind, readonly inC: number, readonly outC: number, readonly stride: number,
    readonly projection: Projection | null) {}

  static build(owner: Module & { addDownsample(p: Projection): Projection }, ctx: LayerContext, kind: ShortcutKind,
    inC: number, outC: number, stride: number): Shortcut {
    const projection = kind === 'projection' ? owner.addDownsample(new Projection(ctx, inC, outC, stride)) : null;
    return new Shortcut(kind, inC, outC, stride, projection);
  }

  /** What is added to the branch for input x: x, option A's x, W_s x; null for a plain block. */
  value(x: Tensor): Tensor | null {
    switch (this.kind) {
      case 'none': return null;
      case 'identity': return x;
      case 'shortcutA': return ops.shortcutA(x, this.outC, this.stride);
      case 'projection': return this.projection!.forward(x);
    }
  }

  /** branch + shortcut(x), or the branch alone for a plain block. */
  apply(branch: Tensor, x: Tensor): Tensor {
    const s = this.value(x);
    return s ? ops.add(branch, s) : branch;
  }
}

/**
 * The end of a block: relu(bn(conv(out)) + shortcut(x)), with the sum and the ReLU fused into the
 * batch norm's kernel, or in eval mode into the conv's stores (convBn); with a probe, bn's output
 * is shown to it before the sum.
 */
function blockEnd(conv: Conv2d, bn: BatchNorm2d, shortcut: Shortcut, out: Tensor, x: Tensor, probe: Probe | undefined, name: string): Tensor {
  if (probe) {
    const branch = bn.forward(conv.forward(out));
    probe(name, branch);
    return ops.relu(shortcut.apply(branch, x));
  }
  const residual = shortcut.value(x);
  return convBn(conv, bn, out, { relu: true, residual: residual ?? undefined });
}

// ---------------------------------------------------------------- blocks

interface BlockConfig {
  inC: number;
  planes: number;
  stride: number;
  shortcut: ShortcutOption;
  residual: boolean;
  strideIn: StrideIn;
}

/** A residual (or plain) block: the branch's conv–BN pairs, a ReLU after each but the last, the shortcut, the sum, ReLU. */
export abstract class Block extends Module {
  abstract readonly shortcut: Shortcut;
  abstract forward(x: Tensor, probe?: Probe, name?: string): Tensor;
  /** The residual branch's conv–BN pairs, in order. */
  abstract branch(): ConvBn[];

  /** The BN that ends the branch (zeroInitResidual sets its γ to 0). */
  lastBn(): BatchNorm2d {
    return this.branch().at(-1)!.bn;
  }

  addDownsample(p: Projection): Projection {
    return this.registerModule('downsample', p);
  }
}

/** Two 3×3 convs (Fig. 5 left): y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
class BasicBlock extends Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Shortcut;

  constructor(ctx: LayerContext, c: BlockConfig) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(ctx, c.inC, c.planes, 3, c.stride, 1));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ctx, c.planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(ctx, c.planes, c.planes, 3, 1, 1));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(ctx, c.planes));
    const changes = c.stride !== 1 || c.inC !== c.planes;
    this.shortcut = Shortcut.build(this, ctx, shortcutKind(c.shortcut, c.residual, changes), c.inC, c.planes, c.stride);
  }

  forward(x: Tensor, probe?: Probe, name = ''): Tensor {
    let out: Tensor;
    if (probe) {
      out = this.bn1.forward(this.conv1.forward(x));
      probe(`${name}.bn1`, out);
      out = ops.relu(out);
    } else {
      out = convBn(this.conv1, this.bn1, x, { relu: true }); // BN and ReLU in one kernel, or folded into the conv
    }
    return blockEnd(this.conv2, this.bn2, this.shortcut, out, x, probe, `${name}.bn2`);
  }

  branch(): ConvBn[] {
    return [
      { convName: 'conv1', conv: this.conv1, bnName: 'bn1', bn: this.bn1 },
      { convName: 'conv2', conv: this.conv2, bnName: 'bn2', bn: this.bn2 },
    ];
  }
}

/** 1×1 reduce, 3×3, 1×1 expand ×4 (Fig. 5 right). */
class Bottleneck extends Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Shortcut;

  constructor(ctx: LayerContext, c: BlockConfig) {
    super();
    const outC = c.planes * Bottleneck.expansion;
    const stride1 = c.strideIn === '1x1' ? c.stride : 1;
    const stride3 = c.strideIn === '3x3' ? c.stride : 1;
    this.conv1 = this.registerModule('conv1', new Conv2d(ctx, c.inC, c.planes, 1, stride1, 0));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ctx, c.planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(ctx, c.planes, c.planes, 3, stride3, 1));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(ctx, c.planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(ctx, c.planes, outC, 1, 1, 0));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(ctx, outC));
    const changes = c.stride !== 1 || c.inC !== outC;
    this.shortcut = Shortcut.build(this, ctx, shortcutKind(c.shortcut, c.residual, changes), c.inC, outC, c.stride);
  }

  forward(x: Tensor, probe?: Probe, name = ''): Tensor {
    let out = convBn(this.conv1, this.bn1, x, { relu: true });
    if (probe) {
      out = this.bn2.forward(this.conv2.forward(out));
      probe(`${name}.bn2`, out);
      out = ops.relu(out);
    } else {
      out = convBn(this.conv2, this.bn2, out, { relu: true });
    }
    return blockEnd(this.conv3, this.bn3, this.shortcut, out, x, undefined, '');
  }

  branch(): ConvBn[] {
    return [
      { convName: 'conv1', conv: this.conv1, bnName: 'bn1', bn: this.bn1 },
      { convName: 'conv2', conv: this.conv2, bnName: 'bn2', bn: this.bn2 },
      { convName: 'conv3', conv: this.conv3, bnName: 'bn3', bn: this.bn3 },
    ];
  }
}

/** One stage (conv2_x … conv5_x): blocks named '0', '1', …; the first one may downsample. */
class Stage extends Module {
  readonly blocks: Block[] = [];
  constructor(ctx: LayerContext, spec: NetSpec, o: NetOptions, inC: number, planes: number, count: number, stride: number) {
    super();
    const expansion = spec.block === 'bottleneck' ? Bottleneck.expansion : BasicBlock.expansion;
    for (let i = 0; i < count; i++) {
      const config: BlockConfig = {
        inC: i === 0 ? inC : planes * expansion, planes, stride: i === 0 ? stride : 1,
        shortcut: o.shortcut, residual: spec.residual, strideIn: o.strideIn,
      };
      const block = spec.block === 'bottleneck' ? new Bottleneck(ctx, config) : new BasicBlock(ctx, config);
      this.blocks.push(this.registerModule(String(i), block));
    }
  }

  /** Under noGrad, each block's maps are released when it returns, and its input once the next block has read it. */
  forward(x: Tensor, probe?: Probe, name = ''): Tensor {
    this.blocks.forEach((b, i) => {
      const input = x;
      x = scoped(() => b.forward(input, probe, `${name}.${i}`), i > 0 ? [input] : []);
    });
    return x;
  }
}

// ---------------------------------------------------------------- networks

export interface CreateOptions extends Partial<NetOptions>, Placement {
  /** Seed of the initialization. */
  seed?: number;
  /** Leave the weights at zero: they are about to be loaded, or only shapes matter. */
  skipInit?: boolean;
}

export class ResNet extends Module {
  readonly name: NetName;
  readonly spec: NetSpec;
  readonly options: NetOptions;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: Stage[] = [];
  readonly fc: Linear;

  constructor(name: NetName, options: CreateOptions = {}) {
    super();
    this.name = name;
    this.spec = netSpec(name);
    this.options = netOptions(name, options);
    validateOptions(name, this.options);
    const ctx = layerContext(options);
    const o = this.options;
    const imagenet = this.spec.family === 'imagenet';
    // Stem: 7×7/64 stride 2 then 3×3 max pool stride 2 (ImageNet); 3×3/16 (CIFAR).
    this.conv1 = this.registerModule('conv1', imagenet
      ? new Conv2d(ctx, o.inChannels, o.width, 7, 2, 3)
      : new Conv2d(ctx, o.inChannels, o.width, 3, 1, 1));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ctx, o.width));
    const expansion = this.spec.block === 'bottleneck' ? Bottleneck.expansion : BasicBlock.expansion;
    let inC = o.width;
    this.spec.blocks.forEach((count, i) => {
      const planes = o.width * 2 ** i;
      const stage = new Stage(ctx, this.spec, o, inC, planes, count, i === 0 ? 1 : 2);
      this.stages.push(this.registerModule(`layer${i + 1}`, stage));
      inC = planes * expansion;
    });
    this.fc = this.registerModule('fc', new Linear(ctx, inC, o.classes));
    if (o.zeroInitResidual && this.spec.residual) {
      for (const stage of this.stages) for (const b of stage.blocks) b.lastBn().weight.set(new Float32Array(b.lastBn().channels));
    }
  }

  /** The stem: conv1, bn1, ReLU (and the max pool on ImageNet nets). */
  forwardStem(x: Tensor, probe?: Probe): Tensor {
    let out: Tensor;
    if (probe) {
      out = this.bn1.forward(this.conv1.forward(x));
      probe('bn1', out);
      out = ops.relu(out);
    } else {
      out = convBn(this.conv1, this.bn1, x, { relu: true });
    }
    return this.spec.family === 'imagenet' ? ops.maxPool2d(out, { kernelSize: 3, stride: 2, padding: 1 }) : out;
  }

  /**
   * The feature maps of every stage: [C2, C3, C4, C5] on ImageNet nets (strides
   * 4, 8, 16, 32), the three stage outputs on CIFAR nets. A detector builds on these.
   */
  forwardFeatures(x: Tensor, probe?: Probe): Tensor[] {
    let out = this.forwardStem(x, probe);
    const features: Tensor[] = [];
    this.stages.forEach((stage, i) => {
      out = stage.forward(out, probe, `layer${i + 1}`);
      features.push(out);
    });
    return features;
  }

  /** Global average pool and the fully connected classifier: [n, c, h, w] → [n, classes]. */
  forwardHead(features: Tensor): Tensor {
    return this.fc.forward(ops.globalAvgPool(features));
  }

  /** Logits [n, classes] for images [n, inChannels, h, w]. */
  forward(x: Tensor, probe?: Probe): Tensor {
    // Under noGrad every stage's output is released once the next stage has read it (forwardFeatures keeps them all).
    let out = scoped(() => this.forwardStem(x, probe));
    this.stages.forEach((stage, i) => {
      const input = out;
      out = scoped(() => stage.forward(input, probe, `layer${i + 1}`), [input]);
    });
    const features = out;
    return scoped(() => this.forwardHead(features), [features]);
  }
}

export function createNet(name: NetName, options: CreateOptions = {}): ResNet {
  return new ResNet(name, options);
}

/** The network options among `options` (which may also hold placement and seed), over the defaults. */
export function netOptions(name: NetName, options: Partial<NetOptions>): NetOptions {
  const o = defaultOptions(name);
  for (const key of Object.keys(o) as (keyof NetOptions)[]) {
    if (options[key] !== undefined) (o as unknown as Record<string, unknown>)[key] = options[key];
  }
  return o;
}

function validateOptions(name: NetName, o: NetOptions): void {
  if (!['A', 'B', 'C'].includes(o.shortcut)) throw new Error(`shortcut must be A, B or C, got '${o.shortcut}'`);
  if (!['1x1', '3x3'].includes(o.strideIn)) throw new Error(`strideIn must be 1x1 or 3x3, got '${o.strideIn}'`);
  for (const key of ['classes', 'inChannels', 'width'] as const) {
    if (!Number.isInteger(o[key]) || o[key] <= 0) throw new Error(`${name}: ${key} must be a positive integer, got ${o[key]}`);
  }
}
