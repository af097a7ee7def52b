// ONNX export of a ResNet in evaluation mode (opset 13), runnable by onnxruntime and other runtimes.
//
// The graph is the network's eval forward written with standard operators:
//   conv → BN          Conv with BN folded in: W' = W·s, b' = β − μ·s, s = γ / √(σ² + ε)
//                      (or Conv then BatchNormalization with `foldBatchNorm: false`)
//   ReLU               Relu
//   stem max pool      MaxPool 3×3, stride 2, padding 1 (ImageNet nets)
//   shortcutA          option A: Slice with step = stride on H and W (every stride-th pixel, as the
//                      shortcutA op takes), then Pad with zeros after the identity channels
//                      on the channel axis
//   shortcut B/C       the projection: Conv 1×1 (stride s) with its BN folded
//   residual sum       Add, then Relu
//   head               GlobalAveragePool, Flatten, Gemm (fc, transB = 1)
// The graph follows the model's own description: its stages, each block's branch (Block.branch())
// and its shortcut's kind, as resnet.ts built them.
// The batch dimension is fixed or symbolic ('batch'); the spatial size is fixed by `inputSize`.

import {
  AttributeType, type AttributeProto, DataType, type Dimension, IR_VERSION, type NodeProto, type TensorProto,
  type ValueInfoProto, encodeModel,
} from '../io/onnx-proto.js';
import type { Block, ConvBn, ResNet } from './resnet.js';

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

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];

  constructor(private readonly model: ResNet, private readonly fold: boolean) {}

  /** The whole forward: stem, stages, head. Returns the output's name. */
  network(input: string): string {
    const m = this.model;
    let x = this.convBn({ convName: 'conv1', conv: m.conv1, bnName: 'bn1', bn: m.bn1 }, input);
    x = this.node('Relu', 'relu', [x]);
    if (m.spec.family === 'imagenet') {
      x = this.node('MaxPool', 'maxpool', [x], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])]);
    }
    m.stages.forEach((stage, i) => {
      stage.blocks.forEach((block, j) => {
        x = this.block(`layer${i + 1}.${j}`, block, x);
      });
    });
    x = this.node('GlobalAveragePool', 'avgpool', [x]);
    x = this.node('Flatten', 'flatten', [x], [int('axis', 1)]);
    const weight = this.tensor('fc.weight', [m.fc.outFeatures, m.fc.inFeatures], m.fc.weight.toArray());
    const bias = this.tensor('fc.bias', [m.fc.outFeatures], m.fc.bias.toArray());
    return this.node('Gemm', 'fc', [x, weight, bias], [int('transB', 1)], ONNX_OUTPUT);
  }

  /** A block: its branch (a ReLU after each conv–BN but the last), its shortcut, the sum and ReLU. */
  private block(prefix: string, block: Block, x: string): string {
    const branch = block.branch();
    let out = x;
    branch.forEach((pair, k) => {
      out = this.convBn(pair, out, prefix);
      if (k < branch.length - 1) out = this.node('Relu', `${prefix}.relu${k + 1}`, [out]);
    });
    const s = block.shortcut;
    if (s.kind === 'none') return this.node('Relu', `${prefix}.relu`, [out]);
    let shortcut = x;
    if (s.kind === 'projection') shortcut = this.convBn(s.projection!.convBn(), x, prefix);
    if (s.kind === 'shortcutA') shortcut = this.shortcutA(prefix, x, s.inC, s.outC, s.stride);
    const sum = this.node('Add', `${prefix}.add`, [out, shortcut]);
    return this.node('Relu', `${prefix}.relu`, [sum]);
  }

  /** Option A: x[:, :, ::stride, ::stride], then (outC − inC) zero channels after the identity ones. */
  private shortcutA(prefix: string, x: string, inC: number, outC: number, stride: number): string {
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

  /** Conv followed by its BN: folded into one Conv, or Conv + BatchNormalization. Names get `prefix.`. */
  private convBn(pair: ConvBn, x: string, prefix = ''): string {
    const { conv, bn } = pair;
    const convName = prefix ? `${prefix}.${pair.convName}` : pair.convName;
    const bnName = prefix ? `${prefix}.${pair.bnName}` : pair.bnName;
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
