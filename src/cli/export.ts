// `resnet export`: a weights file → an ONNX model (eval mode, opset 13).

import { exportOnnx } from '../models/onnx-export.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { netFromWeights, readWeights } from '../models/weights.js';
import { IMAGENET_NORMALIZATION } from '../data/transforms.js';
import { NORMALIZATION_KEY, inputView } from '../eval/metadata.js';
import { type Command, UsageError, intFlag, parseFlags } from './command.js';
import { NET_FLAGS, NET_FLAGS_USAGE, netOptionsFromFlags } from './net-flags.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a network with its weights as an ONNX model (eval mode)',
  usage: `Usage: resnet export --weights W --onnx OUT.onnx [--net NET] [--batch N|dynamic] [--input-size H[xW]] [options]

  --weights W            .safetensors written by resnet-ts (net and options come from it), or .pth
  --net NET              the network, for weights without resnet-ts metadata
  --onnx OUT.onnx        where to write the model
  --batch N|dynamic      fixed batch size, or a symbolic 'batch' dimension (default dynamic)
  --input-size H[xW]     input height and width (default: the test view's crop recorded in the
                         weights, else 224 for ImageNet nets and 32 for CIFAR nets)

The graph (opset 13) is Conv (BN folded in), Relu, MaxPool, Add, Slice and Pad (option-A
shortcuts), GlobalAveragePool, Flatten and Gemm; input 'input' [batch, channels, H, W], output
'logits' [batch, classes]. Metadata records the network, its options, the normalization of the
inputs ('normalization', as in the weights) and the test view ('view': shorter side, center crop).

${NET_FLAGS_USAGE}`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...NET_FLAGS, net: { type: 'string' }, weights: { type: 'string' }, onnx: { type: 'string' },
      batch: { type: 'string' }, 'input-size': { type: 'string' },
    });
    if (!values.weights) throw new UsageError('export needs --weights');
    if (!values.onnx) throw new UsageError('export needs --onnx OUT.onnx');
    const batch = values.batch === undefined || values.batch === 'dynamic' ? 'dynamic' : intFlag(values.batch, '--batch', 1);

    const file = readWeights(values.weights);
    const net = netFromWeights(file, values.weights, values.net, netOptionsFromFlags(values)).eval();
    const { view, guessed } = inputView(file.metadata, net.spec.family, values.weights);
    const inputSize = parseInputSize(values['input-size'], view.crop);
    const normalization: Record<string, string> = guessed ? {} : { [NORMALIZATION_KEY]: file.metadata[NORMALIZATION_KEY] ?? JSON.stringify(IMAGENET_NORMALIZATION) };
    const bytes = exportOnnx(net, {
      batch, inputSize, metadata: { ...normalization, view: JSON.stringify({ resize: view.resize, crop: view.crop }) },
    });
    writeFileAtomic(values.onnx, bytes);
    console.error(`wrote ${net.name} (batch ${batch}, input ${inputSize.join('×')}) to ${values.onnx}: ${bytes.length} bytes`);
  },
};

/** 'H' or 'HxW' → [H, W]. */
function parseInputSize(text: string | undefined, fallback: number): [number, number] {
  if (text === undefined) return [fallback, fallback];
  const parts = text.split('x');
  if (parts.length > 2) throw new UsageError(`--input-size must be H or HxW, got '${text}'`);
  const h = intFlag(parts[0], '--input-size', 0);
  const w = intFlag(parts[1] ?? parts[0], '--input-size', 0);
  return [h, w];
}
