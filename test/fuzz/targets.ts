// The readers under fuzz: for each, seeds (valid files the project writes, or small torch-written
// fixtures), the offsets of the length fields in them (what mutations aim at), and the parse.
// Used by test/fuzz.test.ts (a few hundred cases per reader) and tools/fuzz.mjs (`npm run fuzz`).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import sharp from 'sharp';
import { safeExtractTarGz } from '../../src/data/download.js';
import { decodeImage } from '../../src/data/decode.js';
import { readCifarBatch, writeCifarBatch } from '../../src/io/cifar.js';
import { readIdx, writeIdx } from '../../src/io/idx.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { decodeModel } from '../../src/io/onnx-proto.js';
import { PickleDict, unpickle, type PickleGlobal } from '../../src/io/pickle.js';
import { readPth } from '../../src/io/pth.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { exportOnnx } from '../../src/models/onnx-export.js';
import { createNet } from '../../src/models/resnet.js';
import { loadNet, saveWeights } from '../../src/models/weights.js';
import { SGD } from '../../src/optim/sgd.js';
import { readCheckpoint, writeCheckpoint } from '../../src/train/checkpoint.js';
import { FIXTURES } from '../helpers.js';
import { pthLegacy, stateDictPickle, smallPth, tarball } from '../hostile-files.js';

/** A field holding a count, size or offset: where it is, its width in bytes, its byte order. */
export interface LengthField {
  at: number;
  width: 1 | 2 | 4 | 8;
  little: boolean;
}

export interface Seed {
  bytes: Uint8Array;
  fields: LengthField[];
}

export interface Target {
  name: string;
  seeds(): Promise<Seed[]>;
  /** Parses one input; resolves whatever it returns. A path is the input written to a file. */
  parse(bytes: Uint8Array, scratch: string): unknown;
  /** Seeds that are compressed containers: mutate the inner bytes, then compress (tar.gz, IDX .gz). */
  wrap?(inner: Uint8Array): Uint8Array;
}

const le = (at: number, width: LengthField['width']): LengthField => ({ at, width, little: true });
const fixture = (path: string) => new Uint8Array(readFileSync(join(FIXTURES, path)));

// ------------------------------------------------------------------------ length fields of formats

/** Pickle opcodes with a length or index argument: opcode → [argument width, argument offset]. */
const PICKLE_ARGS: Record<number, number> = {
  0x80: 1, 0x95: 8, 0x4a: 4, 0x4b: 1, 0x4d: 2, 0x47: 8, 0x71: 1, 0x72: 4, 0x68: 1, 0x6a: 4,
};
const PICKLE_LENGTHS: Record<number, 1 | 4 | 8> = { 0x8a: 1, 0x8b: 4, 0x58: 4, 0x8c: 1, 0x8d: 8, 0x42: 4, 0x43: 1, 0x8e: 8 };

/** Walks a pickle's opcodes from `start`; returns its length fields (and those of indices). */
export function pickleFields(bytes: Uint8Array, start = 0): LengthField[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: LengthField[] = [];
  let pos = start;
  while (pos < bytes.length) {
    const op = bytes[pos++]!;
    if (op === 0x2e) break; // STOP
    const lengthWidth = PICKLE_LENGTHS[op];
    if (lengthWidth !== undefined) {
      if (pos + lengthWidth > bytes.length) break;
      fields.push(le(pos, lengthWidth));
      const n = lengthWidth === 1 ? bytes[pos]! : lengthWidth === 4 ? view.getUint32(pos, true) : Number(view.getBigUint64(pos, true));
      pos += lengthWidth + n;
    } else if (PICKLE_ARGS[op] !== undefined) {
      const w = PICKLE_ARGS[op]!;
      if (w === 1 || w === 2 || w === 4) fields.push(le(pos, w));
      pos += w;
    } else if (op === 0x63) {
      pos = bytes.indexOf(0x0a, bytes.indexOf(0x0a, pos) + 1) + 1; // GLOBAL: two lines
      if (pos === 0) break;
    }
  }
  return fields;
}

/** The zip's end record, central directory and local header fields (and the pickles they hold). */
export function zipFields(bytes: Uint8Array): LengthField[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: LengthField[] = [];
  let eocd = -1;
  for (let i = bytes.length - 22; i >= 0; i--) if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) return fields;
  fields.push(le(eocd + 8, 2), le(eocd + 10, 2), le(eocd + 12, 4), le(eocd + 16, 4), le(eocd + 20, 2));
  let at = view.getUint32(eocd + 16, true);
  const count = view.getUint16(eocd + 10, true);
  for (let i = 0; i < count && at + 46 <= bytes.length; i++) {
    fields.push(le(at + 20, 4), le(at + 24, 4), le(at + 28, 2), le(at + 30, 2), le(at + 32, 2), le(at + 42, 4));
    const local = view.getUint32(at + 42, true);
    const nameLength = view.getUint16(at + 28, true);
    if (local + 30 <= bytes.length) {
      fields.push(le(local + 18, 4), le(local + 22, 4), le(local + 26, 2), le(local + 28, 2));
      const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
      const data = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (name.endsWith('data.pkl') && view.getUint16(at + 10, true) === 0) fields.push(...pickleFields(bytes, data));
    }
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return fields;
}

/** A legacy torch file: five pickles back to back, then storages each led by an int64 count. */
function legacyFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [];
  let pos = 0;
  for (let i = 0; i < 5; i++) {
    const inner = pickleFields(bytes, pos);
    fields.push(...inner);
    const stop = bytes.indexOf(0x2e, inner.length ? inner[inner.length - 1]!.at : pos);
    if (stop < 0) break;
    pos = stop + 1;
  }
  fields.push(le(pos, 8));
  return fields;
}

function safetensorsFields(bytes: Uint8Array): LengthField[] {
  const fields = [le(0, 8)];
  // digits inside the JSON header are length fields too: they are mutated as text by the generic mutations
  return fields;
}

/** A plain tar's size (octal text) fields are found by the generic mutations; the headers' checksums by these. */
function tarFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [];
  for (let at = 0; at + 512 <= bytes.length; at += 512) fields.push({ at: at + 124, width: 8, little: false }, { at: at + 148, width: 4, little: false });
  return fields;
}

// ------------------------------------------------------------------------ the targets

let scratchCount = 0;
const scratchFile = (dir: string, name: string, bytes: Uint8Array) => {
  const path = join(dir, `${scratchCount++ % 4}-${name}`);
  writeFileSync(path, bytes);
  return path;
};

/** An allow-list for the bare pickle machine: dicts and persistent ids, as a state dict uses them. */
const pickleGlobals = new Map<string, PickleGlobal>([
  ['collections.OrderedDict', { name: 'collections.OrderedDict', call: () => new PickleDict() }],
  ['torch._utils._rebuild_tensor_v2', { name: 'torch._utils._rebuild_tensor_v2', call: (args) => args }],
  ['torch.FloatStorage', { name: 'torch.FloatStorage' }],
]);

function tinyTensors(): [string, { shape: number[]; data: Float32Array }][] {
  return [
    ['a', { shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i - 2.5) }],
    ['b.c', { shape: [4], data: new Float32Array([1, -1, 0.5, 3]) }],
    ['s', { shape: [], data: new Float32Array([7]) }],
  ];
}

export const TARGETS: Target[] = [
  {
    name: 'safetensors',
    async seeds() {
      const plain = writeSafetensors(tinyTensors(), { format: 'resnet-ts', k: 'v' });
      const checked = writeSafetensors(tinyTensors(), { format: 'resnet-ts' }, { checksum: true });
      return [plain, checked].map((b) => ({ bytes: b, fields: safetensorsFields(b) }));
    },
    parse: (bytes) => readSafetensors(bytes, 'fuzz.safetensors'),
  },
  {
    name: 'npy',
    async seeds() {
      const files = [
        writeNpy({ dtype: '<f4', shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i) }),
        writeNpy({ dtype: '<f8', shape: [3], data: new Float64Array([1, 2, 3]) }),
        writeNpy({ dtype: '<i8', shape: [2, 1], data: new BigInt64Array([5n, -5n]) }),
        writeNpy({ dtype: '|u1', shape: [1, 2, 2], data: new Uint8Array([1, 2, 3, 4]) }),
      ];
      return files.map((b) => ({ bytes: b, fields: [le(8, 2)] }));
    },
    parse: (bytes) => readNpy(bytes, 'fuzz.npy'),
  },
  {
    name: 'pth-zip',
    async seeds() {
      return [smallPth(), fixture('interop/dtypes.pth'), fixture('interop/wrapped_model.pth')].map((b) => ({ bytes: b, fields: zipFields(b) }));
    },
    parse: (bytes) => readPth(bytes, 'fuzz.pth'),
  },
  {
    name: 'pth-legacy',
    async seeds() {
      // torch's own file (122 tensors) in the long run; a small one of the same layout in the suite's short one
      const small = pthLegacy(
        [{ name: 'w', storage: '0', numel: 6, shape: [2, 3], stride: [3, 1] }, { name: 'v', storage: '1', numel: 4, offset: 1, shape: [3], stride: [1] }],
        { '0': Float32Array.from({ length: 6 }, (_, i) => i), '1': new Float32Array([1, 2, 3, 4]) },
      );
      const files = process.env.FUZZ_LARGE_SEEDS ? [small, fixture('interop/tiny_resnet18_w4_legacy.pth')] : [small];
      return files.map((b) => ({ bytes: b, fields: legacyFields(b) }));
    },
    parse: (bytes) => readPth(bytes, 'fuzz-legacy.pth'),
  },
  {
    name: 'pickle',
    async seeds() {
      const state = stateDictPickle([
        { name: 'w', storage: '0', numel: 6, shape: [2, 3], stride: [3, 1] },
        { name: 'b', storage: '1', numel: 2, offset: 1, shape: [1], stride: [1] },
      ]);
      const listy = new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x28, 0x4b, 1, 0x4d, 2, 1, 0x58, 2, 0, 0, 0, 0x68, 0x69, 0x8a, 2, 0xff, 0x7f, 0x65, 0x68, 0, 0x86, 0x2e]);
      return [state, listy].map((b) => ({ bytes: b, fields: pickleFields(b) }));
    },
    parse: (bytes) => unpickle(bytes, { source: 'fuzz.pkl', globals: pickleGlobals, persistentLoad: (pid) => pid }),
  },
  {
    name: 'idx',
    async seeds() {
      const images = writeIdx([3, 4, 4], Uint8Array.from({ length: 48 }, (_, i) => i * 5));
      const labels = writeIdx([5], new Uint8Array([0, 1, 2, 9, 4]));
      return [images, labels].map((b) => ({ bytes: b, fields: Array.from({ length: b[3]! }, (_, d) => ({ at: 4 + 4 * d, width: 4 as const, little: false })) }));
    },
    parse: (bytes) => readIdx(bytes, 'fuzz-idx'),
  },
  {
    name: 'idx-gz',
    async seeds() {
      const images = writeIdx([3, 4, 4], Uint8Array.from({ length: 48 }, (_, i) => i * 5));
      const gz = gzipSync(images);
      const trailer = [le(gz.length - 8, 4), le(gz.length - 4, 4)];
      return [{ bytes: gz, fields: trailer }, { bytes: gzipSync(images, { level: 0 }), fields: trailer }];
    },
    parse: (bytes) => readIdx(bytes, 'fuzz-idx.gz'),
  },
  {
    name: 'idx-gz-inner',
    async seeds() {
      const images = writeIdx([3, 4, 4], Uint8Array.from({ length: 48 }, (_, i) => i * 5));
      return [{ bytes: images, fields: [0, 1, 2].map((d) => ({ at: 4 + 4 * d, width: 4 as const, little: false })) }];
    },
    wrap: (inner) => gzipSync(inner),
    parse: (bytes) => readIdx(bytes, 'fuzz-idx.gz'),
  },
  {
    name: 'cifar',
    async seeds() {
      const images = Uint8Array.from({ length: 2 * 3072 }, (_, i) => i & 0xff);
      return [{ bytes: writeCifarBatch(images, new Uint8Array([3, 9])), fields: [] }];
    },
    parse: (bytes) => readCifarBatch(bytes, 'fuzz.bin'),
  },
  {
    name: 'image',
    async seeds() {
      const raw = Buffer.from(Uint8Array.from({ length: 8 * 6 * 3 }, (_, i) => (i * 37) & 0xff));
      const image = () => sharp(raw, { raw: { width: 8, height: 6, channels: 3 } });
      const png = new Uint8Array(await image().png().toBuffer());
      const jpeg = new Uint8Array(await image().jpeg().toBuffer());
      // PNG: IHDR width and height (big-endian) at 16 and 20, chunk lengths; JPEG: SOF0 height/width found by search
      const pngFields: LengthField[] = [{ at: 8, width: 4, little: false }, { at: 16, width: 4, little: false }, { at: 20, width: 4, little: false }, { at: 33, width: 4, little: false }];
      const sof = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xc0);
      const jpegFields: LengthField[] = sof > 0 ? [{ at: sof + 2, width: 2, little: false }, { at: sof + 5, width: 2, little: false }, { at: sof + 7, width: 2, little: false }] : [];
      return [{ bytes: png, fields: pngFields }, { bytes: jpeg, fields: jpegFields }];
    },
    parse: (bytes) => decodeImage(bytes),
  },
  {
    name: 'onnx',
    async seeds() {
      const bytes = exportOnnx(createNet('resnet20', { width: 1, classes: 3, inChannels: 1 }), { batch: 1, inputSize: [4, 4] });
      return [{ bytes, fields: [] }];
    },
    parse: (bytes) => decodeModel(bytes, 'fuzz.onnx'),
  },
  {
    name: 'tar',
    async seeds() {
      const hello = new TextEncoder().encode('hello, world');
      const tar = tarball([{ name: 'top/', type: '5' }, { name: 'top/a.txt', content: hello }, { name: 'top/b.bin', content: new Uint8Array(700) }], false);
      return [{ bytes: tar, fields: tarFields(tar) }];
    },
    wrap: (inner) => gzipSync(inner),
    async parse(bytes, scratch) {
      const archive = scratchFile(scratch, 'a.tar.gz', bytes);
      const out = join(scratch, `out-${scratchCount}`);
      try {
        return await safeExtractTarGz(archive, out, 1);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'checkpoint',
    async seeds() {
      const old = fixture('legacy/checkpoint-v1.safetensors');
      const dir = mkdtempSync(join(tmpdir(), 'fuzz-seed-'));
      try {
        const info = readCheckpoint(join(FIXTURES, 'legacy/checkpoint-v1.safetensors'));
        const net = createNet('resnet20', { ...info.options, width: 1, skipInit: true });
        const path = join(dir, 'c.safetensors');
        writeCheckpoint(path, net, new SGD(net.parameters(), { lr: 0.1 }), { ...info, options: net.options });
        const fresh = new Uint8Array(readFileSync(path));
        return [old, fresh].map((b) => ({ bytes: b, fields: safetensorsFields(b) }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    parse: (bytes, scratch) => readCheckpoint(scratchFile(scratch, 'checkpoint.safetensors', bytes)),
  },
  {
    name: 'weights',
    async seeds() {
      const old = fixture('legacy/model-v1.safetensors');
      const dir = mkdtempSync(join(tmpdir(), 'fuzz-seed-'));
      try {
        const path = join(dir, 'w.safetensors');
        saveWeights(path, createNet('resnet20', { width: 1, classes: 3 }));
        return [old, new Uint8Array(readFileSync(path))].map((b) => ({ bytes: b, fields: safetensorsFields(b) }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    parse: (bytes, scratch) => loadNet(scratchFile(scratch, 'weights.safetensors', bytes)),
  },
];
