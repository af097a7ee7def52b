// .pth import: torch.save files (zip and legacy) read by the restricted unpickler.
// Fixtures: test/fixtures/interop/, made by tools/make_interop_fixtures.py (torch 1.13).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { unzipSync, zipSync } from 'fflate';
import { importCommand } from '../src/cli/import.js';
import { readNpy, toFloat32 } from '../src/io/npy.js';
import { PickleError, unpickle, type PickleGlobal } from '../src/io/pickle.js';
import { readPth, type PthTensor } from '../src/io/pth.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { createNet } from '../src/models/resnet.js';
import { fromArray } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { FIXTURES, relMaxError } from './helpers.js';

const DIR = join(FIXTURES, 'interop');
const read = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const load = (name: string) => readPth(read(name), name);

function assertSameTensors(a: Map<string, { shape: number[]; data: Float32Array }>, b: Map<string, { shape: number[]; data: Float32Array }>) {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.deepEqual(t.shape, u.shape, k);
    assert.deepEqual(t.data, u.data, k); // bitwise: both are the same float32 values
  }
}

test('a zip-format state dict loads to the same tensors as its safetensors twin', () => {
  const pth = load('tiny_resnet18_w4.pth');
  const st = readSafetensors(read('tiny_resnet18_w4.safetensors')).tensors;
  assert.equal(pth.size, 122);
  assert.equal(pth.get('layer2.0.downsample.0.weight')!.shape.join(), '8,4,1,1');
  assert.equal(pth.get('bn1.num_batches_tracked')!.dtype, 'I64');
  assert.deepEqual(pth.get('bn1.num_batches_tracked')!.shape, []);
  assertSameTensors(pth, st);
});

test('the legacy (torch < 1.6, non-zip) format is supported and gives the same tensors', () => {
  assertSameTensors(load('tiny_resnet18_w4_legacy.pth'), load('tiny_resnet18_w4.pth'));
  // Node Buffers (whose slice() shares memory) read the same as plain arrays
  const fromBuffer = readPth(readFileSync(join(DIR, 'tiny_resnet18_w4_legacy.pth')), 'legacy');
  assertSameTensors(fromBuffer, load('tiny_resnet18_w4.pth'));
});

test('the loaded weights give PyTorch’s logits (narrow resnet18, option B)', () => {
  const net = createNet('resnet18', { width: 4, classes: 10, shortcut: 'B' });
  net.loadStateDict(load('tiny_resnet18_w4.pth'));
  net.eval();
  const input = readNpy(read('tiny_resnet18_w4_input.npy'));
  const expected = toFloat32(readNpy(read('tiny_resnet18_w4_logits.npy')));
  const logits = noGrad(() => net.forward(fromArray(toFloat32(input), input.shape)).toArray());
  assert.ok(relMaxError(logits, expected) < 1e-4, `relative error ${relMaxError(logits, expected)}`);
});

interface Expected {
  dtype: string;
  shape: number[];
  values: number[];
}

function checkDtypes(tensors: Map<string, PthTensor>, source: string) {
  const expected = JSON.parse(readFileSync(join(DIR, 'dtypes.json'), 'utf8')) as Record<string, Expected>;
  assert.deepEqual([...tensors.keys()], Object.keys(expected), source);
  for (const [name, e] of Object.entries(expected)) {
    const t = tensors.get(name)!;
    assert.equal(t.dtype, e.dtype, `${source} ${name}`);
    assert.deepEqual(t.shape, e.shape, `${source} ${name}`);
    assert.deepEqual(Array.from(t.data), e.values.map(Math.fround), `${source} ${name}`);
  }
}

test('every dtype, strides, storage offsets, shared storages, 0-dim, empty and Parameter tensors', () => {
  checkDtypes(load('dtypes.pth'), 'dtypes.pth');
  const t = load('dtypes.pth');
  assert.deepEqual(Array.from(t.get('transposed')!.data.slice(0, 4)), [-1, -0.25, 0.5, 1.25]); // base.t()
  assert.deepEqual(Array.from(t.get('shared_b')!.data), [1, 6]);
});

test('pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL) reads the same', () => {
  checkDtypes(load('dtypes_protocol4.pth'), 'dtypes_protocol4.pth');
});

test('checkpoints wrapping the state dict under state_dict or model are unwrapped', () => {
  checkDtypes(load('wrapped_state_dict.pth'), 'wrapped_state_dict.pth');
  checkDtypes(load('wrapped_model.pth'), 'wrapped_model.pth');
});

test('a pickle that calls os.system is refused, naming the global, and nothing runs', () => {
  const marker = 'resnet-ts-pwned.txt'; // what the payload would create in the working directory
  rmSync(marker, { force: true });
  assert.throws(() => load('malicious_os_system.pth'), /refusing to load the global 'os\.system'/);
  assert.throws(() => load('malicious_eval.pkl'), /refusing to load the global 'builtins\.eval'/);
  assert.equal(existsSync(marker), false);
});

test('other dangerous globals and object-building opcodes are refused', () => {
  const globals = new Map<string, PickleGlobal>();
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  const shortStr = (s: string) => [0x8c, s.length, ...enc(s)];
  // PROTO 4; STACK_GLOBAL 'subprocess' 'Popen'; ...
  const stackGlobal = new Uint8Array([0x80, 4, ...shortStr('subprocess'), ...shortStr('Popen'), 0x93, 0x2e]);
  assert.throws(() => unpickle(stackGlobal, { source: 'x', globals }), /refusing to load the global 'subprocess\.Popen'/);
  const posix = new Uint8Array([0x80, 2, 0x63, ...enc('posix\nsystem\n'), 0x2e]);
  assert.throws(() => unpickle(posix, { source: 'x', globals }), /'posix\.system'/);
  // NEWOBJ (0x81) and INST (0x69) are not implemented at all
  assert.throws(() => unpickle(new Uint8Array([0x80, 2, 0x81]), { source: 'x', globals }), /NEWOBJ is not supported/);
  assert.throws(() => unpickle(new Uint8Array([0x69]), { source: 'x', globals }), /INST is not supported/);
  // REDUCE on something that is not an allow-listed callable (a string pushed by the file)
  const reduceString = new Uint8Array([0x80, 2, ...shortStr('os'), 0x29, 0x52, 0x2e]);
  assert.throws(() => unpickle(reduceString, { source: 'x', globals }), /REDUCE applies .* not an allowed callable/);
});

test('a truncated zip and a truncated pickle are rejected with clear errors', () => {
  assert.throws(() => load('truncated_zip.pth'), /truncated_zip\.pth: corrupt or truncated zip archive/);
  assert.throws(() => load('truncated_pickle.pth'), /truncated_pickle\.pth .*truncated/);
  assert.throws(() => readPth(new Uint8Array(0), 'empty.pth'), /not a torch\.save file/);
  // One damaged byte inside a stored tensor: the CRC-32 of its entry no longer matches.
  const damaged = read('tiny_resnet18_w4.pth');
  damaged[Math.floor(damaged.length / 2)] ^= 0x40; // lands inside a storage: tensors are most of the file
  assert.throws(() => readPth(damaged, 'damaged.pth'), /damaged\.pth: corrupt zip archive: '.*' has CRC-32/);
  const legacy = read('tiny_resnet18_w4_legacy.pth');
  assert.throws(() => readPth(legacy.subarray(0, legacy.length - 100), 'cut.pth'), /cut\.pth: truncated: storage/);
});

test('every prefix of a pickle fails cleanly, and corrupted bytes never crash the reader', () => {
  const files = unzipSync(read('dtypes.pth'));
  const pkl = files[Object.keys(files).find((n) => n.endsWith('data.pkl'))!]!;
  // allow-list with stand-ins that accept anything, so that only the unpickler itself is exercised
  const any = (name: string): [string, PickleGlobal] => [name, { name, call: () => ({}) }];
  const globals = new Map<string, PickleGlobal>([
    any('collections.OrderedDict'), any('torch._utils._rebuild_tensor_v2'), any('torch._utils._rebuild_parameter'),
    ['torch.FloatStorage', { name: 'torch.FloatStorage' }],
  ]);
  const options = { source: 'p', globals, persistentLoad: () => ({}) };
  for (let n = 0; n < pkl.length; n++) {
    assert.throws(() => unpickle(pkl.subarray(0, n), options), (e: unknown) => e instanceof PickleError, `prefix ${n}`);
  }
  let seed = 1;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 500; trial++) {
    const bad = pkl.slice();
    bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
    try {
      readPth(zipWith(files, bad), 'bad.pth');
    } catch (e) {
      assert.ok(e instanceof Error && e.message.startsWith('bad.pth'), `trial ${trial}: ${String(e)}`);
    }
  }
});

/** The dtypes.pth archive with data.pkl replaced (entries stored uncompressed, as torch writes them). */
function zipWith(files: Record<string, Uint8Array>, pkl: Uint8Array): Uint8Array {
  const entries = Object.entries(files).map(([name, data]) => [name, [name.endsWith('data.pkl') ? pkl : data, { level: 0 }]]);
  return zipSync(Object.fromEntries(entries));
}

test('resnet import: .pth → safetensors, checked against --net and recorded in the metadata', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-import-'));
  const quiet = console.error;
  console.error = () => {};
  try {
    const plain = join(dir, 'plain.safetensors');
    await importCommand.run([join(DIR, 'tiny_resnet18_w4_legacy.pth'), '--out', plain]);
    assertSameTensors(readSafetensors(read('tiny_resnet18_w4.safetensors')).tensors, readSafetensors(new Uint8Array(readFileSync(plain))).tensors);

    const withNet = join(dir, 'net.safetensors');
    await importCommand.run([join(DIR, 'wrapped_state_dict.pth'), '--out', join(dir, 'dtypes.safetensors')]);
    await importCommand.run([join(DIR, 'tiny_resnet18_w4.pth'), '--out', withNet, '--net', 'resnet18', '--width', '4', '--classes', '10']);
    const { metadata } = readSafetensors(new Uint8Array(readFileSync(withNet)));
    assert.equal(metadata.net, 'resnet18');
    assert.equal(JSON.parse(metadata.options!).width, 4);
    assert.deepEqual(JSON.parse(metadata.normalization!), { kind: 'channel', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });

    await assert.rejects(importCommand.run([join(DIR, 'tiny_resnet18_w4.pth'), '--out', withNet, '--net', 'resnet18']), /mis-shaped keys/);
    await assert.rejects(importCommand.run([join(DIR, 'malicious_os_system.pth'), '--out', join(dir, 'evil.safetensors')]), /'os\.system'/);
    assert.equal(existsSync(join(dir, 'evil.safetensors')), false);
  } finally {
    console.error = quiet;
  }
});
