// Our networks against PyTorch: logits in eval mode, and training steps (loss,
// every gradient, parameters and BN statistics after SGD). The fixtures are made
// by tools/make_parity_fixtures.py with Debian's python3-torch.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadFixture, relL2Error, relMaxError } from './helpers.js';
import { createNet } from '../src/models/resnet.js';
import { isNetName } from '../src/models/registry.js';
import { fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { crossEntropy } from '../src/ops/index.js';
import { SGD } from '../src/optim/sgd.js';
import { paritySets } from './kernel-sets.js';
import type { KernelSet } from '../src/kernels/contract.js';

function netFromFixture(fx: ReturnType<typeof loadFixture>, kernels: KernelSet) {
  const name = fx.metadata.net;
  assert.ok(isNetName(name), `fixture names an unknown net '${name}'`);
  const net = createNet(name, { ...JSON.parse(fx.metadata.options), kernels });
  net.loadStateDict(fx.weights());
  return net;
}

const EVAL_FIXTURES = ['resnet20_A_eval', 'plain20_eval', 'resnet18_w8_B_eval', 'resnet50_w4_3x3_eval', 'resnet50_w4_1x1_eval'];
const TRAIN_FIXTURES = ['resnet20_A_train', 'resnet18_w8_C_train'];

for (const kernels of await paritySets()) {
  describe(`PyTorch parity on the '${kernels.name}' kernel set`, () => {
    for (const name of EVAL_FIXTURES) {
      it(`${name}: eval-mode logits within 2e-4`, () => {
        const fx = loadFixture(`parity/${name}.safetensors`);
        const net = netFromFixture(fx, kernels).eval();
        const input = fx.get('input');
        const logits = noGrad(() => net.forward(fromArray(input.data, input.shape, { kernels })));
        assert.deepEqual(logits.shape, fx.get('logits').shape);
        assert.ok(relMaxError(logits.toArray(), fx.get('logits').data) <= 2e-4);
      });
    }

    it('resnet20_A_eval: every stage output (the features a detector would use)', () => {
      const fx = loadFixture('parity/resnet20_A_eval.safetensors');
      const net = netFromFixture(fx, kernels).eval();
      const input = fx.get('input');
      const features = noGrad(() => net.forwardFeatures(fromArray(input.data, input.shape, { kernels })));
      features.forEach((f, i) => {
        const ref = fx.get(`features.layer${i + 1}`);
        assert.deepEqual(f.shape, ref.shape);
        assert.ok(relMaxError(f.toArray(), ref.data) <= 2e-4, `layer${i + 1}`);
      });
    });

    for (const name of TRAIN_FIXTURES) {
      it(`${name}: loss, gradients, and state after SGD steps`, () => {
        const fx = loadFixture(`parity/${name}.safetensors`);
        const net = netFromFixture(fx, kernels).train();
        const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
        const input = fx.get('input');
        const labels = fx.get('labels').data;
        const steps = fx.tensors.has('step1.loss') ? 2 : 1;
        for (let s = 0; s < steps; s++) {
          const loss = crossEntropy(net.forward(fromArray(input.data, input.shape, { kernels })), labels);
          loss.backward();
          const refLoss = fx.get(`step${s}.loss`).data[0];
          assert.ok(Math.abs(loss.item() - refLoss) <= 1e-5 * Math.max(1, Math.abs(refLoss)), `step ${s} loss ${loss.item()} vs ${refLoss}`);
          if (s === 0) {
            const refGrads = fx.withPrefix('step0.grad.');
            const pairs = [...net.namedParameters()].map(([k, p]): [ArrayLike<number>, ArrayLike<number>] => {
              assert.ok(p.grad, `no gradient for ${k}`);
              return [p.grad.toArray(), refGrads.get(k)!.data];
            });
            assert.equal(pairs.length, refGrads.size);
            const err = relL2Error(pairs);
            assert.ok(err <= 1e-4, `gradients differ by ${err} (relative L2)`);
          }
          opt.step();
        }
        const after = fx.withPrefix('after.');
        for (const [k, t] of net.stateDict()) {
          const err = relMaxError(t.toArray(), after.get(k)!.data);
          assert.ok(err <= 1e-4, `${k} after the step differs by ${err}`);
        }
      });
    }
  });
}
