// Builders of small hostile files for the tests of the readers' limits and the fuzz tests: pickles
// opcode by opcode, torch zip archives around them, gzip members with chosen trailers.

import { gzipSync, zipSync } from 'fflate';

/** A pickle written opcode by opcode (protocol 2, the subset pickle.ts reads). */
export class PickleWriter {
  private readonly parts: number[] = [];

  op(...bytes: number[]): this {
    for (const b of bytes) this.parts.push(b);
    return this;
  }

  /** 'J' i32, or LONG1 beyond it. */
  int(v: number): this {
    if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      return this.op(0x4a, ...b);
    }
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
    return this.op(0x8a, 8, ...b);
  }

  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x8c, b.length, ...b);
  }

  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }

  mark(): this {
    return this.op(0x28);
  }

  tuple(): this {
    return this.op(0x74);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface TensorSpec {
  name: string;
  storage: string; // key of the storage
  numel: number; // elements of the storage
  offset?: number;
  shape: number[];
  stride: number[];
}

/**
 * data.pkl of a torch zip file holding an OrderedDict of the given tensors (float32 storages);
 * `legacy`: the object pickle of a legacy (torch < 1.6) file, whose persistent ids end with a view.
 */
export function stateDictPickle(tensors: TensorSpec[], legacy = false): Uint8Array {
  const p = new PickleWriter().op(0x80, 2);
  p.global('collections', 'OrderedDict').op(0x29, 0x52); // OrderedDict()
  p.mark();
  for (const t of tensors) {
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'FloatStorage').str(t.storage).str('cpu').int(t.numel);
    if (legacy) p.op(0x4e); // no view
    p.tuple().op(0x51); // BINPERSID
    p.int(t.offset ?? 0);
    p.mark();
    for (const d of t.shape) p.int(d);
    p.tuple().mark();
    for (const s of t.stride) p.int(s);
    p.tuple().op(0x89); // requires_grad False
    p.global('collections', 'OrderedDict').op(0x29, 0x52);
    p.tuple().op(0x52); // REDUCE
  }
  return p.op(0x75, 0x2e).bytes(); // SETITEMS, STOP
}

/** A torch zip file (entries stored, as torch writes them): archive/data.pkl and archive/data/<key>. */
export function pthZip(pickle: Uint8Array, storages: Record<string, Float32Array>): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    'archive/data.pkl': [pickle, { level: 0 }],
    'archive/byteorder': [new TextEncoder().encode('little'), { level: 0 }],
  };
  for (const [key, data] of Object.entries(storages)) files[`archive/data/${key}`] = [new Uint8Array(data.buffer.slice(0)), { level: 0 }];
  return zipSync(files);
}

/** A legacy torch file: magic, protocol, system info, the object, the storage keys, then the storages. */
export function pthLegacy(tensors: TensorSpec[], storages: Record<string, Float32Array>): Uint8Array {
  const magic = new PickleWriter().op(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e).bytes();
  const protocol = new PickleWriter().op(0x80, 2).int(1001).op(0x2e).bytes();
  const sysInfo = new PickleWriter().op(0x80, 2, 0x7d).str('little_endian').op(0x88, 0x73, 0x2e).bytes(); // {'little_endian': True}
  const keys = new PickleWriter().op(0x80, 2, 0x5d).mark();
  for (const key of Object.keys(storages)) keys.str(key);
  const parts = [magic, protocol, sysInfo, stateDictPickle(tensors, true), keys.op(0x65, 0x2e).bytes()];
  for (const data of Object.values(storages)) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(data.length), true);
    parts.push(count, new Uint8Array(data.buffer.slice(0)));
  }
  return concat(...parts);
}

/** The parts one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A valid one-tensor .pth: the tensor 'w' of shape [2, 3]. */
export function smallPth(): Uint8Array {
  const data = Float32Array.from({ length: 6 }, (_, i) => i / 2);
  return pthZip(stateDictPickle([{ name: 'w', storage: '0', numel: 6, shape: [2, 3], stride: [3, 1] }]), { '0': data });
}

/** Offset of the end of central directory record of a zip. */
export function eocdOffset(zip: Uint8Array): number {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  for (let i = zip.length - 22; i >= 0; i--) if (view.getUint32(i, true) === 0x06054b50) return i;
  throw new Error('no end of central directory record');
}

/** A minimal ustar archive (gzipped unless `gzip` is false): entries of (name, content, typeflag '0' file / '2' symlink / '5' dir). */
export function tarball(entries: { name: string; content?: Uint8Array; type?: string; link?: string }[], gzip = true): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const e of entries) {
    const content = e.content ?? new Uint8Array(0);
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(enc.encode(s), at);
    put(e.name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(content.length.toString(8).padStart(11, '0') + '\0', 124);
    put('00000000000\0', 136);
    put('        ', 148);
    put(e.type ?? '0', 156);
    if (e.link) put(e.link, 157);
    put('ustar\0' + '00', 257);
    const sum = h.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    const body = new Uint8Array(Math.ceil(content.length / 512) * 512);
    body.set(content);
    blocks.push(body);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return gzip ? gzipSync(out) : out;
}

