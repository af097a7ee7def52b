// PyTorch .pth / .pt files (torch.save) read without Python: state dicts of float or integer tensors.
//
// Two layouts exist:
//   - zip (torch >= 1.6, the default since): an archive with one top folder (its name varies, often
//     the file's stem) holding `data.pkl`, a pickle of the saved object in which every tensor refers
//     to its storage by a persistent id ('storage', torch.FloatStorage, key, location, numel), and
//     `data/<key>`, the storage's raw little-endian bytes;
//   - legacy (torch < 1.6, or _use_new_zipfile_serialization=False): SUPPORTED. Five pickles back to
//     back — a magic number, the protocol version (1001), system info (endianness, type sizes), the
//     object (persistent id ('storage', type, key, location, numel, view)), the sorted list of storage
//     keys — then each storage as an int64 element count and its bytes. The older tar layout
//     (torch < 0.4) is refused with a message asking to re-save the file with a newer torch.
//
// Pickles are read by the restricted unpickler (./pickle.ts) with the allow-list below: the
// functions torch uses to rebuild tensors, parameters and OrderedDicts, and the storage types. They
// are implemented here in TypeScript; nothing in the file is executed.
//
// A tensor is rebuilt from (storage, storage offset, size, stride) honouring the strides, so views
// (transposed, sliced, expanded, several tensors sharing a storage) come out as torch shows them.
// Every value is converted to float32, as the safetensors reader does.

import { unzipSync } from 'fflate';
import { isTuple, PickleDict, describe, unpickle, type PickleGlobal, type UnpickleOptions } from './pickle.js';
import { f16ToF32, type SafeDType, type StoredTensor } from './safetensors.js';

/** dtypes a .pth storage can have here: safetensors' plus int32. */
export type PthDType = SafeDType | 'I32';

/** A tensor as read from a .pth file: like safetensors' StoredTensor, `data` always float32. */
export interface PthTensor extends Omit<StoredTensor, 'dtype'> {
  dtype: PthDType; // the dtype of the storage in the file
}

/** Storage classes torch names in persistent ids: dtype and bytes per element. */
const STORAGE_TYPES: Record<string, { dtype: PthDType; itemSize: number }> = {
  FloatStorage: { dtype: 'F32', itemSize: 4 },
  DoubleStorage: { dtype: 'F64', itemSize: 8 },
  HalfStorage: { dtype: 'F16', itemSize: 2 },
  BFloat16Storage: { dtype: 'BF16', itemSize: 2 },
  LongStorage: { dtype: 'I64', itemSize: 8 },
  IntStorage: { dtype: 'I32', itemSize: 4 },
};

/** The most elements one tensor may have (2^31 - 1: a typed array's limit; 8 GB of float32). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** The checkpoint keys under which training scripts commonly nest the state dict. */
const WRAPPER_KEYS = ['state_dict', 'model'];

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Reads a state dict from a torch.save file (zip or legacy). A checkpoint of the form
 * {'state_dict': {...}, ...} or {'model': {...}, ...} is unwrapped. Every value must be a tensor.
 */
export function readPth(bytes: Uint8Array, source = '.pth file'): Map<string, PthTensor> {
  const root = readPthObject(bytes, source);
  const dict = findStateDict(root, source);
  const out = new Map<string, PthTensor>();
  for (const [key, value] of dict) {
    if (typeof key !== 'string') throw new Error(`${source}: state dict key ${describe(key)} is not a string`);
    if (!(value instanceof TensorRef)) throw new Error(`${source}: state dict entry '${key}' is ${describe(value)}, not a tensor`);
    out.set(key, value.materialize(source));
  }
  return out;
}

/**
 * Reads the whole saved object: dicts as PickleDict (a Map), tensors as TensorRef (call
 * `materialize()`), other values as pickle.ts maps them.
 */
export function readPthObject(input: Uint8Array, source = '.pth file'): unknown {
  // A plain view: on a Node Buffer, slice() would share memory instead of copying.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isZip(bytes)) return readZipFormat(bytes, source);
  if (isTar(bytes)) {
    throw new Error(`${source}: this is the tar-based torch.save format of torch < 0.4, which is not supported; re-save it with a newer torch (torch.save(torch.load(f), f2))`);
  }
  if (bytes.length > 0 && bytes[0] === 0x80) return readLegacyFormat(bytes, source);
  throw new Error(`${source}: not a torch.save file (neither a zip archive nor a pickle)`);
}

/** A tensor awaiting its storage bytes (legacy files store them after the pickle). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number, // in elements
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  /** Gathers the elements (C order) following offset and strides; checks they lie in the storage. */
  materialize(source: string): PthTensor {
    const { storage, offset, shape, stride } = this;
    const values = storage.values(source);
    const numel = shape.reduce((a, b) => a * b, 1);
    // A stride-0 view can claim any size over a tiny storage: bound it before allocating.
    if (!Number.isSafeInteger(numel) || numel > MAX_ELEMENTS) {
      throw new Error(`${source}: tensor of shape [${shape.join(', ')}] is too large (${numel} elements)`);
    }
    const data = new Float32Array(numel);
    if (numel > 0) {
      let last = offset; // the largest index reached: strides are non-negative
      for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
      if (last >= values.length) {
        throw new Error(`${source}: tensor of shape [${shape.join(', ')}], stride [${stride.join(', ')}] at offset ${offset} reaches element ${last} of a storage of ${values.length}`);
      }
      gather(values, offset, shape, stride, data);
    }
    return { dtype: storage.dtype, shape: shape.slice(), data };
  }
}

/** One storage: its dtype, element count and (once read) its bytes. */
export class StorageRef {
  bytes: Uint8Array | null = null;
  private decoded: Float32Array | null = null;

  constructor(
    readonly key: string,
    readonly dtype: PthDType,
    readonly itemSize: number,
    readonly numel: number,
  ) {}

  /** The storage decoded to float32 (once; views share it). */
  values(source: string): Float32Array {
    if (this.decoded === null) {
      if (this.bytes === null) throw new Error(`${source}: storage '${this.key}' has no data`);
      this.decoded = decodeStorage(this.dtype, this.itemSize, this.bytes, (p) => {
        throw new Error(`${source}: storage '${this.key}': ${p}`);
      });
    }
    return this.decoded;
  }
}

// ---------------------------------------------------------------------------------------------
// The allow-list: every global a state dict needs, as TypeScript stand-ins

function torchGlobals(): Map<string, PickleGlobal> {
  const globals = new Map<string, PickleGlobal>();
  const add = (name: string, call?: (args: readonly unknown[]) => unknown) => globals.set(name, { name, call });

  // OrderedDict() or OrderedDict([(k, v), ...]); items usually follow by SETITEMS.
  add('collections.OrderedDict', (args) => {
    const dict = new PickleDict();
    if (args.length > 1) throw new Error(`OrderedDict takes at most 1 argument, got ${args.length}`);
    if (args.length === 1) {
      if (!Array.isArray(args[0])) throw new Error(`OrderedDict argument is ${describe(args[0])}, not a list of pairs`);
      for (const pair of args[0] as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new Error('OrderedDict items must be (key, value) pairs');
        dict.set(pair[0], pair[1]);
      }
    }
    return dict;
  });

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  add('torch._utils._rebuild_tensor_v2', (args) => {
    if (args.length < 6 || args.length > 7) throw new Error(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new Error(`_rebuild_tensor_v2: storage is ${describe(storage)}`);
    const shape = intTuple(size, 'size');
    const strides = intTuple(stride, 'stride');
    if (strides.length !== shape.length) throw new Error(`_rebuild_tensor_v2: size [${shape}] and stride [${strides}] differ in length`);
    if (!isCount(offset)) throw new Error(`_rebuild_tensor_v2: storage offset ${describe(offset)} is not a non-negative integer`);
    return new TensorRef(storage, offset as number, shape, strides);
  });

  // nn.Parameter(data, requires_grad): the parameter is its data here.
  const rebuildParameter = (args: readonly unknown[]) => {
    if (!(args[0] instanceof TensorRef)) throw new Error(`_rebuild_parameter: data is ${describe(args[0])}, not a tensor`);
    return args[0];
  };
  add('torch._utils._rebuild_parameter', rebuildParameter);
  add('torch._utils._rebuild_parameter_with_state', rebuildParameter);

  // Storage classes are never called: they only name the dtype inside persistent ids.
  for (const name of Object.keys(STORAGE_TYPES)) add(`torch.${name}`);
  return globals;
}

function storageTypeOf(v: unknown): { dtype: PthDType; itemSize: number } {
  const name = typeof v === 'object' && v !== null ? (v as PickleGlobal).name : undefined;
  const type = typeof name === 'string' && name.startsWith('torch.') ? STORAGE_TYPES[name.slice(6)] : undefined;
  if (type === undefined) throw new Error(`persistent id names ${describe(v)}, not a storage type`);
  return type;
}

// ---------------------------------------------------------------------------------------------
// zip layout

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // "PK\3\4": a local file header

function isZip(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => bytes[i] === b);
}

/** POSIX tar: "ustar" at offset 257. */
function isTar(bytes: Uint8Array): boolean {
  return bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar';
}

function readZipFormat(bytes: Uint8Array, source: string): unknown {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${source}: corrupt or truncated zip archive (${(e as Error).message})`);
  }
  verifyCrcs(bytes, files, source);
  const pickles = Object.keys(files).filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw new Error(`${source}: expected one '<folder>/data.pkl' in the zip archive, found ${pickles.length ? pickles.join(', ') : 'none'}`);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = files[`${prefix}byteorder`];
  if (byteorder !== undefined && new TextDecoder().decode(byteorder).trim() !== 'little') {
    throw new Error(`${source}: storages are big-endian; only little-endian files are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', storage_type, key, location, numel)
    if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') throw new Error(`unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel] = pid;
    const { dtype, itemSize } = storageTypeOf(type);
    if (typeof key !== 'string' || !isCount(numel)) throw new Error(`malformed storage persistent id (key ${describe(key)}, numel ${describe(numel)})`);
    let storage = storages.get(key);
    if (storage === undefined) {
      const data = files[`${prefix}data/${key}`];
      if (data === undefined) throw new Error(`storage '${key}' is missing from the archive (no ${prefix}data/${key})`);
      if (data.length !== (numel as number) * itemSize) {
        throw new Error(`storage '${key}' holds ${data.length} bytes, expected ${numel as number} × ${itemSize}`);
      }
      storage = new StorageRef(key, dtype, itemSize, numel as number);
      storage.bytes = data;
      storages.set(key, storage);
    } else if (storage.dtype !== dtype) {
      throw new Error(`storage '${key}' is used as both ${storage.dtype} and ${dtype}`);
    }
    return storage;
  };
  return unpickle(files[pickles[0]!]!, { source: `${source} (${pickles[0]})`, globals: torchGlobals(), persistentLoad }).value;
}

/**
 * Checks every extracted file against the CRC-32 recorded in the central directory (fflate does not),
 * so that a damaged byte inside a stored tensor is an error rather than a wrong weight. A recorded
 * CRC of 0 on a non-empty file means the writer skipped it (torch can be told to), and is not checked.
 */
function verifyCrcs(bytes: Uint8Array, files: Record<string, Uint8Array>, source: string): void {
  for (const [name, crc] of centralDirectoryCrcs(bytes, source)) {
    const data = files[name];
    if (data === undefined || (crc === 0 && data.length > 0)) continue;
    const actual = crc32(data);
    if (actual !== crc) {
      throw new Error(`${source}: corrupt zip archive: '${name}' has CRC-32 ${hex(actual)}, the archive records ${hex(crc)}`);
    }
  }
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

/** name → CRC-32 from the zip's central directory (ZIP64 included). The archive already unzipped. */
function centralDirectoryCrcs(bytes: Uint8Array, source: string): Map<string, number> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (): never => {
    throw new Error(`${source}: corrupt zip archive: unreadable central directory`);
  };
  // End of central directory record: 22 bytes + a comment of at most 65535, at the end of the file.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail();
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || offset === 0xffffffff) {
    // ZIP64: a locator just before the record points at the ZIP64 end of central directory record.
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) fail();
    const zip64 = Number(view.getBigUint64(locator + 8, true));
    if (zip64 + 56 > bytes.length || view.getUint32(zip64, true) !== 0x06064b50) fail();
    count = Number(view.getBigUint64(zip64 + 32, true));
    offset = Number(view.getBigUint64(zip64 + 48, true));
  }
  const crcs = new Map<string, number>();
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== 0x02014b50) fail();
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    if (offset + 46 + nameLength > bytes.length) fail();
    const name = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    crcs.set(name, view.getUint32(offset + 16, true));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return crcs;
}

/** CRC-32 (the zip/PNG polynomial 0xEDB88320, reflected), table-driven. */
let CRC_TABLE: Uint32Array | null = null;

function crc32(data: Uint8Array): number {
  if (CRC_TABLE === null) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const table = CRC_TABLE;
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// legacy layout

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function readLegacyFormat(bytes: Uint8Array, source: string): unknown {
  const plain: UnpickleOptions = { source, globals: new Map<string, PickleGlobal>() };
  let pos = 0;
  const next = (options: UnpickleOptions = plain): unknown => {
    const { value, end } = unpickle(bytes, options, pos);
    pos = end;
    return value;
  };
  const magic = next();
  if (magic !== LEGACY_MAGIC) throw new Error(`${source}: not a torch.save file (a pickle without torch's magic number)`);
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) throw new Error(`${source}: unsupported legacy protocol version ${describe(protocol)}`);
  const sysInfo = next();
  if (sysInfo instanceof PickleDict && sysInfo.get('little_endian') === false) {
    throw new Error(`${source}: saved on a big-endian machine; only little-endian files are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', storage_type, root_key, location, numel, view_metadata)
    if (!isTuple(pid) || pid.length !== 6 || pid[0] !== 'storage') throw new Error(`unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel, view] = pid;
    if (view !== null) throw new Error('storage views (torch < 1.0 files) are not supported; re-save the file with a newer torch');
    const { dtype, itemSize } = storageTypeOf(type);
    if (typeof key !== 'string' || !isCount(numel)) throw new Error(`malformed storage persistent id (key ${describe(key)}, numel ${describe(numel)})`);
    let storage = storages.get(key);
    if (storage === undefined) {
      storage = new StorageRef(key, dtype, itemSize, numel as number);
      storages.set(key, storage);
    }
    return storage;
  };
  const root = next({ source, globals: torchGlobals(), persistentLoad });
  const keys = next();
  if (!Array.isArray(keys)) throw new Error(`${source}: the storage key list is ${describe(keys)}`);

  // The storages follow in the order of `keys`: int64 element count, then the bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const storage = typeof key === 'string' ? storages.get(key) : undefined;
    if (storage === undefined) throw new Error(`${source}: storage key ${describe(key)} is not used by any tensor`);
    if (pos + 8 > bytes.length) throw new Error(`${source}: truncated: storage '${key as string}' is missing`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(storage.numel)) {
      throw new Error(`${source}: storage '${key as string}' has ${count} elements in the data, ${storage.numel} in the pickle`);
    }
    const length = storage.numel * storage.itemSize;
    if (pos + 8 + length > bytes.length) throw new Error(`${source}: truncated: storage '${key as string}' needs ${length} bytes, ${bytes.length - pos - 8} left`);
    storage.bytes = bytes.slice(pos + 8, pos + 8 + length);
    pos += 8 + length;
  }
  for (const storage of storages.values()) {
    if (storage.bytes === null) throw new Error(`${source}: storage '${storage.key}' is not in the storage key list`);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** The state dict itself, or the one nested under a wrapper key. */
function findStateDict(root: unknown, source: string): PickleDict {
  if (!(root instanceof PickleDict)) throw new Error(`${source}: holds ${describe(root)}, not a state dict`);
  const isTensorDict = (d: PickleDict) => [...d.values()].every((v) => v instanceof TensorRef);
  if (isTensorDict(root)) return root;
  for (const key of WRAPPER_KEYS) {
    const inner = root.get(key);
    if (inner instanceof PickleDict && isTensorDict(inner)) return inner;
  }
  const keys = [...root.keys()].map(String).slice(0, 8).join(', ');
  throw new Error(`${source}: not a state dict (a dict of tensors), nor a checkpoint with one under ${WRAPPER_KEYS.map((k) => `'${k}'`).join(' or ')}; top-level keys: ${keys}`);
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isCount)) throw new Error(`_rebuild_tensor_v2: ${what} is ${describe(v)}, not a tuple of non-negative integers`);
  return (v as number[]).slice();
}

/**
 * out[i] = values[offset + Σ index_d · stride_d] over the indices of `shape` in C order, walked with an
 * odometer (no recursion). The innermost dimension is a tight loop.
 */
function gather(values: Float32Array, offset: number, shape: number[], stride: number[], out: Float32Array): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = values[offset]!;
    return;
  }
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let base = offset; // storage index of the start of the current innermost row
  for (let o = 0; o < out.length; o += inner) {
    for (let i = 0; i < inner; i++) out[o + i] = values[base + i * innerStride]!;
    // advance the odometer over the outer dimensions
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      base += stride[d]!;
      if (index[d]! < shape[d]!) break;
      base -= index[d]! * stride[d]!;
      index[d] = 0;
    }
  }
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Raw little-endian storage bytes → float32 values. */
function decodeStorage(dtype: PthDType, itemSize: number, raw: Uint8Array, fail: (p: string) => never): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = raw.length / itemSize;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (HOST_LITTLE_ENDIAN) out.set(new Float32Array(raw.slice().buffer)); // the common case, fast
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      // the top half of a float32: shift the bits up (exact)
      const bits = new Uint32Array(1);
      const asFloat = new Float32Array(bits.buffer);
      for (let i = 0; i < n; i++) {
        bits[0] = view.getUint16(2 * i, true) << 16;
        out[i] = asFloat[0]!;
      }
      break;
    }
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'I64': {
      const limit = 2n ** 53n;
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > limit || v < -limit) fail(`I64 value ${v} at index ${i} is beyond 2^53`);
        out[i] = Number(v);
      }
      break;
    }
  }
  return out;
}
