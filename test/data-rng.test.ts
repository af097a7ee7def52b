import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/data/rng.js';

const draw = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());

test('Rng: same seed, same stream; different seeds and keys differ', () => {
  assert.deepEqual(draw(new Rng(7), 20), draw(new Rng(7), 20));
  assert.notDeepEqual(draw(new Rng(7), 20), draw(new Rng(8), 20));
  assert.deepEqual(draw(Rng.derive(7, 1, 2), 5), draw(Rng.derive(7, 1, 2), 5));
  assert.notDeepEqual(draw(Rng.derive(7, 1, 2), 5), draw(Rng.derive(7, 2, 1), 5));
  assert.notDeepEqual(draw(new Rng(2 ** 40), 5), draw(new Rng(0), 5));
});

test('Rng: getState/setState resumes the stream exactly (through JSON)', () => {
  const r = new Rng(3);
  draw(r, 13);
  const saved = JSON.parse(JSON.stringify(r.getState()));
  const expected = draw(r, 10);
  const s = new Rng(99);
  s.setState(saved);
  assert.deepEqual(draw(s, 10), expected);
  assert.throws(() => s.setState([0, 0, 0, 0]), /all-zero/);
  assert.throws(() => s.setState([1, 2, 3]), /four uint32 words/);
});

test('Rng: int stays in range and covers it; float in [0,1)', () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const k = r.int(9);
    assert.ok(k >= 0 && k < 9 && Number.isInteger(k));
    seen.add(k);
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
  }
  assert.equal(seen.size, 9);
});

test('Rng: normal deviates have mean 0 and variance 1', () => {
  const r = new Rng(5);
  const n = 50000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.02);
  assert.ok(Math.abs(s2 / n - 1) < 0.03);
});

test('Rng: permutation is a permutation', () => {
  const p = new Rng(11).permutation(1000);
  assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
});
