// Conformance of the WebAssembly kernel set against the reference set: every contract method,
// random inputs, several shapes each (odd sizes that are not multiples of the GEMM tiles,
// stride 2, padding, dilation 2, 1×1, 7×7 stride 2 pad 3, the CIFAR shapes, batch 1).
// Forward results must agree within 1e-5 and gradients and reductions within 1e-4, measured as
// max |a − b| / max |ref|. Also the memory rules: stale step buffers throw, memory stays flat.
//
// The sets under test are one list (kernel-sets.ts); the reference is always refKernels.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Buffer, Conv2dShape, IndexBuffer, KernelSet, Pool2dShape, ShortcutAShape } from '../src/kernels/contract.js';
import { outSize } from '../src/kernels/contract.js';
import { refKernels } from '../src/kernels/ref/index.js';
import { KERNEL_SETS, kernelSet } from './kernel-sets.js';
import { networkConvShapes, relMaxError, seededArrays } from './helpers.js';

const FORWARD_TOL = 1e-5;
const GRAD_TOL = 1e-4;

// ---- inputs and comparison ----

const randomArray = seededArrays(1);
/** Inputs of the cases added later, drawn apart so that the other cases keep their inputs. */
const moreArrays = seededArrays(7);
/** Inputs of the conv-with-residual cases. */
const residualArrays = seededArrays(11);
/** Inputs of the network-shape convolutions (their own stream: the other cases keep theirs). */
const networkArrays = seededArrays(13);

/** A step index buffer of `ks` holding `values`. */
function indices(ks: KernelSet, values: Int32Array): IndexBuffer {
  const buf = ks.allocIndices(values.length, 'step');
  ks.writeIndices(buf, values);
  return buf;
}

/**
 * One kernel call checked on a set against the reference: `inputs` are written to fresh step
 * buffers of both sets (outputs too, so that accumulating kernels see the same start), `call`
 * runs the kernel, and every buffer named in `outputs` must agree within `tol`.
 */
function check(ks: KernelSet, inputs: Record<string, Float32Array>, outputs: string[], tol: number,
  call: (ks: KernelSet, b: Record<string, Buffer>) => void): void {
  const results: Record<string, Float32Array>[] = [];
  for (const set of [refKernels as KernelSet, ks]) {
    const bufs: Record<string, Buffer> = {};
    for (const [name, data] of Object.entries(inputs)) {
      bufs[name] = set.alloc(data.length, 'float32', 'step');
      set.write(bufs[name], data);
    }
    call(set, bufs);
    const out: Record<string, Float32Array> = {};
    for (const name of outputs) out[name] = Float32Array.from(set.read(bufs[name]!));
    results.push(out);
    set.endStep();
  }
  for (const name of outputs) {
    const err = relMaxError(results[1]![name]!, results[0]![name]!);
    assert.ok(err <= tol, `${name}: relative error ${err.toExponential(2)} > ${tol}`);
  }
}

// ---- shapes ----

type ConvCase = [n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number,
  stride: number | [number, number], pad: number | [number, number], dilation: number];

const CONV_CASES: ConvCase[] = [
  [2, 3, 9, 7, 5, 3, 3, 1, 1, 1], // odd everything
  [2, 4, 11, 10, 7, 3, 3, 2, 1, 1], // stride 2
  [1, 5, 12, 12, 6, 3, 3, 1, 2, 2], // dilation 2
  [2, 4, 13, 12, 3, 3, 3, 2, 2, 2], // dilation 2, stride 2
  [2, 3, 16, 16, 5, 3, 3, 1, 2, 2], // dilation 2, whole 8-pixel output rows (direct mode)
  [2, 8, 10, 10, 4, 3, 3, 1, 0, 1], // no padding, direct forward
  [1, 2, 6, 6, 3, 1, 1, 1, 1, 1], // 1×1 with padding, direct forward
  [2, 8, 8, 8, 13, 1, 1, 1, 0, 1], // 1×1 on 8-wide maps
  [2, 8, 9, 9, 13, 1, 1, 1, 0, 1], // 1×1
  [2, 8, 9, 9, 16, 1, 1, 2, 0, 1], // 1×1 stride 2 (projection shortcut)
  [1, 2, 5, 5, 3, 1, 1, 1, 1, 1], // padding larger than the kernel
  [2, 3, 10, 9, 4, 3, 1, [2, 1], [1, 0], 1], // kh ≠ kw, strides and paddings differ
  [1, 3, 32, 32, 8, 7, 7, 2, 3, 1], // ImageNet stem, 7×7 stride 2 pad 3
  [2, 3, 32, 32, 16, 3, 3, 1, 1, 1], // CIFAR first conv
  [4, 16, 32, 32, 16, 3, 3, 1, 1, 1], // CIFAR stage 1
  [4, 16, 32, 32, 32, 3, 3, 2, 1, 1], // CIFAR stage 2, first conv
  [4, 32, 16, 16, 32, 3, 3, 1, 1, 1], // CIFAR stage 2
  [4, 32, 16, 16, 64, 3, 3, 2, 1, 1], // CIFAR stage 3, first conv
  [4, 64, 8, 8, 64, 3, 3, 1, 1, 1], // CIFAR stage 3
  [1, 64, 7, 7, 70, 3, 3, 1, 1, 1], // batch 1, 7×7 maps (output rows not multiples of 8)
  [5, 8, 8, 8, 12, 3, 3, 1, 1, 1], // backward weight takes 4 images at a time: 4 + 1
  [1, 80, 6, 5, 20, 3, 3, 1, 1, 1], // K = 720: several k-blocks
  [3, 40, 6, 6, 9, 3, 3, 2, 1, 1], // stride 2 with K = 360: several k-blocks in col2im
  [2, 8, 18, 18, 12, 1, 1, 2, 0, 1], // 1×1 stride 2 without padding, rows longer than the taps need (x subsampled into the phase image)
  [1, 4, 20, 20, 5, 3, 3, 2, 0, 1], // 3×3 stride 2 without padding, output rows of 9
  [2, 6, 16, 32, 96, 3, 3, 2, 1, 1], // input gradient by phases: 16-wide phases (direct), 96 channels a tap, up to 4 taps a phase
  [2, 3, 14, 13, 4, 5, 5, 3, 2, 1], // 5×5 stride 3: nine phases of 2 or 1 taps a dimension, odd widths
  [1, 3, 9, 10, 4, 3, 3, 2, 2, 1], // padding as large as the stride
  [2, 3, 9, 9, 5, 2, 2, 3, 0, 1], // kernel smaller than the stride: phases no tap reaches
  [2, 8, 16, 16, 12, 1, 1, 2, 0, 1], // 1×1 stride 2 without padding, 8-wide output rows: direct mode on the phase image
  [1, 3, 22, 22, 4, 3, 3, 3, 1, 1], // stride 3, 8-wide output rows: direct mode on nine phase planes
  [1, 3, 15, 15, 4, 3, 3, 2, 2, 2], // dilation 2 with stride 2, 8-wide output rows: phase planes no tap reads
  [1, 4, 8, 8, 330, 3, 3, 2, 1, 1], // input gradient by phases with more than 320 output channels (two channel blocks a tap)
];

function convShape(c: ConvCase): Conv2dShape {
  const [n, cIn, h, w, cOut, kh, kw, stride, pad, dil] = c;
  const [strideH, strideW] = typeof stride === 'number' ? [stride, stride] : stride;
  const [padH, padW] = typeof pad === 'number' ? [pad, pad] : pad;
  return {
    n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilationH: dil, dilationW: dil,
    hOut: outSize(h, kh, strideH, padH, dil), wOut: outSize(w, kw, strideW, padW, dil),
  };
}

function describeConv(s: Conv2dShape): string {
  return `n${s.n} ${s.cIn}→${s.cOut} ${s.h}×${s.w} k${s.kh}×${s.kw} s${s.strideH},${s.strideW} p${s.padH},${s.padW} d${s.dilationH}`;
}

/**
 * [channels, side] of every map a batch norm normalizes in the paper's networks: CIFAR (16, 32, 64
 * channels), the ImageNet stem and basic stages, the bottleneck stages (with the 3×3 conv striding,
 * torchvision's layout, or the first 1×1, the paper's).
 */
const PAPER_MAPS: [c: number, side: number][] = [
  [16, 32], [32, 16], [64, 8],
  [64, 112], [64, 56], [128, 28], [256, 14], [512, 7],
  [256, 56], [128, 56], [512, 28], [256, 28], [1024, 14], [512, 14], [2048, 7],
];

const MATMUL_CASES: [m: number, n: number, k: number][] = [[1, 1, 1], [7, 9, 5], [6, 8, 4], [33, 17, 65], [64, 100, 321], [130, 257, 100], [300, 200, 500]];
/** Fewer rows than a panel (the classifier at batch 1), drawn from their own stream. */
const FEW_ROW_MATMULS: [m: number, n: number, k: number][] = [[1, 1000, 2048], [3, 37, 301], [2, 6, 3]];
const LENGTHS = [1, 7, 16, 1000, 100_003];

/** y[at] of conv(x, w) + bias for shape `s`, summed in float64 from the definition. */
function convAt(s: Conv2dShape, x: Float32Array, w: Float32Array, bias: Float32Array, at: number): number {
  const ox = at % s.wOut, oy = Math.floor(at / s.wOut) % s.hOut;
  const co = Math.floor(at / (s.wOut * s.hOut)) % s.cOut, image = Math.floor(at / (s.wOut * s.hOut * s.cOut));
  let sum = bias[co]!;
  for (let ci = 0; ci < s.cIn; ci++) {
    for (let ky = 0; ky < s.kh; ky++) {
      const iy = oy * s.strideH - s.padH + ky * s.dilationH;
      if (iy < 0 || iy >= s.h) continue;
      for (let kx = 0; kx < s.kw; kx++) {
        const ix = ox * s.strideW - s.padW + kx * s.dilationW;
        if (ix < 0 || ix >= s.w) continue;
        sum += x[((image * s.cIn + ci) * s.h + iy) * s.w + ix]! * w[((co * s.cIn + ci) * s.kh + ky) * s.kw + kx]!;
      }
    }
  }
  return sum;
}

/** dx[at] of the convolution `s` for output gradient dy and weights w, summed in float64 from the definition. */
function convInputGradAt(s: Conv2dShape, dy: Float32Array, w: Float32Array, at: number): number {
  const ix = at % s.w, iy = Math.floor(at / s.w) % s.h;
  const ci = Math.floor(at / (s.w * s.h)) % s.cIn, image = Math.floor(at / (s.w * s.h * s.cIn));
  let sum = 0;
  for (let co = 0; co < s.cOut; co++) {
    for (let ky = 0; ky < s.kh; ky++) {
      const ty = iy + s.padH - ky * s.dilationH, oy = ty / s.strideH;
      if (ty < 0 || ty % s.strideH !== 0 || oy >= s.hOut) continue;
      for (let kx = 0; kx < s.kw; kx++) {
        const tx = ix + s.padW - kx * s.dilationW, ox = tx / s.strideW;
        if (tx < 0 || tx % s.strideW !== 0 || ox >= s.wOut) continue;
        sum += dy[((image * s.cOut + co) * s.hOut + oy) * s.wOut + ox]! * w[((co * s.cIn + ci) * s.kh + ky) * s.kw + kx]!;
      }
    }
  }
  return sum;
}

const NETWORK_CONVS = networkConvShapes();

// ---- the suite ----

for (const { label } of KERNEL_SETS) {
  const ks = await kernelSet(label);

  describe(`kernel conformance: ${label} (${ks.variant}, ${ks.threads} thread(s)) vs ref`, () => {
    it('element-wise kernels', () => {
      for (const n of LENGTHS) {
        const a = randomArray(n), b = randomArray(n), y = randomArray(n);
        const yRelu = a.map((v) => Math.max(v, 0));
        check(ks, { y }, ['y'], FORWARD_TOL, (k, t) => k.fill({ y: t.y!, value: 0.375 }));
        check(ks, { a, y }, ['y'], FORWARD_TOL, (k, t) => k.copy({ x: t.a!, y: t.y! }));
        check(ks, { a, b, y }, ['y'], FORWARD_TOL, (k, t) => k.add({ a: t.a!, b: t.b!, y: t.y! }));
        check(ks, { a, y }, ['y'], FORWARD_TOL, (k, t) => k.axpy({ x: t.a!, y: t.y!, alpha: -0.3 }));
        check(ks, { a, y }, ['y'], FORWARD_TOL, (k, t) => k.scale({ x: t.a!, y: t.y!, alpha: 1.7 }));
        check(ks, { a, b, y }, ['y'], FORWARD_TOL, (k, t) => k.mul({ a: t.a!, b: t.b!, y: t.y! }));
        check(ks, { a, y }, ['y'], FORWARD_TOL, (k, t) => k.relu({ x: t.a!, y: t.y! }));
        check(ks, { a: yRelu, b, y }, ['y'], GRAD_TOL, (k, t) => k.reluBackward({ y: t.a!, dy: t.b!, dx: t.y! }));
        check(ks, { a: randomArray(n, 0, 1), out: new Float32Array(1) }, ['out'], GRAD_TOL, (k, t) => k.sum({ x: t.a!, out: t.out! }));
        check(ks, { a, b }, ['a'], FORWARD_TOL, (k, t) => k.add({ a: t.a!, b: t.b!, y: t.a! })); // in place
      }
    });

    it('matmul, every transpose and beta, odd sizes', () => {
      for (const [m, n, kk, random] of [...MATMUL_CASES.map((c) => [...c, randomArray] as const), ...FEW_ROW_MATMULS.map((c) => [...c, networkArrays] as const)]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const beta of [0, 1] as const) {
              check(ks, { a: random(m * kk), b: random(kk * n), c: random(m * n) }, ['c'], FORWARD_TOL,
                (k, t) => k.matmul({ a: t.a!, b: t.b!, c: t.c!, m, n, k: kk, transA, transB, beta }));
            }
          }
        }
      }
    });

    it('addBiasRows and sumRows', () => {
      for (const [rows, cols] of [[1, 1], [5, 3], [128, 10], [300, 257]] as const) {
        check(ks, { y: randomArray(rows * cols), bias: randomArray(cols) }, ['y'], FORWARD_TOL,
          (k, t) => k.addBiasRows({ y: t.y!, bias: t.bias!, rows, cols }));
        check(ks, { dy: randomArray(rows * cols), db: randomArray(cols) }, ['db'], GRAD_TOL,
          (k, t) => k.sumRows({ dy: t.dy!, db: t.db!, rows, cols }));
      }
    });

    for (const c of CONV_CASES) {
      const s = convShape(c);
      it(`conv2d forward and backward, ${describeConv(s)}`, () => {
        const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * s.kh * s.kw, yLen = s.n * s.cOut * s.hOut * s.wOut;
        const x = randomArray(xLen), weight = randomArray(wLen), dy = randomArray(yLen);
        check(ks, { x, weight, y: randomArray(yLen) }, ['y'], FORWARD_TOL,
          (k, t) => k.conv2d({ ...s, x: t.x!, weight: t.weight!, y: t.y! }));
        check(ks, { dy, weight, dx: randomArray(xLen) }, ['dx'], GRAD_TOL,
          (k, t) => k.conv2dBackwardInput({ ...s, dy: t.dy!, weight: t.weight!, dx: t.dx! }));
        check(ks, { dy, x, dw: randomArray(wLen) }, ['dw'], GRAD_TOL,
          (k, t) => k.conv2dBackwardWeight({ ...s, dy: t.dy!, x: t.x!, dw: t.dw! }));
      });
    }

    it('conv2d with its epilogue: bias per output channel, ReLU, both', () => {
      // then packed B with partial row panels (13 channels), partial strips (7×7 maps), several k-blocks
      for (const [c, random] of [
        [CONV_CASES[0]!, randomArray], [CONV_CASES[1]!, randomArray], [CONV_CASES[7]!, randomArray], [CONV_CASES[15]!, randomArray],
        [CONV_CASES[8]!, moreArrays], [CONV_CASES[19]!, moreArrays], [CONV_CASES[21]!, moreArrays],
      ] as const) {
        const s = convShape(c);
        const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * s.kh * s.kw, yLen = s.n * s.cOut * s.hOut * s.wOut;
        const x = random(xLen), weight = random(wLen), bias = random(s.cOut);
        for (const [withBias, relu] of [[true, false], [false, true], [true, true]] as const) {
          check(ks, { x, weight, bias, y: random(yLen) }, ['y'], FORWARD_TOL,
            (k, t) => k.conv2d({ ...s, x: t.x!, weight: t.weight!, y: t.y!, bias: withBias ? t.bias! : undefined, relu }));
        }
      }
    });

    it('conv2d with a residual (+ bias, + ReLU) on every conv path', () => {
      // [case, algorithms]: the direct micro-kernel (whole 8-pixel rows, 3×3 and 1×1, partial row
      // panels), B packed for 1×1 and strided convs (partial strips, 3- and 1-column ones), the stem, several k-blocks,
      // Winograd F(2×2) and F(4×4) with whole and partial tiles, and a conv with no taps
      const cases: [ConvCase, ('auto' | 'direct' | 'winograd2' | 'winograd4')[]][] = [
        [[2, 16, 16, 16, 16, 3, 3, 1, 1, 1], ['direct', 'winograd2', 'winograd4']],
        [[2, 8, 8, 8, 13, 1, 1, 1, 0, 1], ['auto']],
        [[2, 8, 9, 9, 13, 1, 1, 1, 0, 1], ['auto']],
        [[2, 11, 5, 7, 13, 1, 1, 1, 0, 1], ['auto']], // 35 pixels: a last strip of 3 columns (tile4x4), odd K
        [[1, 11, 9, 9, 6, 1, 1, 1, 0, 1], ['auto']], // 81 pixels: a last strip of 1 column (tile4x1), K = 11
        // batch 1 on 2 threads: 1×1 with x packed once for the threads (14×14; 7×7 with two k-blocks)
        [[1, 64, 14, 14, 96, 1, 1, 1, 0, 1], ['auto']],
        [[1, 400, 7, 7, 52, 1, 1, 1, 0, 1], ['auto']],
        [[1, 256, 14, 14, 50, 1, 1, 1, 0, 1], ['auto']], // x packed once, 50 channels: a partial row panel
        [[1, 400, 6, 6, 12, 1, 1, 1, 0, 1], ['auto']], // 36 pixels: a last strip of 4 (tile4x4) adding to an earlier k-block
        [[2, 8, 9, 9, 16, 1, 1, 2, 0, 1], ['auto']],
        [[2, 16, 16, 16, 32, 3, 3, 2, 1, 1], ['auto']],
        [[1, 64, 14, 14, 32, 3, 3, 2, 1, 1], ['auto']],
        [[1, 3, 32, 32, 8, 7, 7, 2, 3, 1], ['auto']],
        [[1, 80, 6, 5, 20, 3, 3, 1, 1, 1], ['direct', 'winograd2', 'winograd4']],
        [[2, 6, 9, 10, 5, 3, 3, 1, 1, 1], ['direct', 'winograd2', 'winograd4']],
        // 'direct' at batch 1 on 2 threads: the transposed small-map path, 70 channels (partial strips)
        [[1, 64, 7, 7, 70, 3, 3, 1, 1, 1], ['direct', 'winograd2', 'winograd4']],
        [[2, 0, 4, 4, 3, 1, 1, 1, 0, 1], ['auto']],
      ];
      for (const [c, algorithms] of cases) {
        const s = convShape(c);
        const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * s.kh * s.kw, yLen = s.n * s.cOut * s.hOut * s.wOut;
        const x = residualArrays(xLen), weight = residualArrays(wLen), bias = residualArrays(s.cOut), residual = residualArrays(yLen);
        for (const algorithm of algorithms) {
          ks.convAlgorithm = algorithm;
          try {
            const tol = algorithm === 'winograd4' ? 5e-5 : FORWARD_TOL; // F(4×4)'s rounding (see winograd.test.ts)
            for (const [withBias, relu] of [[false, false], [true, false], [false, true], [true, true]] as const) {
              check(ks, { x, weight, bias, residual, y: residualArrays(yLen) }, ['y'], tol,
                (k, t) => k.conv2d({ ...s, x: t.x!, weight: t.weight!, y: t.y!, bias: withBias ? t.bias! : undefined, residual: t.residual!, relu }));
            }
          } finally {
            ks.convAlgorithm = 'auto';
          }
        }
      }
    });

    it(`conv2d forward by the direct path on every convolution of the paper's networks, batch 1${ks.threads > 1 ? ' and 16' : ''} with bias and residual (sampled outputs)`, () => {
      // Every output pixel block, row panel and thread split of the direct path at the networks'
      // real sizes, with bias and residual: the stride-1 3×3 convolutions too (forced to the direct path). The full
      // reference would take minutes at batch 16: 400 outputs of each, and the last, are summed
      // in float64 from the definition.
      ks.convAlgorithm = 'direct';
      try {
        assert.ok(NETWORK_CONVS.some((s) => s.cIn === 2048 && s.cOut === 512 && s.h === 7), 'the networks give ResNet-50\'s 2048→512 on 7×7');
        for (const n of ks.threads > 1 ? [1, 16] : [1]) {
          for (const shape of NETWORK_CONVS) {
            const s = { ...shape, n };
            const xLen = n * s.cIn * s.h * s.w, yLen = n * s.cOut * s.hOut * s.wOut;
            const x = networkArrays(xLen), w = networkArrays(s.cOut * s.cIn * s.kh * s.kw), bias = networkArrays(s.cOut);
            const residual = networkArrays(yLen);
            const bx = ks.alloc(xLen, 'float32', 'step'), bw = ks.alloc(w.length, 'float32', 'step');
            const bb = ks.alloc(s.cOut, 'float32', 'step'), br = ks.alloc(yLen, 'float32', 'step'), by = ks.alloc(yLen, 'float32', 'step');
            ks.write(bx, x); ks.write(bw, w); ks.write(bb, bias); ks.write(br, residual);
            ks.conv2d({ ...s, x: bx, weight: bw, bias: bb, residual: br, y: by });
            const y = ks.read(by);
            const picks = networkArrays(400, 0, yLen).map(Math.floor);
            const got: number[] = [], want: number[] = [];
            for (const at of [...picks, yLen - 1]) { got.push(y[at]!); want.push(convAt(s, x, w, bias, at) + residual[at]!); }
            const err = relMaxError(got, want);
            assert.ok(err <= FORWARD_TOL, `${describeConv(s)}: relative error ${err.toExponential(2)} > ${FORWARD_TOL}`);
            ks.endStep();
          }
        }
      } finally {
        ks.convAlgorithm = 'auto';
      }
    });

    it(`conv2d input gradient of every strided convolution of the paper's networks, batch 1${ks.threads > 1 ? ' and 3' : ''} (sampled)`, () => {
      // The phases of dx at the networks' real sizes (400 elements of dx, and the last, summed in
      // float64 from the definition), with the channels split between threads at batch 1.
      const strided = NETWORK_CONVS.filter((s) => s.strideH > 1);
      for (const want of ['3→64 k7', '16→32 k3', '256→512 k1', '1024→2048 k1', '256→512 k3']) {
        assert.ok(strided.some((s) => `${s.cIn}→${s.cOut} k${s.kh}` === want), want);
      }
      // the bottlenecks' 3×3 stride-2 layers in torchvision's layout (the networks above stride the first 1×1)
      for (const [c, size] of [[128, 56], [256, 28], [512, 14]] as const) strided.push(convShape([1, c, size, size, c, 3, 3, 2, 1, 1]));
      for (const n of ks.threads > 1 ? [1, 3] : [1]) {
        for (const shape of strided) {
          const s = { ...shape, n };
          const xLen = n * s.cIn * s.h * s.w, yLen = n * s.cOut * s.hOut * s.wOut;
          const dy = networkArrays(yLen), w = networkArrays(s.cOut * s.cIn * s.kh * s.kw);
          const bdy = ks.alloc(yLen, 'float32', 'step'), bw = ks.alloc(w.length, 'float32', 'step'), bdx = ks.alloc(xLen, 'float32', 'step');
          ks.write(bdy, dy); ks.write(bw, w);
          ks.conv2dBackwardInput({ ...s, dy: bdy, weight: bw, dx: bdx });
          const dx = ks.read(bdx);
          const picks = networkArrays(400, 0, xLen).map(Math.floor);
          const got: number[] = [], want: number[] = [];
          for (const at of [...picks, xLen - 1]) { got.push(dx[at]!); want.push(convInputGradAt(s, dy, w, at)); }
          const err = relMaxError(got, want);
          assert.ok(err <= GRAD_TOL, `${describeConv(s)}: relative error ${err.toExponential(2)} > ${GRAD_TOL}`);
          ks.endStep();
        }
      }
    });

    it('Winograd groups of four whole tiles off one tile row: every pass', () => {
      // 8×8 by F(4×4) (2×2 tiles), 4×6 by F(2×2) (3 tiles a row): the gathers and stores by each tile's address
      const cases: [ConvCase, 'winograd2' | 'winograd4'][] = [[[2, 16, 8, 8, 12, 3, 3, 1, 1, 1], 'winograd4'], [[3, 8, 4, 6, 9, 3, 3, 1, 1, 1], 'winograd2']];
      for (const [c, algorithm] of cases) {
        const s = convShape(c);
        const xLen = s.n * s.cIn * s.h * s.w, wLen = s.cOut * s.cIn * 9, yLen = s.n * s.cOut * s.hOut * s.wOut;
        const x = randomArray(xLen), weight = randomArray(wLen), dy = randomArray(yLen), bias = randomArray(s.cOut), residual = randomArray(yLen);
        const tol = algorithm === 'winograd4' ? 5e-5 : FORWARD_TOL; // F(4×4)'s rounding (see winograd.test.ts)
        ks.convAlgorithm = algorithm;
        try {
          check(ks, { x, weight, y: randomArray(yLen) }, ['y'], tol, (k, t) => k.conv2d({ ...s, x: t.x!, weight: t.weight!, y: t.y! }));
          check(ks, { x, weight, bias, residual, y: randomArray(yLen) }, ['y'], tol,
            (k, t) => k.conv2d({ ...s, x: t.x!, weight: t.weight!, y: t.y!, bias: t.bias!, residual: t.residual!, relu: true }));
          check(ks, { dy, weight, dx: randomArray(xLen) }, ['dx'], tol,
            (k, t) => k.conv2dBackwardInput({ ...s, dy: t.dy!, weight: t.weight!, dx: t.dx! }));
          check(ks, { dy, x, dw: randomArray(wLen) }, ['dw'], tol,
            (k, t) => k.conv2dBackwardWeight({ ...s, dy: t.dy!, x: t.x!, dw: t.dw! }));
        } finally {
          ks.convAlgorithm = 'auto';
        }
      }
    });

    it('batch norm: train, eval, backward, each plain and fused with a residual and a ReLU', () => {
      // The last two are large enough for the thread pool to split them.
      for (const [n, c, hw] of [[4, 16, 64], [3, 5, 7], [1, 3, 1], [2, 64, 64], [9, 16, 1024], [5, 7, 2000]] as const) {
        const len = n * c * hw;
        const x = randomArray(len, -2, 3), dy = randomArray(len);
        const gamma = randomArray(c, 0.5, 1.5), beta = randomArray(c);
        const rm = randomArray(c), rv = randomArray(c, 0.5, 2);
        const shape = { n, c, hw, eps: 1e-5 };
        // With one value per channel (n·hw = 1, which ops.batchNorm refuses in training) y is beta plus
        // x·γ/√eps - mean·γ/√eps: float32 rounding of terms ~300 times y's size, so y is not compared there.
        check(ks, { x, gamma, beta, y: randomArray(len), mean: randomArray(c), invStd: randomArray(c), rm, rv },
          n * hw < 2 ? ['mean', 'invStd', 'rm', 'rv'] : ['y', 'mean', 'invStd', 'rm', 'rv'], GRAD_TOL,
          (k, t) => k.batchNormTrain({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, mean: t.mean!, invStd: t.invStd!, runningMean: t.rm!, runningVar: t.rv!, momentum: 0.1 }));
        for (const relu of [false, true]) {
          check(ks, { x, gamma, beta, y: randomArray(len), rm, rv }, ['y'], FORWARD_TOL,
            (k, t) => k.batchNormEval({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, runningMean: t.rm!, runningVar: t.rv!, relu }));
        }
        check(ks, { x, dy, gamma, mean: randomArray(c, 0, 1), invStd: randomArray(c, 0.5, 2), dx: randomArray(len), dgamma: randomArray(c), dbeta: randomArray(c) },
          ['dx', 'dgamma', 'dbeta'], GRAD_TOL,
          (k, t) => k.batchNormBackward({ ...shape, x: t.x!, dy: t.dy!, gamma: t.gamma!, mean: t.mean!, invStd: t.invStd!, dx: t.dx!, dgamma: t.dgamma!, dbeta: t.dbeta! }));
        // The fused forms: + residual and/or ReLU forward (train, eval), through the ReLU and to the residual backward
        // (not with one value per channel, which ops.batchNorm refuses in training: x - mean cancels to rounding noise).
        if (n * hw < 2) continue;
        const residual = randomArray(len);
        for (const [withResidual, relu] of [[false, true], [true, false], [true, true]] as const) {
          check(ks, { x, gamma, beta, residual, y: randomArray(len), mean: randomArray(c), invStd: randomArray(c), rm, rv },
            ['y', 'mean', 'invStd', 'rm', 'rv'], GRAD_TOL,
            (k, t) => k.batchNormTrain({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, mean: t.mean!, invStd: t.invStd!,
              runningMean: t.rm!, runningVar: t.rv!, momentum: 0.1, residual: withResidual ? t.residual! : undefined, relu }));
          if (withResidual) {
            check(ks, { x, gamma, beta, residual, y: randomArray(len), rm, rv }, ['y'], FORWARD_TOL,
              (k, t) => k.batchNormEval({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, runningMean: t.rm!, runningVar: t.rv!, relu, residual: t.residual! }));
          }
          const yRelu = randomArray(len).map((v) => (v > 0 ? v : 0)); // a ReLU's output: zero in about half the places
          check(ks, { x, dy, gamma, y: yRelu, mean: randomArray(c, 0, 1), invStd: randomArray(c, 0.5, 2), dx: randomArray(len), dgamma: randomArray(c), dbeta: randomArray(c), dres: randomArray(len) },
            withResidual ? ['dx', 'dgamma', 'dbeta', 'dres'] : ['dx', 'dgamma', 'dbeta'], GRAD_TOL,
            (k, t) => k.batchNormBackward({ ...shape, x: t.x!, dy: t.dy!, gamma: t.gamma!, mean: t.mean!, invStd: t.invStd!, dx: t.dx!,
              dgamma: t.dgamma!, dbeta: t.dbeta!, y: relu ? t.y! : undefined, dresidual: withResidual ? t.dres! : undefined }));
        }
      }
    });

    it('batch norm backward with its gradient in two terms (dy + dy2), through a ReLU or not, to a residual or not', () => {
      for (const [n, c, hw] of [[4, 16, 64], [3, 5, 7], [2, 64, 64], [8, 64, 130]] as const) {
        const len = n * c * hw, shape = { n, c, hw, eps: 1e-5 };
        const x = randomArray(len, -2, 3), dy = randomArray(len), dy2 = randomArray(len), gamma = randomArray(c, 0.5, 1.5);
        const yRelu = randomArray(len).map((v) => (v > 0 ? v : 0));
        for (const [withResidual, relu] of [[false, false], [false, true], [true, false], [true, true]] as const) {
          check(ks, { x, dy, dy2, gamma, y: yRelu, mean: randomArray(c, 0, 1), invStd: randomArray(c, 0.5, 2), dx: randomArray(len), dgamma: randomArray(c), dbeta: randomArray(c), dres: randomArray(len) },
            withResidual ? ['dx', 'dgamma', 'dbeta', 'dres'] : ['dx', 'dgamma', 'dbeta'], GRAD_TOL,
            (k, t) => k.batchNormBackward({ ...shape, x: t.x!, dy: t.dy!, dy2: t.dy2!, gamma: t.gamma!, mean: t.mean!, invStd: t.invStd!, dx: t.dx!,
              dgamma: t.dgamma!, dbeta: t.dbeta!, y: relu ? t.y! : undefined, dresidual: withResidual ? t.dres! : undefined }));
        }
      }
    });

    it('fused batch norm and the conv epilogue on every activation shape of the paper\'s networks (batch 2)', () => {
      for (const [c, side] of PAPER_MAPS) {
        const hw = side * side, len = 2 * c * hw, shape = { n: 2, c, hw, eps: 1e-5 };
        const x = randomArray(len, -2, 3), dy = randomArray(len), residual = randomArray(len);
        const gamma = randomArray(c, 0.5, 1.5), beta = randomArray(c), rm = randomArray(c), rv = randomArray(c, 0.5, 2);
        const yRelu = randomArray(len).map((v) => (v > 0 ? v : 0));
        check(ks, { x, gamma, beta, residual, y: randomArray(len), mean: randomArray(c), invStd: randomArray(c), rm, rv },
          ['y', 'mean', 'invStd', 'rm', 'rv'], GRAD_TOL,
          (k, t) => k.batchNormTrain({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, mean: t.mean!, invStd: t.invStd!,
            runningMean: t.rm!, runningVar: t.rv!, momentum: 0.1, residual: t.residual!, relu: true }));
        check(ks, { x, gamma, beta, residual, y: randomArray(len), rm, rv }, ['y'], FORWARD_TOL,
          (k, t) => k.batchNormEval({ ...shape, x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, runningMean: t.rm!, runningVar: t.rv!, relu: true, residual: t.residual! }));
        check(ks, { x, dy, gamma, y: yRelu, mean: randomArray(c, 0, 1), invStd: randomArray(c, 0.5, 2), dx: randomArray(len), dgamma: randomArray(c), dbeta: randomArray(c), dres: randomArray(len) },
          ['dx', 'dgamma', 'dbeta', 'dres'], GRAD_TOL,
          (k, t) => k.batchNormBackward({ ...shape, x: t.x!, dy: t.dy!, gamma: t.gamma!, mean: t.mean!, invStd: t.invStd!, dx: t.dx!,
            dgamma: t.dgamma!, dbeta: t.dbeta!, y: t.y!, dresidual: t.dres! }));
        // The epilogue (bias, ReLU; and + residual) of a conv with this output: a 1×1 conv from one channel keeps it cheap.
        const conv = convShape([2, 1, side, side, c, 1, 1, 1, 0, 1]);
        check(ks, { x: randomArray(2 * hw), weight: randomArray(c), bias: randomArray(c), y: randomArray(len) }, ['y'], FORWARD_TOL,
          (k, t) => k.conv2d({ ...conv, x: t.x!, weight: t.weight!, y: t.y!, bias: t.bias!, relu: true }));
        check(ks, { x: residualArrays(2 * hw), weight: residualArrays(c), bias: residualArrays(c), residual, y: residualArrays(len) }, ['y'], FORWARD_TOL,
          (k, t) => k.conv2d({ ...conv, x: t.x!, weight: t.weight!, y: t.y!, bias: t.bias!, residual: t.residual!, relu: true }));
      }
    });

    it('max pooling forward (values and argmax) and backward', () => {
      // 3×3 stride 2 (four outputs at a time inside the rows): odd sizes, no padding, and values
      // rounded to -1, 0, 1 so that ties must keep the first in row-major order
      for (const [n, c, h, w, kSize, stride, pad, ties, random] of [
        [2, 3, 9, 9, 3, 2, 1, false, randomArray], [1, 2, 8, 8, 2, 2, 0, false, randomArray], [2, 4, 7, 10, 3, 1, 1, false, randomArray],
        [1, 64, 112, 112, 3, 2, 1, false, randomArray],
        [2, 3, 21, 23, 3, 2, 1, true, moreArrays], [1, 2, 20, 19, 3, 2, 0, true, moreArrays], [1, 2, 17, 30, 3, 2, 1, false, moreArrays],
      ] as const) {
        const s: Pool2dShape = { n, c, h, w, k: kSize, stride, pad, hOut: outSize(h, kSize, stride, pad), wOut: outSize(w, kSize, stride, pad) };
        const outLen = n * c * s.hOut * s.wOut;
        const x = random(n * c * h * w).map((v) => (ties ? Math.round(v) : v));
        const argmaxes: Int32Array[] = []; // the reference's, then the set's
        check(ks, { x, y: random(outLen) }, ['y'], FORWARD_TOL, (k, t) => {
          const argmax = k.allocIndices(outLen, 'step');
          k.maxPool2d({ ...s, x: t.x!, y: t.y!, argmax });
          argmaxes.push(k.readIndices(argmax));
        });
        assert.deepEqual(argmaxes[1], argmaxes[0], 'argmax differs');
        check(ks, { dy: random(outLen), dx: random(n * c * h * w) }, ['dx'], GRAD_TOL, (k, t) => {
          k.maxPool2dBackward({ ...s, dy: t.dy!, argmax: indices(k, argmaxes[0]!), dx: t.dx! });
        });
      }
    });

    it('global average pooling forward and backward', () => {
      for (const [n, c, hw] of [[2, 3, 1], [4, 64, 64], [1, 5, 49]] as const) {
        check(ks, { x: randomArray(n * c * hw), y: randomArray(n * c) }, ['y'], GRAD_TOL,
          (k, t) => k.globalAvgPool({ x: t.x!, y: t.y!, n, c, hw }));
        check(ks, { dy: randomArray(n * c), dx: randomArray(n * c * hw) }, ['dx'], FORWARD_TOL,
          (k, t) => k.globalAvgPoolBackward({ dy: t.dy!, dx: t.dx!, n, c, hw }));
      }
    });

    it('option-A shortcut forward and backward', () => {
      // ResNet-20's two (the first at a size the thread pool splits), odd sizes (a SIMD part and a scalar tail: 13).
      for (const [n, cIn, h, w, cOut, stride] of [[2, 4, 8, 8, 8, 2], [1, 3, 7, 7, 6, 2], [3, 16, 32, 32, 32, 2], [5, 16, 32, 32, 32, 2],
        [3, 32, 16, 16, 64, 2], [2, 3, 13, 13, 6, 2], [2, 3, 13, 11, 6, 3], [2, 5, 6, 6, 5, 1]] as const) {
        const s: ShortcutAShape = { n, cIn, h, w, cOut, stride, hOut: Math.ceil(h / stride), wOut: Math.ceil(w / stride) };
        const outLen = n * cOut * s.hOut * s.wOut, inLen = n * cIn * h * w;
        check(ks, { x: randomArray(inLen), y: randomArray(outLen) }, ['y'], FORWARD_TOL, (k, t) => k.shortcutA({ ...s, x: t.x!, y: t.y! }));
        check(ks, { dy: randomArray(outLen), dx: randomArray(inLen) }, ['dx'], GRAD_TOL, (k, t) => k.shortcutABackward({ ...s, dy: t.dy!, dx: t.dx! }));
      }
      // rows of four-output vectors then single outputs (odd widths, widths not multiples of 8)
      for (const [n, cIn, h, w, cOut] of [[2, 3, 13, 13, 6], [1, 2, 16, 12, 4], [2, 4, 9, 18, 8]] as const) {
        const s: ShortcutAShape = { n, cIn, h, w, cOut, stride: 2, hOut: Math.ceil(h / 2), wOut: Math.ceil(w / 2) };
        const outLen = n * cOut * s.hOut * s.wOut, inLen = n * cIn * h * w;
        check(ks, { x: residualArrays(inLen), y: residualArrays(outLen) }, ['y'], FORWARD_TOL, (k, t) => k.shortcutA({ ...s, x: t.x!, y: t.y! }));
      }
      // an output smaller than ceil(size / stride): the inputs past it get no gradient
      for (const [h, w, hOut, wOut] of [[13, 18, 5, 6], [16, 20, 7, 9]] as const) {
        const s: ShortcutAShape = { n: 2, cIn: 3, h, w, cOut: 6, stride: 2, hOut, wOut };
        const outLen = 2 * 6 * hOut * wOut, inLen = 2 * 3 * h * w;
        check(ks, { x: randomArray(inLen), y: randomArray(outLen) }, ['y'], FORWARD_TOL, (k, t) => k.shortcutA({ ...s, x: t.x!, y: t.y! }));
        check(ks, { dy: randomArray(outLen), dx: randomArray(inLen) }, ['dx'], GRAD_TOL, (k, t) => k.shortcutABackward({ ...s, dy: t.dy!, dx: t.dx! }));
      }
    });

    it('softmax cross-entropy forward and backward', () => {
      for (const [n, classes] of [[1, 10], [128, 10], [3, 1000]] as const) {
        const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
        check(ks, { logits: randomArray(n * classes, -5, 5), probs: randomArray(n * classes), loss: new Float32Array(1) }, ['probs', 'loss'], FORWARD_TOL,
          (k, t) => k.softmaxCrossEntropy({ logits: t.logits!, labels: indices(k, labels), probs: t.probs!, loss: t.loss!, n, classes }));
        check(ks, { probs: randomArray(n * classes, 0, 1), dlogits: randomArray(n * classes) }, ['dlogits'], GRAD_TOL,
          (k, t) => k.softmaxCrossEntropyBackward({ probs: t.probs!, labels: indices(k, labels), dloss: 1.5, dlogits: t.dlogits!, n, classes }));
      }
    });

    it('SGD step, every option', () => {
      const options = [
        { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: false },
        { momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false, firstStep: true },
        { momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false, firstStep: false },
        { momentum: 0.9, dampening: 0.1, weightDecay: 5e-4, nesterov: true, firstStep: false },
      ];
      for (const n of [5, 4099, 200_000]) {
        for (const o of options) {
          check(ks, { param: randomArray(n), grad: randomArray(n), buf: randomArray(n) }, ['param', 'buf'], FORWARD_TOL,
            (k, t) => k.sgdStep({ ...o, param: t.param!, grad: t.grad!, momentumBuf: t.buf!, lr: 0.1 }));
        }
      }
    });

    it('a step buffer used after endStep() throws; persistent buffers survive; free() works', () => {
      const stepBuf = ks.alloc(10, 'float32', 'step');
      const keep = ks.alloc(10, 'float32', 'persistent');
      ks.write(keep, randomArray(10));
      const before = ks.read(keep);
      ks.endStep();
      assert.throws(() => ks.read(stepBuf), /tensor freed at the end of a training step/);
      assert.throws(() => ks.relu({ x: stepBuf, y: keep }), /tensor freed at the end of a training step/);
      assert.deepEqual(ks.read(keep), before);
      ks.free(keep);
      assert.throws(() => ks.read(keep), /after free/);
      assert.throws(() => ks.alloc(4, 'float64', 'step'), /float32 only/);
    });

    it('300 rounds of allocate, run kernels, endStep(): the memory stops growing after the first', () => {
      const s = convShape([8, 16, 16, 16, 16, 3, 3, 1, 1, 1]);
      const weight = ks.alloc(16 * 16 * 9, 'float32', 'persistent');
      ks.write(weight, randomArray(weight.length));
      const sizes: number[] = [];
      for (let round = 0; round < 300; round++) {
        const x = ks.alloc(s.n * 16 * 16 * 16, 'float32', 'step');
        ks.fill({ y: x, value: 0.5 });
        const y = ks.alloc(x.length, 'float32', 'step');
        ks.conv2d({ ...s, x, weight, y });
        const dx = ks.alloc(x.length, 'float32', 'step');
        ks.conv2dBackwardInput({ ...s, dy: y, weight, dx });
        const dw = ks.alloc(weight.length, 'float32', 'step');
        ks.conv2dBackwardWeight({ ...s, dy: y, x, dw });
        const big = ks.alloc(5_000_000 + (round % 3) * 1000, 'float32', 'step'); // over one arena chunk
        ks.relu({ x: big, y: big });
        ks.axpy({ x: dw, y: weight, alpha: 0 });
        ks.endStep();
        sizes.push(ks.memoryBytes());
      }
      assert.ok(sizes.every((b) => b === sizes[0]), `memory grew after the first round: ${sizes[0]} → ${sizes[sizes.length - 1]}`);
      ks.free(weight);
    });
  });
}
