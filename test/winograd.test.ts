// The Winograd path of the wasm set beyond conformance.test.ts's shapes, and the direct path's
// packed weights:
// * its conv2d epilogue (bias per output channel, ReLU), folded into the output transform (the
//   direct path's: into the stores of the matrix multiply);
// * its filter gradient against central differences (in float64, of a loss computed here, not by
//   a kernel set), and the same bits from every run when the images are split among threads;
// * the prepared weights the set keeps per weight buffer (src/kernels/wasm/index.ts: Winograd-
//   transformed filters, the direct path's packed weights): every way a weight buffer can change
//   must drop them. Each case runs a convolution (which caches the prepared weights), changes the
//   weights one way, runs it again, and checks both results, forward and input gradient, against
//   the reference set: stale prepared weights fail the second check.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Buffer, Conv2dShape, KernelSet } from '../src/kernels/contract.js';
import { refKernels } from '../src/kernels/ref/index.js';
import type { WasmKernelSet } from '../src/kernels/wasm/index.js';
import { KERNEL_SETS, kernelSet } from './kernel-sets.js';
import { relMaxError, seededArrays } from './helpers.js';

const TOL = 5e-5; // F(4×4)'s rounding (see WINOGRAD_TOL in conformance.test.ts)
const random = seededArrays(3);
const shape: Conv2dShape = {
  n: 2, cIn: 6, h: 9, w: 10, cOut: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, hOut: 9, wOut: 10,
};
const wLen = shape.cOut * shape.cIn * 9;
const x = random(shape.n * shape.cIn * shape.h * shape.w), dy = random(shape.n * shape.cOut * shape.h * shape.w);

/** The reference's forward output and input gradient for weights `w`. */
function expected(w: Float32Array): [Float32Array, Float32Array] {
  const b = (v: Float32Array) => { const buf = refKernels.alloc(v.length, 'float32', 'step'); refKernels.write(buf, v); return buf; };
  const y = b(new Float32Array(dy.length)), dx = b(new Float32Array(x.length)), weight = b(w);
  refKernels.conv2d({ ...shape, x: b(x), weight, y });
  refKernels.conv2dBackwardInput({ ...shape, dy: b(dy), weight, dx });
  return [Float32Array.from(refKernels.read(y)), Float32Array.from(refKernels.read(dx))];
}

/** Σ conv(x, w) ⊙ dy in float64, straight from the definition (stride 1, padding 1). */
function convLoss(w: Float64Array): number {
  const { n, cIn, h, w: width, cOut } = shape;
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let co = 0; co < cOut; co++) {
      for (let oy = 0; oy < h; oy++) {
        for (let ox = 0; ox < width; ox++) {
          let v = 0;
          for (let ci = 0; ci < cIn; ci++) {
            for (let ky = 0; ky < 3; ky++) {
              const iy = oy + ky - 1;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < 3; kx++) {
                const ix = ox + kx - 1;
                if (ix >= 0 && ix < width) v += w[((co * cIn + ci) * 3 + ky) * 3 + kx]! * x[((i * cIn + ci) * h + iy) * width + ix]!;
              }
            }
          }
          total += v * dy[((i * cOut + co) * h + oy) * width + ox]!;
        }
      }
    }
  }
  return total;
}

/** Forward and input gradient on `ks` with the weights now in `weight`, checked against the reference for `w`. */
function checkConv(ks: KernelSet, weight: Buffer, w: Float32Array, when: string): void {
  const xb = ks.alloc(x.length, 'float32', 'step'), dyb = ks.alloc(dy.length, 'float32', 'step');
  const y = ks.alloc(dy.length, 'float32', 'step'), dx = ks.alloc(x.length, 'float32', 'step');
  ks.write(xb, x);
  ks.write(dyb, dy);
  ks.conv2d({ ...shape, x: xb, weight, y });
  ks.conv2dBackwardInput({ ...shape, dy: dyb, weight, dx });
  const [wantY, wantDx] = expected(w);
  assert.ok(relMaxError(ks.read(y), wantY) <= TOL, `output ${when}: ${relMaxError(ks.read(y), wantY)}`);
  assert.ok(relMaxError(ks.read(dx), wantDx) <= TOL, `input gradient ${when}: ${relMaxError(ks.read(dx), wantDx)}`);
}

/** Ways to change a weight buffer `weight` (holding w0) to new values; each returns them. */
const CHANGES: { name: string; change: (ks: KernelSet, weight: Buffer, w0: Float32Array) => Float32Array }[] = [
  { name: 'write()', change: (ks, weight) => { const w = random(wLen); ks.write(weight, w); return w; } },
  { name: 'fill', change: (ks, weight) => { ks.fill({ y: weight, value: 0.25 }); return new Float32Array(wLen).fill(0.25); } },
  { name: 'copy into it', change: (ks, weight) => {
    const w = random(wLen), src = ks.alloc(wLen, 'float32', 'step');
    ks.write(src, w);
    ks.copy({ x: src, y: weight });
    return w;
  } },
  { name: 'scale', change: (ks, weight, w0) => { ks.scale({ x: weight, y: weight, alpha: -2 }); return w0.map((v) => v * -2); } },
  { name: 'axpy', change: (ks, weight, w0) => {
    const d = random(wLen), src = ks.alloc(wLen, 'float32', 'step');
    ks.write(src, d);
    ks.axpy({ x: src, y: weight, alpha: 0.5 });
    return w0.map((v, i) => v + Math.fround(0.5 * d[i]!));
  } },
  { name: 'sgdStep', change: (ks, weight, w0) => {
    const g = random(wLen), grad = ks.alloc(wLen, 'float32', 'step'), buf = ks.alloc(wLen, 'float32', 'step');
    ks.write(grad, g);
    ks.sgdStep({ param: weight, grad, momentumBuf: buf, lr: 0.5, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true });
    return w0.map((v, i) => v - 0.5 * g[i]!);
  } },
];

for (const { label } of KERNEL_SETS.slice(0, 1)) {
  const ks: WasmKernelSet = await kernelSet(label);
  describe(`the Winograd and direct paths on the kernel set '${label}'`, () => {
    for (const algorithm of ['winograd2', 'winograd4', 'direct'] as const) {
      it(`${algorithm}: conv2d with its epilogue (bias, ReLU, both) matches the reference`, () => {
        ks.convAlgorithm = algorithm;
        try {
          for (const [withBias, relu] of [[true, false], [false, true], [true, true]] as const) {
            const w = random(wLen), bias = random(shape.cOut);
            const results = [refKernels as KernelSet, ks].map((set) => {
              const b = (v: Float32Array) => { const buf = set.alloc(v.length, 'float32', 'step'); set.write(buf, v); return buf; };
              const y = b(new Float32Array(dy.length));
              set.conv2d({ ...shape, x: b(x), weight: b(w), y, bias: withBias ? b(bias) : undefined, relu });
              return Float32Array.from(set.read(y));
            });
            const err = relMaxError(results[1]!, results[0]!);
            assert.ok(err <= TOL, `bias ${withBias}, relu ${relu}: ${err}`);
          }
        } finally {
          ks.convAlgorithm = 'auto';
          ks.endStep();
        }
      });

      it(`${algorithm}: the filter gradient matches central differences of Σ conv(x, w) ⊙ dy`, () => {
        ks.convAlgorithm = algorithm;
        try {
          const w = random(wLen), b = (v: Float32Array) => { const buf = ks.alloc(v.length, 'float32', 'step'); ks.write(buf, v); return buf; };
          const dw = b(new Float32Array(wLen));
          ks.conv2dBackwardWeight({ ...shape, x: b(x), dy: b(dy), dw });
          const got = ks.read(dw), h = 1e-3, numeric = new Float64Array(wLen), w64 = Float64Array.from(w);
          for (let i = 0; i < wLen; i++) {
            w64[i] = w[i]! + h; const up = convLoss(w64);
            w64[i] = w[i]! - h; const down = convLoss(w64);
            w64[i] = w[i]!;
            numeric[i] = (up - down) / (2 * h);
          }
          const err = relMaxError(got, numeric);
          assert.ok(err <= TOL, `filter gradient differs from central differences by ${err}`);
        } finally {
          ks.convAlgorithm = 'auto';
          ks.endStep();
        }
      });

      it(`${algorithm}: the filter gradient of a batch split into chunks among the threads: the reference's, the same bits on every run`, () => {
        ks.convAlgorithm = algorithm;
        try {
          const s = { ...shape, n: 64 }, xs = random(s.n * s.cIn * s.h * s.w), dys = random(s.n * s.cOut * s.h * s.w);
          const runs = [refKernels as KernelSet, ks, ks, ks, ks].map((set) => {
            const b = (v: Float32Array) => { const buf = set.alloc(v.length, 'float32', 'step'); set.write(buf, v); return buf; };
            const dw = b(new Float32Array(wLen));
            set.conv2dBackwardWeight({ ...s, x: b(xs), dy: b(dys), dw });
            return Float32Array.from(set.read(dw));
          });
          assert.ok(relMaxError(runs[1]!, runs[0]!) <= TOL, `differs from the reference by ${relMaxError(runs[1]!, runs[0]!)}`);
          for (const r of runs.slice(2)) assert.deepEqual(r, runs[1]);
        } finally {
          ks.convAlgorithm = 'auto';
          ks.endStep();
        }
      });

      for (const { name, change } of CHANGES) {
        it(`${algorithm}: weights changed by ${name}`, () => {
          ks.convAlgorithm = algorithm;
          try {
            const w0 = random(wLen), weight = ks.alloc(wLen, 'float32', 'persistent');
            ks.write(weight, w0);
            checkConv(ks, weight, w0, 'before');
            const w1 = change(ks, weight, w0);
            checkConv(ks, weight, w1, `after ${name}`);
            ks.free(weight);
          } finally {
            ks.convAlgorithm = 'auto';
            ks.endStep();
          }
        });
      }

      it(`${algorithm}: a persistent weight keeps working across steps; a freed one's memory reused by other weights`, () => {
        ks.convAlgorithm = algorithm;
        try {
          const w0 = random(wLen), weight = ks.alloc(wLen, 'float32', 'persistent');
          ks.write(weight, w0);
          checkConv(ks, weight, w0, 'in the first step');
          ks.endStep();
          checkConv(ks, weight, w0, 'in the next step');
          ks.free(weight);
          const w1 = random(wLen), again = ks.alloc(wLen, 'float32', 'persistent');
          ks.write(again, w1);
          checkConv(ks, again, w1, 'of a new buffer after free()');
          ks.free(again);
          // a step buffer as the weight: gone at endStep(), its address handed out again
          const s0 = random(wLen), stepWeight = ks.alloc(wLen, 'float32', 'step');
          ks.write(stepWeight, s0);
          checkConv(ks, stepWeight, s0, 'of a step buffer');
          ks.endStep();
          const s1 = random(wLen), next = ks.alloc(wLen, 'float32', 'step');
          ks.write(next, s1);
          checkConv(ks, next, s1, 'of the next step\'s buffer');
        } finally {
          ks.convAlgorithm = 'auto';
          ks.endStep();
        }
      });
    }
  });
}
