// ONNX export of a ResNet in evaluation mode (opset 13), runnable by onnxruntime and other runtimes.
//
// The graph is the network's eval forward written with standard operators:
//   conv → BN          Conv with BN folded in: W' = W·s, b' = β − μ·s, s = γ / √(σ² + ε)
//                      (or Conv then BatchNormalization with `foldBatchNorm: false`)
//   ReLU               Relu
//   stem max pool      MaxPool 3×3, stride 2, padding 1 (ImageNet nets)
//   shortcut A         Slice with step = stride on H and W (every stride-th pixel, as the option-A op
//                      takes), then Pad with zeros after the identity channels on the channel axis
//   shortcut B/C       the projection: Conv 1×1 (stride s) with its BN folded
//   residual sum       Add, then Relu
//   head               GlobalAveragePool, Flatten, Gemm (fc, transB = 1)
// The batch dimension is fixed or symbolic ('batch'); the spatial size is fixed by `inputSize`.

import {
  AttributeType, type AttributeProto, DataType, type Dimension, IR_VERSION, type NodeProto, type TensorProto,
  type ValueInfoProto, encodeModel,
} from '../io/onnx-proto.js';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { ResNet } from './resnet.js';

export const OPSET = 13;

export interface OnnxExportOptions {
  /** A fixed batch size, or 'dynamic' for a symbolic first dimension named 'batch'. */
  batch: number | 'dynamic';
  /** Input height and width. */
  inputSize: [number, number];
  /** Fold each BN into the conv before it (default), or keep BatchNormalization nodes. */
  foldBatchNorm?: boolean;
  /** Extra metadata_props entries (e.g. preprocessing). */
  metadata?: Record<string, string>;
}

/** Names of the graph's input and output. */
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'logits';

/** Serializes `model` (its current weights, eval semantics) as an ONNX ModelProto. */
export function exportOnnx(model: ResNet, options: OnnxExportOptions): Uint8Array {
  const { batch, inputSize } = options;
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && batch > 0)) throw new Error(`exportOnnx: batch must be a positive integer or 'dynamic', got ${batch}`);
  for (const d of inputSize) if (!(Number.isInteger(d) && d > 0)) throw new Error(`exportOnnx: inputSize must be two positive integers, got [${inputSize.join(', ')}]`);

  const g = new GraphBuilder(model, options.foldBatchNorm ?? true);
  const logits = g.network(ONNX_INPUT);
  const batchDim: Dimension = batch === 'dynamic' ? { dimParam: 'batch' } : { dimValue: batch };
  const o = model.options;
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'resnet-ts',
    producerVersion: '0.1.0',
    docString: `${model.name} (He et al., 2015), evaluation mode`,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(ONNX_INPUT, [batchDim, { dimValue: o.inChannels }, { dimValue: inputSize[0] }, { dimValue: inputSize[1] }])],
      output: [valueInfo(logits, [batchDim, { dimValue: o.classes }])],
    },
    metadataProps: Object.entries({ net: model.name, options: JSON.stringify(o), ...options.metadata })
      .map(([key, value]) => ({ key, value })),
  });
}

// ---------------------------------------------------------------------------------------------

/** Shortcut kinds, inferred from the modules exactly as resnet.ts chooses them. */
type Shortcut = 'none' | 'identity' | 'zeroPad' | 'projection';

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly modules: Map<string, Module>;

  constructor(private readonly model: ResNet, private readonly fold: boolean) {
    this.modules = new Map(model.namedModules());
  }

  /** The whole forward: stem, stages, head. Returns the output's name. */
  network(input: string): string {
    let x = this.convBn('conv1', 'bn1', input);
    x = this.node('Relu', 'relu', [x]);
    if (this.model.spec.family === 'imagenet') {
      x = this.node('MaxPool', 'maxpool', [x], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])]);
    }
    this.model.stages.forEach((stage, i) => {
      stage.blocks.forEach((_, j) => {
        x = this.block(`layer${i + 1}.${j}`, x);
      });
    });
    x = this.node('GlobalAveragePool', 'avgpool', [x]);
    x = this.node('Flatten', 'flatten', [x], [int('axis', 1)]);
    const fc = this.module('fc', Linear);
    const weight = this.tensor('fc.weight', [fc.outFeatures, fc.inFeatures], fc.weight.toArray());
    const bias = this.tensor('fc.bias', [fc.outFeatures], fc.bias.toArray());
    return this.node('Gemm', 'fc', [x, weight, bias], [int('transB', 1)], ONNX_OUTPUT);
  }

  /** A basic block (conv1, conv2) or a bottleneck (conv1..conv3), its shortcut, the sum and ReLU. */
  private block(prefix: string, x: string): string {
    const convs = ['conv1', 'conv2', 'conv3'].filter((c) => this.modules.has(`${prefix}.${c}`));
    let out = x;
    convs.forEach((c, k) => {
      out = this.convBn(`${prefix}.${c}`, `${prefix}.bn${k + 1}`, out);
      if (k < convs.length - 1) out = this.node('Relu', `${prefix}.relu${k + 1}`, [out]);
    });
    const first = this.module(`${prefix}.${convs[0]}`, Conv2d);
    const last = this.module(`${prefix}.${convs[convs.length - 1]}`, Conv2d);
    const stride = Math.max(...convs.map((c) => this.module(`${prefix}.${c}`, Conv2d).stride));
    const kind = this.shortcutKind(prefix, first.inChannels, last.outChannels, stride);
    if (kind === 'none') return this.node('Relu', `${prefix}.relu`, [out]);

    let shortcut = x;
    if (kind === 'projection') shortcut = this.convBn(`${prefix}.downsample.0`, `${prefix}.downsample.1`, x);
    if (kind === 'zeroPad') shortcut = this.zeroPadShortcut(prefix, x, first.inChannels, last.outChannels, stride);
    const sum = this.node('Add', `${prefix}.add`, [out, shortcut]);
    return this.node('Relu', `${prefix}.relu`, [sum]);
  }

  private shortcutKind(prefix: string, inC: number, outC: number, stride: number): Shortcut {
    if (this.modules.has(`${prefix}.downsample.0`)) return 'projection';
    if (!this.model.spec.residual) return 'none';
    return stride === 1 && inC === outC ? 'identity' : 'zeroPad';
  }

  /** Option A: x[:, :, ::stride, ::stride], then (outC − inC) zero channels after the identity ones. */
  private zeroPadShortcut(prefix: string, x: string, inC: number, outC: number, stride: number): string {
    let y = x;
    if (stride > 1) {
      const starts = this.int64Tensor(`${prefix}.shortcut.starts`, [0, 0]);
      const ends = this.int64Tensor(`${prefix}.shortcut.ends`, [2 ** 62, 2 ** 62]); // "to the end"
      const axes = this.int64Tensor(`${prefix}.shortcut.axes`, [2, 3]);
      const steps = this.int64Tensor(`${prefix}.shortcut.steps`, [stride, stride]);
      y = this.node('Slice', `${prefix}.shortcut.subsample`, [y, starts, ends, axes, steps]);
    }
    if (outC > inC) {
      // pads: [begin of N, C, H, W, end of N, C, H, W]
      const pads = this.int64Tensor(`${prefix}.shortcut.pads`, [0, 0, 0, 0, 0, outC - inC, 0, 0]);
      y = this.node('Pad', `${prefix}.shortcut.pad`, [y, pads], [string('mode', 'constant')]);
    }
    return y;
  }

  /** Conv followed by its BN: folded into one Conv, or Conv + BatchNormalization. */
  private convBn(convName: string, bnName: string, x: string): string {
    const conv = this.module(convName, Conv2d);
    const bn = this.module(bnName, BatchNorm2d);
    const k = conv.kernelSize;
    const attributes = [
      ints('kernel_shape', [k, k]), ints('strides', [conv.stride, conv.stride]),
      ints('pads', [conv.padding, conv.padding, conv.padding, conv.padding]), ints('dilations', [1, 1]), int('group', 1),
    ];
    const shape = [conv.outChannels, conv.inChannels, k, k];
    const w = conv.weight.toArray();
    const gamma = bn.weight.toArray();
    const beta = bn.bias.toArray();
    const mean = bn.runningMean.toArray();
    const variance = bn.runningVar.toArray();
    if (!this.fold) {
      const y = this.node('Conv', convName, [x, this.tensor(`${convName}.weight`, shape, w)], attributes);
      const params = [gamma, beta, mean, variance].map((v, i) =>
        this.tensor(`${bnName}.${['weight', 'bias', 'running_mean', 'running_var'][i]}`, [bn.channels], v));
      return this.node('BatchNormalization', bnName, [y, ...params], [float('epsilon', bn.eps)]);
    }
    // Folding in float64, rounded once to float32.
    const perFilter = w.length / conv.outChannels;
    const folded = new Float32Array(w.length);
    const bias = new Float32Array(conv.outChannels);
    for (let o = 0; o < conv.outChannels; o++) {
      const s = gamma[o]! / Math.sqrt(variance[o]! + bn.eps);
      for (let i = 0; i < perFilter; i++) folded[o * perFilter + i] = w[o * perFilter + i]! * s;
      bias[o] = beta[o]! - mean[o]! * s;
    }
    const inputs = [x, this.tensor(`${convName}.weight`, shape, folded), this.tensor(`${convName}.bias`, [conv.outChannels], bias)];
    return this.node('Conv', convName, inputs, attributes);
  }

  // --- graph primitives --------------------------------------------------------------------------

  /** Appends a node; its output is named after the node unless given. Returns the output's name. */
  private node(opType: string, name: string, input: string[], attribute: AttributeProto[] = [], output = name): string {
    this.nodes.push({ opType, name, input, output: [output], attribute });
    return output;
  }

  private tensor(name: string, dims: number[], values: ArrayLike<number>): string {
    const data = Float32Array.from(values);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: littleEndian(data) });
    return name;
  }

  private int64Tensor(name: string, values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: littleEndian(data) });
    return name;
  }

  /** The module under `name`, checked to be of the expected class. */
  private module<T extends Module>(name: string, type: abstract new (...args: never[]) => T): T {
    const m = this.modules.get(name);
    if (!(m instanceof type)) throw new Error(`exportOnnx: expected a ${type.name} named '${name}' in ${this.model.name}`);
    return m;
  }
}

// ---------------------------------------------------------------------------------------------

function int(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

function ints(name: string, values: number[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints: values };
}

function float(name: string, f: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f };
}

function string(name: string, s: string): AttributeProto {
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(s) };
}

function valueInfo(name: string, dims: Dimension[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } } };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** raw_data is little-endian; typed arrays use the host's order. */
function littleEndian(a: Float32Array | BigInt64Array): Uint8Array {
  if (!HOST_LITTLE_ENDIAN) throw new Error('exportOnnx needs a little-endian host');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}
