// The cases of issue 12 (hostile files): each reader bounds what a file can make it allocate or loop
// over, verifies what it can (CRC-32s, checksums, metadata field by field), and reports a problem
// as a FormatError (or LimitError) naming the file, never as a TypeError, RangeError or SyntaxError.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync, zipSync } from 'fflate';
import { FormatError, LimitError } from '../src/io/errors.js';
import { readLimits } from '../src/io/limits.js';
import { readIdx, writeIdx } from '../src/io/idx.js';
import { writeNpy } from '../src/io/npy.js';
import { decodeModel } from '../src/io/onnx-proto.js';
import { PickleError, unpickle } from '../src/io/pickle.js';
import { readPth } from '../src/io/pth.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { exportOnnx } from '../src/models/onnx-export.js';
import { estimateParameters } from '../src/models/options-check.js';
import { NET_NAMES } from '../src/models/registry.js';
import { createNet, defaultOptions } from '../src/models/resnet.js';
import { loadNet, readWeights, saveWeights } from '../src/models/weights.js';
import { SGD } from '../src/optim/sgd.js';
import { readCheckpoint, writeCheckpoint } from '../src/train/checkpoint.js';
import { FIXTURES } from './helpers.js';
import { PickleWriter, eocdOffset, pthZip, smallPth, stateDictPickle } from './hostile-files.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'hostile-'));
const plain = { source: 'p.pkl', globals: new Map() };

// --------------------------------------------------------------------------- hangs, quadratic time

test('pth: a zip64 end record claiming billions of entries is refused before any loop', () => {
  const zip = smallPth();
  const at = eocdOffset(zip);
  const view = new DataView(zip.buffer, zip.byteOffset);
  const cdSize = view.getUint32(at + 12, true);
  const cdOffset = view.getUint32(at + 16, true);
  const record = new Uint8Array(56 + 20);
  const r = new DataView(record.buffer);
  r.setUint32(0, 0x06064b50, true);
  r.setBigUint64(4, 44n, true);
  r.setBigUint64(24, 3_000_000_000n, true);
  r.setBigUint64(32, 3_000_000_000n, true);
  r.setBigUint64(40, BigInt(cdSize), true);
  r.setBigUint64(48, BigInt(cdOffset), true);
  r.setUint32(56, 0x07064b50, true);
  r.setBigUint64(56 + 8, BigInt(at), true);
  const eocd = zip.slice(at);
  new DataView(eocd.buffer).setUint16(10, 0xffff, true);
  const file = new Uint8Array([...zip.subarray(0, at), ...record, ...eocd]);
  assert.throws(() => readPth(file, 'z64.pth'), (e: unknown) => e instanceof LimitError && /z64\.pth: the number of zip entries is 3000000000, over the limit 100000 \(maxArchiveEntries\)/.test(e.message));
  // under a raised limit, the directory's size still bounds the count
  assert.throws(() => readPth(file, 'z64.pth', { maxArchiveEntries: 1e10 }), (e: unknown) => e instanceof FormatError && /3000000000 entries cannot fit in a central directory/.test(e.message));
});

test('pickle: LONG4 integers are bounded (maxLongBytes) and converted in linear time', () => {
  const n = 300_000;
  const body = new Uint8Array(n).fill(0x11);
  body[n - 1] = 0x01; // positive
  const pickle = new Uint8Array([0x80, 2, 0x8b, ...new Uint8Array(new Int32Array([n]).buffer), ...body, 0x2e]);
  assert.throws(() => unpickle(pickle, plain), (e: unknown) => e instanceof LimitError && /LONG4 at offset 2: the byte length of an integer is 300000, over the limit 8192 \(maxLongBytes\)/.test(e.message));
  const value = unpickle(pickle, { ...plain, limits: { ...readLimits(), maxLongBytes: n } }).value as bigint;
  assert.equal(value, BigInt(`0x01${'11'.repeat(n - 1)}`));
});

test('pickle: a long run of APPENDS items is a list, not a JavaScript stack overflow', () => {
  const n = 300_000;
  const p = new PickleWriter().op(0x80, 2, 0x5d).mark(); // EMPTY_LIST, MARK
  for (let i = 0; i < n; i++) p.op(0x4b, i & 0xff); // BININT1
  const list = unpickle(p.op(0x65, 0x2e).bytes(), plain).value as number[];
  assert.equal(list.length, n);
  assert.equal(list[n - 1], (n - 1) & 0xff);
});

test('pickle: nesting (open MARKs) and the stack are bounded', () => {
  const deep = new PickleWriter().op(0x80, 2);
  for (let i = 0; i < 2000; i++) deep.mark();
  assert.throws(() => unpickle(deep.op(0x2e).bytes(), plain), (e: unknown) => e instanceof LimitError && /maxPickleNesting/.test(e.message));
  const wide = new PickleWriter().op(0x80, 2, 0x4e); // NONE
  for (let i = 0; i < 200; i++) wide.op(0x32); // DUP
  assert.throws(() => unpickle(wide.op(0x2e).bytes(), { ...plain, limits: { ...readLimits(), maxPickleValues: 100 } }), /values on the stack is 101, over the limit 100 \(maxPickleValues\)/);
});

test('pickle: rebuilding one large memoized container over and over is refused (no quadratic time)', () => {
  const pairs = 50_000;
  const p = new PickleWriter().op(0x80, 2).global('collections', 'OrderedDict').op(0x71, 0); // BINPUT 0
  p.op(0x5d).mark();
  for (let i = 0; i < pairs; i++) p.op(0x4b, i & 0xff, 0x4b, 1, 0x86); // (i, 1)
  p.op(0x65, 0x85, 0x71, 1, 0x30); // APPENDS, TUPLE1, BINPUT 1, POP
  for (let i = 0; i < 2000; i++) p.op(0x68, 0, 0x68, 1, 0x52, 0x30); // BINGET 0, BINGET 1, REDUCE, POP
  p.op(0x4e, 0x2e);
  const globals = new Map([['collections.OrderedDict', { name: 'collections.OrderedDict', call: () => new Map() }]]);
  assert.throws(() => unpickle(p.bytes(), { source: 'q.pkl', globals }), (e: unknown) => e instanceof PickleError && /too much work for the size of the data/.test(e.message));
});

// --------------------------------------------------------------------------- memory

test('pth: a stride-0 view cannot expand a tiny storage past the decode limit', () => {
  const pickle = stateDictPickle([{ name: 'w', storage: '0', numel: 1, shape: [2 ** 28], stride: [0] }]);
  const file = pthZip(pickle, { '0': new Float32Array([1]) });
  assert.throws(() => readPth(file, 'view.pth'), (e: unknown) => e instanceof LimitError && /view\.pth: tensor of shape \[268435456\].*maxDecodedRatio/.test(e.message));
  // a legitimate expanded view within the limit reads
  const small = pthZip(stateDictPickle([{ name: 'w', storage: '0', numel: 1, shape: [4, 3], stride: [0, 0] }]), { '0': new Float32Array([7]) });
  assert.deepEqual(Array.from(readPth(small, 'ok.pth').get('w')!.data), new Array(12).fill(7));
});

test('pth: a deflated zip entry is checked against its recorded size before and while it inflates', () => {
  const data = new Float32Array(1024); // zeros: compresses well
  const zipOf = (numel: number) => zipSync({
    'archive/data.pkl': [stateDictPickle([{ name: 'w', storage: '0', numel, shape: [1], stride: [1] }]), { level: 0 }],
    'archive/data/0': [new Uint8Array(data.buffer), { level: 9 }],
  });
  assert.equal(readPth(zipOf(1024), 'ok.pth').get('w')!.data.length, 1);
  const patchSize = (size: number) => {
    const copy = zipOf(size / 4);
    const view = new DataView(copy.buffer);
    // the central directory entry of archive/data/0 (the second one)
    let at = view.getUint32(eocdOffset(copy) + 16, true);
    at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    view.setUint32(at + 24, size, true);
    return copy;
  };
  assert.throws(() => readPth(patchSize(0xfffffff0), 'bomb.pth'), (e: unknown) => e instanceof LimitError && /zip entry 'archive\/data\/0': the recorded uncompressed size is 4294967280, over the limit/.test(e.message));
  // a recorded size too small: the inflater stops there
  assert.throws(() => readPth(patchSize(400), 'short.pth'), (e: unknown) => e instanceof FormatError && /compressed data inflates to more than its recorded length of 400 bytes/.test(e.message));
});

test('IDX: a gzipped file that inflates too far is refused from its trailer, before inflating', () => {
  const big = writeIdx([4096, 32, 32], new Uint8Array(4096 * 32 * 32)); // 4 MiB of zeros
  const gz = gzipSync(big, { level: 9 });
  assert.ok(big.length / gz.length > 200);
  assert.throws(() => readIdx(gz, 'bomb.gz'), (e: unknown) => e instanceof LimitError && /bomb\.gz: .*over the limit \d+ \(maxInflateRatio\)/.test(e.message));
  assert.deepEqual(readIdx(gz, 'bomb.gz', { maxInflateRatio: 2000 }).shape, [4096, 32, 32]);
});

test('IDX: the header of a gzipped file is compared with the recorded length first', () => {
  // a header claiming 1 image of 28×28 over 4 MiB of data
  const bytes = new Uint8Array(16 + 4 * 2 ** 20);
  bytes.set(writeIdx([1, 28, 28], new Uint8Array(784)).subarray(0, 16));
  assert.throws(() => readIdx(gzipSync(bytes), 'lie.gz', { maxInflateRatio: 1e6 }), /lie\.gz: 4193520 trailing bytes after IDX data of shape \[1, 28, 28\]/);
});

test('weights: absurd network options in the metadata are refused, naming the key, before anything is built', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'w.safetensors');
    saveWeights(path, createNet('resnet20', { width: 2 }));
    const { metadata, tensors } = readSafetensors(readFileSync(path));
    const withOptions = (options: object) => {
      writeFileSync(path, writeSafetensors(tensors, { ...metadata, options: JSON.stringify(options) }));
      return path;
    };
    assert.throws(() => loadNet(withOptions({ inChannels: 1e9 })), /w\.safetensors: metadata 'options': 'inChannels' is 1000000000, over 1048576/);
    assert.throws(() => loadNet(withOptions({ width: 3000 })), (e: unknown) => e instanceof LimitError && /the parameter count of the resnet20 they describe is \d+, over the limit 268435456 \(maxParameters\)/.test(e.message));
    assert.throws(() => loadNet(withOptions({ width: 200 })), /describe a resnet20 of about \d+ parameters, but the file's tensors hold only \d+ values/);
    assert.throws(() => readWeights(withOptions({ classes: -1 })), /'classes' is -1, not a positive integer/);
    assert.throws(() => readWeights(withOptions({ shortcut: 'Z' })), /'shortcut' is "Z", not one of A, B, C/);
    assert.throws(() => readWeights(withOptions({ depth: 5 })), /unknown option 'depth'/);
    writeFileSync(path, writeSafetensors(tensors, { ...metadata, options: '{"width": 2' }));
    assert.throws(() => readWeights(path), (e: unknown) => e instanceof FormatError && /metadata 'options' is not valid JSON/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the parameter estimate of the options check matches the networks built', () => {
  for (const name of NET_NAMES.filter((n) => !['resnet1202', 'resnet152', 'resnet101'].includes(n))) {
    for (const shortcut of ['A', 'B', 'C'] as const) {
      const options = { ...defaultOptions(name), width: 4, shortcut };
      const built = createNet(name, { ...options, skipInit: true }).parameterCount();
      const estimate = estimateParameters(name, options);
      assert.ok(estimate <= built && estimate > 0.9 * built, `${name} ${shortcut}: estimate ${estimate}, built ${built}`);
    }
  }
});

// --------------------------------------------------------------------------- wrong data, silently

test('IDX: a gzipped file with a corrupt byte fails its CRC-32, and a wrong recorded length is caught', () => {
  const file = writeIdx([2, 3, 4], Uint8Array.from({ length: 24 }, (_, i) => i));
  const gz = gzipSync(file, { level: 0 }); // stored blocks: a flipped byte inflates without complaint
  const corrupt = gz.slice();
  corrupt[gz.length - 8 - 5] ^= 0x40; // inside the data
  assert.throws(() => readIdx(corrupt, 'c.gz'), (e: unknown) => e instanceof FormatError && /c\.gz: gzip data is corrupt: CRC-32 0x[0-9a-f]{8}, the file records 0x[0-9a-f]{8}/.test(e.message));
  const length = gz.slice();
  length[gz.length - 4] += 1;
  assert.throws(() => readIdx(length, 'l.gz'), /l\.gz \(gzip\): compressed data inflates to 40 bytes, 41 recorded/);
  assert.deepEqual(Array.from(readIdx(gz, 'ok.gz').data), Array.from(file.subarray(16)));
});

test('IDX: dimensions whose product overflows (to Infinity or NaN) are refused', () => {
  const header = new Uint8Array(4 + 4 * 41);
  header[2] = 0x08;
  header[3] = 41;
  const view = new DataView(header.buffer);
  for (let d = 0; d < 40; d++) view.setUint32(4 + 4 * d, 0xffffffff, false);
  assert.throws(() => readIdx(header, 'nan.idx'), /nan\.idx: IDX shape \[4294967295, .*, 0\] is too large/); // 0 × Infinity = NaN
});

test('weights and checkpoints we write carry a checksum: one flipped byte in the tensor data is an error', () => {
  const dir = tmp();
  try {
    const weights = join(dir, 'w.safetensors');
    saveWeights(weights, createNet('resnet20', { width: 2 }));
    const checkpoint = join(dir, 'c.safetensors');
    const old = readCheckpoint(join(FIXTURES, 'legacy/checkpoint-v1.safetensors'));
    const net = createNet('resnet20', { ...old.options, skipInit: true });
    net.loadStateDict(old.model);
    writeCheckpoint(checkpoint, net, new SGD(net.parameters(), { lr: 0.1 }), old);
    assert.deepEqual(readCheckpoint(checkpoint).model.get('fc.bias'), old.model.get('fc.bias'));
    for (const [path, read] of [[weights, readWeights], [checkpoint, readCheckpoint]] as const) {
      const bytes = readFileSync(path);
      bytes[bytes.length - 3]! ^= 0x01;
      writeFileSync(path, bytes);
      assert.throws(() => read(path), (e: unknown) => e instanceof FormatError && /tensor data is corrupt: its CRC-32 is 0x[0-9a-f]{8}, the file records 0x[0-9a-f]{8}/.test(e.message));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files written before checksums and metadata checks existed still load (fixtures of that format)', () => {
  const c = readCheckpoint(join(FIXTURES, 'legacy/checkpoint-v1.safetensors'));
  assert.equal(c.net, 'resnet20');
  assert.deepEqual([c.iteration, c.total, c.seed], [4, 4, 0]);
  assert.equal(c.options.width, 2);
  assert.equal(c.model.size, 116);
  const net = loadNet(join(FIXTURES, 'legacy/model-v1.safetensors'));
  assert.equal(net.options.inChannels, 1);
});

// --------------------------------------------------------------------------- unchecked metadata

test('checkpoint metadata is validated field by field; errors name the file and the field', () => {
  const dir = tmp();
  try {
    const source = join(FIXTURES, 'legacy/checkpoint-v1.safetensors');
    const { metadata, tensors } = readSafetensors(readFileSync(source));
    const path = join(dir, 'checkpoint.safetensors');
    const withField = (key: string, value: string) => {
      writeFileSync(path, writeSafetensors(tensors, { ...metadata, [key]: value }));
      return () => readCheckpoint(path);
    };
    const refused = (key: string, value: string, problem: RegExp) => {
      assert.throws(withField(key, value), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${path}: checkpoint metadata '${key}': `) && problem.test(e.message), `${key} = ${value}`);
    };
    for (const bad of ['abc', 'NaN', 'Infinity', '-1', '1e3', '4.5', '']) {
      refused('iteration', bad, /is not an integer ≥ 0/);
      refused('seed', bad, /is not an integer ≥ 0/);
    }
    for (const bad of ['abc', 'NaN', 'Infinity', '0', '-4']) refused('total', bad, /is not an integer ≥ 1/);
    refused('iteration', '5', /5 is past the run's total of 4 iterations/);
    refused('recipe', '{"batchSize": 8', /not valid JSON/);
    refused('recipe', JSON.stringify({ ...JSON.parse(metadata.recipe!), batchSize: 0 }), /batchSize is 0, not an integer ≥ 1/);
    refused('recipe', JSON.stringify({ ...JSON.parse(metadata.recipe!), lr: 'fast' }), /lr is "fast", not a finite number/);
    refused('progress', metadata.progress!.replace('"elapsed":', '"elapsed":1e999,"x":'), /holds the non-finite number Infinity/);
    refused('loader', '{"epoch": -1, "batchIndex": 0}', /epoch is -1, not an integer ≥ 0/);
    refused('net', 'resnet9000', /'resnet9000' is not a network name/);
    refused('normalization', '{"kind": "magic"}', /kind "magic" is not none, meanImage or channel/);
    assert.throws(withField('options', '{"width": "wide"}'), new RegExp(`^FormatError: ${path}: metadata 'options': 'width' is "wide", not a positive integer`));
    assert.throws(withField('data', '[]'), /checkpoint metadata 'data': not a JSON object/);
    // an unexpected tensor name, or a momentum index out of range
    writeFileSync(path, writeSafetensors([...tensors, ['optim.momentum.99999', { shape: [1], data: new Float32Array(1) }]], metadata));
    assert.throws(() => readCheckpoint(path), /unexpected tensor 'optim\.momentum\.99999'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ONNX: truncated or damaged bytes are a FormatError naming the source, not a RangeError', () => {
  const bytes = exportOnnx(createNet('resnet20', { width: 2 }), { batch: 1, inputSize: [8, 8] });
  assert.equal(decodeModel(bytes).graph.name.length > 0, true);
  for (const cut of [1, 7, bytes.length >> 1, bytes.length - 1]) {
    assert.throws(() => decodeModel(bytes.subarray(0, cut), 'm.onnx'), (e: unknown) => e instanceof FormatError && /^m\.onnx: not a valid ONNX model \(/.test(e.message), `cut at ${cut}`);
  }
});


test('resnet --read-limit NAME=N sets a read limit for the command; a bad one is a usage error', () => {
  const dir = tmp();
  try {
    const main = join(FIXTURES, '../../dist/src/cli/main.js');
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, writeNpy({ dtype: '<f4', shape: [1, 1, 28, 28], data: new Float32Array(784) }));
    const forward = (...extra: string[]) => spawnSync(process.execPath, [main, 'forward', '--weights', join(FIXTURES, 'legacy/model-v1.safetensors'), '--input', npy, '--output', join(dir, 'y.npy'), '--backend', 'ref', ...extra], { encoding: 'utf8', timeout: 60_000 });
    const ok = forward();
    assert.equal(ok.status, 0, ok.stderr);
    const limited = forward('--read-limit', 'maxParameters=1000');
    assert.equal(limited.status, 1);
    assert.match(limited.stderr, /model-v1\.safetensors: metadata 'options': the parameter count of the resnet20 they describe is \d+, over the limit 1000 \(maxParameters\)/);
    const bad = forward('--read-limit=maxBananas=3');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--read-limit takes NAME=N with NAME one of maxInflatedBytes, /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
