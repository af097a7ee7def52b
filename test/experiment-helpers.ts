// Helpers of the experiment and report tests: tiny IDX data, and a check that a string is one
// well-formed SVG document.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeIdx } from '../src/io/idx.js';
import { Rng } from '../src/tensor/random.js';

/** MNIST-style IDX files of 8×8 images, 4 classes (class c: a bright c-th quarter of the rows). */
export function writeTinyIdx(dir: string, train: number, test: number): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(5);
  for (const [prefix, n] of [['train', train], ['t10k', test]] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
    const images = new Uint8Array(n * 64);
    for (let i = 0; i < n; i++) for (let p = 0; p < 64; p++) images[i * 64 + p] = (Math.floor(p / 16) === labels[i] ? 150 : 0) + rng.int(100);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), writeIdx([n, 8, 8], images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), writeIdx([n], labels));
  }
}

/** An <svg> root with the SVG namespace, every element closed in order. */
export function assertSvg(svg: string): void {
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the element open before it`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
}
