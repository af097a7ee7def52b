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

import { FormatError, LimitError } from './errors.js';
import { crc32, hex, inflateExact } from './inflate.js';
import { DECODED_ALLOWANCE, type ReadLimits, checkLimit, inflateBound, readLimits } from './limits.js';
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

/** Float32 bytes the tensors of a file may still decode to (limits.maxDecodedRatio). */
export interface DecodeBudget {
  bytes: number;
  /** The limit it was made from, for the message. */
  ratio: number;
}

/** The decode budget of a file of `fileBytes` bytes. */
export function decodeBudget(fileBytes: number, limits: ReadLimits): DecodeBudget {
  return { bytes: limits.maxDecodedRatio * fileBytes + DECODED_ALLOWANCE, ratio: limits.maxDecodedRatio };
}

/** The checkpoint keys under which training scripts commonly nest the state dict. */
const WRAPPER_KEYS = ['state_dict', 'model'];

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Reads a state dict from a torch.save file (zip or legacy). A checkpoint of the form
 * {'state_dict': {...}, ...} or {'model': {...}, ...} is unwrapped. Every value must be a tensor.
 */
export function readPth(bytes: Uint8Array, source = '.pth file', limits?: Partial<ReadLimits>): Map<string, PthTensor> {
  const lim = readLimits(limits);
  const root = readPthObject(bytes, source, lim);
  const dict = findStateDict(root, source);
  const budget = decodeBudget(bytes.length, lim);
  const out = new Map<string, PthTensor>();
  for (const [key, value] of dict) {
    if (typeof key !== 'string') throw new FormatError(`${source}: state dict key ${describe(key)} is not a string`);
    if (!(value instanceof TensorRef)) throw new FormatError(`${source}: state dict entry '${key}' is ${describe(value)}, not a tensor`);
    out.set(key, value.materialize(source, budget));
  }
  return out;
}

/**
 * Reads the whole saved object: dicts as PickleDict (a Map), tensors as TensorRef (call
 * `materialize()`), other values as pickle.ts maps them.
 */
export function readPthObject(input: Uint8Array, source = '.pth file', limits?: Partial<ReadLimits>): unknown {
  const lim = readLimits(limits);
  // A plain view: on a Node Buffer, slice() would share memory instead of copying.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isZip(bytes)) return readZipFormat(bytes, source, lim);
  if (isTar(bytes)) {
    throw new FormatError(`${source}: this is the tar-based torch.save format of torch < 0.4, which is not supported; re-save it with a newer torch (torch.save(torch.load(f), f2))`);
  }
  if (bytes.length > 0 && bytes[0] === 0x80) return readLegacyFormat(bytes, source, lim);
  throw new FormatError(`${source}: not a torch.save file (neither a zip archive nor a pickle)`);
}

/** A tensor awaiting its storage bytes (legacy files store them after the pickle). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number, // in elements
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  /**
   * Gathers the elements (C order) following offset and strides; checks they lie in the storage.
   * Their float32 bytes are taken from `budget` (a stride-0 view, or many tensors on one storage,
   * can claim any size over a tiny storage: it is bounded before anything is allocated).
   */
  materialize(source: string, budget: DecodeBudget = decodeBudget(0, readLimits())): PthTensor {
    const { storage, offset, shape, stride } = this;
    const numel = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel) || numel > MAX_ELEMENTS) {
      throw new FormatError(`${source}: tensor of shape [${shape.join(', ')}] is too large (${numel} elements)`);
    }
    if (4 * numel > budget.bytes) {
      throw new LimitError((n) =>
        `${source}: tensor of shape [${shape.join(', ')}] (${numel} elements) would take the tensors decoded from this file past the ` +
          `limit of ${budget.ratio} float32 bytes per byte of file (maxDecodedRatio); if the file is genuine, raise it: ${n.readLimit('maxDecodedRatio')}`);
    }
    budget.bytes -= 4 * numel;
    const values = storage.values(source);
    const data = new Float32Array(numel);
    if (numel > 0) {
      let last = offset; // the largest index reached: strides are non-negative
      for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
      if (last >= values.length) {
        throw new FormatError(`${source}: tensor of shape [${shape.join(', ')}], stride [${stride.join(', ')}] at offset ${offset} reaches element ${last} of a storage of ${values.length}`);
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
      if (this.bytes === null) throw new FormatError(`${source}: storage '${this.key}' has no data`);
      this.decoded = decodeStorage(this.dtype, this.itemSize, this.bytes, (p) => {
        throw new FormatError(`${source}: storage '${this.key}': ${p}`);
      });
    }
    return this.decoded;
  }
}

// ---------------------------------------------------------------------------------------------
// The allow-list: every global a state dict needs, as TypeScript stand-ins

function torchGlobals(limits: ReadLimits): Map<string, PickleGlobal> {
  const globals = new Map<string, PickleGlobal>();
  const add = (name: string, call?: (args: readonly unknown[]) => unknown) => globals.set(name, { name, call });

  // OrderedDict() or OrderedDict([(k, v), ...]); items usually follow by SETITEMS.
  add('collections.OrderedDict', (args) => {
    const dict = new PickleDict();
    if (args.length > 1) throw new FormatError(`OrderedDict takes at most 1 argument, got ${args.length}`);
    if (args.length === 1) {
      if (!Array.isArray(args[0])) throw new FormatError(`OrderedDict argument is ${describe(args[0])}, not a list of pairs`);
      for (const pair of args[0] as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new FormatError('OrderedDict items must be (key, value) pairs');
        dict.set(pair[0], pair[1]);
      }
    }
    return dict;
  });

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  add('torch._utils._rebuild_tensor_v2', (args) => {
    if (args.length < 6 || args.length > 7) throw new FormatError(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new FormatError(`_rebuild_tensor_v2: storage is ${describe(storage)}`);
    const shape = intTuple(size, 'size', limits);
    const strides = intTuple(stride, 'stride', limits);
    if (strides.length !== shape.length) throw new FormatError(`_rebuild_tensor_v2: size [${shape}] and stride [${strides}] differ in length`);
    if (!isCount(offset)) throw new FormatError(`_rebuild_tensor_v2: storage offset ${describe(offset)} is not a non-negative integer`);
    return new TensorRef(storage, offset as number, shape, strides);
  });

  // nn.Parameter(data, requires_grad): the parameter is its data here.
  const rebuildParameter = (args: readonly unknown[]) => {
    if (!(args[0] instanceof TensorRef)) throw new FormatError(`_rebuild_parameter: data is ${describe(args[0])}, not a tensor`);
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
  if (type === undefined) throw new FormatError(`persistent id names ${describe(v)}, not a storage type`);
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

function readZipFormat(bytes: Uint8Array, source: string, limits: ReadLimits): unknown {
  const archive = new ZipArchive(bytes, source, limits);
  const pickles = archive.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw new FormatError(`${source}: expected one '<folder>/data.pkl' in the zip archive, found ${pickles.length ? pickles.slice(0, 8).join(', ') : 'none'}`);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = archive.has(`${prefix}byteorder`) ? archive.read(`${prefix}byteorder`) : undefined;
  if (byteorder !== undefined && new TextDecoder().decode(byteorder).trim() !== 'little') {
    throw new FormatError(`${source}: storages are big-endian; only little-endian files are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', storage_type, key, location, numel)
    if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') throw new FormatError(`unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel] = pid;
    const { dtype, itemSize } = storageTypeOf(type);
    if (typeof key !== 'string' || !isCount(numel)) throw new FormatError(`malformed storage persistent id (key ${describe(key)}, numel ${describe(numel)})`);
    let storage = storages.get(key);
    if (storage === undefined) {
      const name = `${prefix}data/${key}`;
      if (!archive.has(name)) throw new FormatError(`storage '${key}' is missing from the archive (no ${name})`);
      const size = archive.size(name);
      if (size !== (numel as number) * itemSize) {
        throw new FormatError(`storage '${key}' holds ${size} bytes, expected ${numel as number} × ${itemSize}`);
      }
      storage = new StorageRef(key, dtype, itemSize, numel as number);
      storage.bytes = archive.read(name);
      storages.set(key, storage);
    } else if (storage.dtype !== dtype) {
      throw new FormatError(`storage '${key}' is used as both ${storage.dtype} and ${dtype}`);
    }
    return storage;
  };
  const pickle = archive.read(pickles[0]!);
  return unpickle(pickle, { source: `${source} (${pickles[0]})`, globals: torchGlobals(limits), persistentLoad, limits }).value;
}

/** One file of a zip archive, as its central directory records it. */
interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflated
  crc: number;
  compressedSize: number;
  size: number;
  localHeader: number; // offset of the local file header
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/**
 * A zip archive read from its central directory, every count, size and offset checked against the
 * file's length and the limits before use; entries are extracted on demand (stored or deflated,
 * inflation bounded by the recorded size) and checked against their CRC-32, so that a damaged byte
 * inside a stored tensor is an error rather than a wrong weight. A recorded CRC of 0 on a non-empty
 * entry means the writer skipped it (torch can be told to), and is not checked.
 */
class ZipArchive {
  private readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
    private readonly limits: ReadLimits,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readDirectory();
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  size(name: string): number {
    return this.entries.get(name)!.size;
  }

  /** The bytes of an entry (a view on the archive when stored), CRC-checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name)!;
    const where = `${this.source}: zip entry '${name}'`;
    const at = e.localHeader;
    if (at + 30 > this.bytes.length || this.view.getUint32(at, true) !== LOCAL_HEADER) this.fail(`entry '${name}' has no local header at offset ${at}`);
    const start = at + 30 + this.view.getUint16(at + 26, true) + this.view.getUint16(at + 28, true);
    if (start + e.compressedSize > this.bytes.length) {
      this.fail(`entry '${name}' claims ${e.compressedSize} bytes at offset ${start}, past the end of the file (${this.bytes.length} bytes): truncated`);
    }
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) this.fail(`stored entry '${name}' records ${e.compressedSize} bytes compressed, ${e.size} uncompressed`);
      data = raw;
    } else {
      const { bound, name: limit } = inflateBound(e.compressedSize, this.limits);
      checkLimit(where, 'the recorded uncompressed size', e.size, this.limits, limit, bound);
      data = inflateExact(raw, e.size, where);
    }
    if (e.crc !== 0 || data.length === 0) {
      const actual = crc32(data);
      if (actual !== e.crc) this.fail(`corrupt zip archive: '${name}' has CRC-32 ${hex(actual)}, the archive records ${hex(e.crc)}`);
    }
    return data;
  }

  private fail(problem: string): never {
    throw new FormatError(`${this.source}: ${problem.startsWith('corrupt') ? problem : `corrupt or truncated zip archive: ${problem}`}`);
  }

  /** The end of central directory record (ZIP64 included), then every central header. */
  private readDirectory(): void {
    const { bytes, view } = this;
    // The end record: 22 bytes + a comment of at most 65535, at the end of the file.
    let eocd = -1;
    for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
      if (view.getUint32(i, true) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end of central directory record');
    let count = view.getUint16(eocd + 10, true);
    let size = view.getUint32(eocd + 12, true);
    let offset = view.getUint32(eocd + 16, true);
    let end = eocd; // where the central directory must end
    if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
      // ZIP64: a locator just before the record points at the ZIP64 end of central directory record.
      const locator = eocd - 20;
      if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) this.fail('no ZIP64 end of central directory locator');
      const zip64 = u64(view, locator + 8);
      if (zip64 + 56 > locator || view.getUint32(zip64, true) !== ZIP64_EOCD) this.fail('bad ZIP64 end of central directory record');
      count = u64(view, zip64 + 32);
      size = u64(view, zip64 + 40);
      offset = u64(view, zip64 + 48);
      end = zip64;
    }
    checkLimit(this.source, 'the number of zip entries', count, this.limits, 'maxArchiveEntries');
    if (offset + size > end) this.fail(`central directory (${size} bytes at offset ${offset}) runs past its end record at ${end}`);
    if (count * 46 > size) this.fail(`${count} entries cannot fit in a central directory of ${size} bytes`);
    let at = offset;
    const stop = offset + size;
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (at + 46 > stop || view.getUint32(at, true) !== CENTRAL_HEADER) this.fail(`central directory entry ${i} is missing at offset ${at}`);
      const flags = view.getUint16(at + 8, true);
      const method = view.getUint16(at + 10, true);
      const nameLength = view.getUint16(at + 28, true);
      const extraLength = view.getUint16(at + 30, true);
      const commentLength = view.getUint16(at + 32, true);
      const next = at + 46 + nameLength + extraLength + commentLength;
      if (next > stop) this.fail(`central directory entry ${i} runs past the directory's end`);
      const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
      if (flags & 1) this.fail(`entry '${name}' is encrypted`);
      if (method !== 0 && method !== 8) this.fail(`entry '${name}' uses compression method ${method} (only stored and deflated are supported)`);
      if (this.entries.has(name)) this.fail(`entry '${name}' appears twice`);
      const entry: ZipEntry = {
        name, method, crc: view.getUint32(at + 16, true),
        compressedSize: view.getUint32(at + 20, true), size: view.getUint32(at + 24, true), localHeader: view.getUint32(at + 42, true),
      };
      this.readZip64Extra(entry, at + 46 + nameLength, extraLength);
      this.entries.set(name, entry);
      at = next;
    }
  }

  /** Sizes and offset recorded as 0xffffffff are in the ZIP64 extra field (id 1), in this order. */
  private readZip64Extra(e: ZipEntry, start: number, length: number): void {
    const fields = (['size', 'compressedSize', 'localHeader'] as const).filter((f) => e[f] === 0xffffffff);
    if (fields.length === 0) return;
    for (let at = start; at + 4 <= start + length;) {
      const id = this.view.getUint16(at, true);
      const n = this.view.getUint16(at + 2, true);
      if (id === 1) {
        if (n < 8 * fields.length || at + 4 + n > start + length) break;
        fields.forEach((f, i) => { e[f] = u64(this.view, at + 4 + 8 * i); });
        return;
      }
      at += 4 + n;
    }
    this.fail(`entry '${e.name}' lacks the ZIP64 extra field its sizes need`);
  }
}

/** A little-endian u64 as a number; beyond 2^53 it is no real offset or size: refused. */
function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

// ---------------------------------------------------------------------------------------------
// legacy layout

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function readLegacyFormat(bytes: Uint8Array, source: string, limits: ReadLimits): unknown {
  const plain: UnpickleOptions = { source, globals: new Map<string, PickleGlobal>(), limits };
  let pos = 0;
  const next = (options: UnpickleOptions = plain): unknown => {
    const { value, end } = unpickle(bytes, options, pos);
    pos = end;
    return value;
  };
  const magic = next();
  if (magic !== LEGACY_MAGIC) throw new FormatError(`${source}: not a torch.save file (a pickle without torch's magic number)`);
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) throw new FormatError(`${source}: unsupported legacy protocol version ${describe(protocol)}`);
  const sysInfo = next();
  if (sysInfo instanceof PickleDict && sysInfo.get('little_endian') === false) {
    throw new FormatError(`${source}: saved on a big-endian machine; only little-endian files are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    // ('storage', storage_type, root_key, location, numel, view_metadata)
    if (!isTuple(pid) || pid.length !== 6 || pid[0] !== 'storage') throw new FormatError(`unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel, view] = pid;
    if (view !== null) throw new FormatError('storage views (torch < 1.0 files) are not supported; re-save the file with a newer torch');
    const { dtype, itemSize } = storageTypeOf(type);
    if (typeof key !== 'string' || !isCount(numel)) throw new FormatError(`malformed storage persistent id (key ${describe(key)}, numel ${describe(numel)})`);
    let storage = storages.get(key);
    if (storage === undefined) {
      storage = new StorageRef(key, dtype, itemSize, numel as number);
      storages.set(key, storage);
    }
    return storage;
  };
  const root = next({ source, globals: torchGlobals(limits), persistentLoad, limits });
  const keys = next();
  if (!Array.isArray(keys)) throw new FormatError(`${source}: the storage key list is ${describe(keys)}`);

  // The storages follow in the order of `keys`: int64 element count, then the bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const storage = typeof key === 'string' ? storages.get(key) : undefined;
    if (storage === undefined) throw new FormatError(`${source}: storage key ${describe(key)} is not used by any tensor`);
    if (pos + 8 > bytes.length) throw new FormatError(`${source}: truncated: storage '${key as string}' is missing`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(storage.numel)) {
      throw new FormatError(`${source}: storage '${key as string}' has ${count} elements in the data, ${storage.numel} in the pickle`);
    }
    const length = storage.numel * storage.itemSize;
    if (pos + 8 + length > bytes.length) throw new FormatError(`${source}: truncated: storage '${key as string}' needs ${length} bytes, ${bytes.length - pos - 8} left`);
    storage.bytes = bytes.slice(pos + 8, pos + 8 + length);
    pos += 8 + length;
  }
  for (const storage of storages.values()) {
    if (storage.bytes === null) throw new FormatError(`${source}: storage '${storage.key}' is not in the storage key list`);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** The state dict itself, or the one nested under a wrapper key. */
function findStateDict(root: unknown, source: string): PickleDict {
  if (!(root instanceof PickleDict)) throw new FormatError(`${source}: holds ${describe(root)}, not a state dict`);
  const isTensorDict = (d: PickleDict) => [...d.values()].every((v) => v instanceof TensorRef);
  if (isTensorDict(root)) return root;
  for (const key of WRAPPER_KEYS) {
    const inner = root.get(key);
    if (inner instanceof PickleDict && isTensorDict(inner)) return inner;
  }
  const keys = [...root.keys()].map(String).slice(0, 8).join(', ');
  throw new FormatError(`${source}: not a state dict (a dict of tensors), nor a checkpoint with one under ${WRAPPER_KEYS.map((k) => `'${k}'`).join(' or ')}; top-level keys: ${keys}`);
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: unknown, what: string, limits: ReadLimits): number[] {
  if (Array.isArray(v)) checkLimit('_rebuild_tensor_v2', `the length of ${what}`, v.length, limits, 'maxRank');
  if (!Array.isArray(v) || !v.every(isCount)) throw new FormatError(`_rebuild_tensor_v2: ${what} is ${describe(v)}, not a tuple of non-negative integers`);
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
