// A restricted unpickler: reads the subset of Python's pickle format that torch.save writes for a
// state dict, and nothing that could run code.
//
// A pickle is a program for a small stack machine: each opcode pushes a value, builds a container,
// or — the dangerous part — names a Python callable (GLOBAL) and applies it (REDUCE). Python's own
// unpickler imports and calls whatever the file names, so a .pth file can run `os.system`. Here:
//   - GLOBAL / STACK_GLOBAL resolve a name only through the caller's allow-list (`globals`); any other
//     name is refused with an error that names it;
//   - REDUCE, BUILD and BINPERSID apply functions written in TypeScript by the caller;
//   - opcodes that construct arbitrary objects (INST, OBJ, NEWOBJ, EXT*) are not implemented.
// Nothing from the file is ever evaluated. A truncated or malformed pickle raises a PickleError
// naming the source, the opcode and its byte offset.
//
// Bounded: the stack, the memo, the nesting of containers and the size of integers are checked
// against the read limits (./limits.ts); containers are filled item by item (no recursion, no
// spread of file-sized arrays onto the JavaScript stack); the work of the operations that copy an
// existing container (BUILD, REDUCE's arguments) is charged to a budget proportional to the data's
// length, so that repeating them on one large memoized container cannot take quadratic time.
//
// Python values map to JavaScript as: None → null, bool → boolean, int → number (bigint beyond
// ±2^53), float → number, str → string, bytes → Uint8Array, list → unknown[], tuple → a frozen
// unknown[], dict → PickleDict (a Map), allow-listed global → whatever the allow-list returns.
//
// Reference: CPython's Lib/pickle.py and Lib/pickletools.py (opcode semantics and argument formats).

/** What the allow-list maps a 'module.name' to. */
export interface PickleGlobal {
  /** 'module.name', for error messages. */
  readonly name: string;
  /** Present when the global is callable by REDUCE: receives the argument tuple. */
  readonly call?: (args: readonly unknown[]) => unknown;
}

import { FormatError, LimitError } from './errors.js';
import { type ReadLimits, checkLimit, readLimits } from './limits.js';

export interface UnpickleOptions {
  /** Human-readable name of the data (file name), prefixed to every error. */
  source: string;
  /** The allow-list: 'module.name' → the TypeScript stand-in. Everything else is refused. */
  globals: ReadonlyMap<string, PickleGlobal>;
  /** BINPERSID: maps a persistent id (torch: ('storage', type, key, location, numel)) to a value. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Limits on the stack, memo, nesting and integer sizes; default: the process-wide ones. */
  limits?: ReadLimits;
}

/** A Python dict (or OrderedDict). Attributes set by BUILD (OrderedDict's `_metadata`) are kept aside. */
export class PickleDict extends Map<unknown, unknown> {
  attributes: Map<unknown, unknown> = new Map();
}

/** Marker pushed by MARK; never escapes the unpickler. */
const MARK = Symbol('mark');

/** An error in the pickle's content, raised with source, opcode and offset. */
export class PickleError extends FormatError {
  override name = 'PickleError';
}

/** Units of work (items copied by BUILD and REDUCE) allowed per byte of data, over a fixed allowance. */
const WORK_PER_BYTE = 4;
const WORK_ALLOWANCE = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The opcode table: byte → [name, what it does]. Protocol 0 text opcodes and object-construction
// opcodes are absent on purpose; meeting one is an error naming it.

const OP = {
  PROTO: 0x80, //            u8 protocol version (2..5)
  FRAME: 0x95, //            u64 frame length: a framing hint (protocol 4+), nothing to do
  STOP: 0x2e, //             '.' end of pickle: the top of the stack is the result
  MARK: 0x28, //             '(' push a mark: TUPLE, LIST, DICT, APPENDS, SETITEMS pop back to it
  POP: 0x30, //              '0' discard the top of the stack
  POP_MARK: 0x31, //         '1' discard everything down to and including the topmost mark
  DUP: 0x32, //              '2' push the top of the stack again
  NONE: 0x4e, //             'N' push None
  NEWTRUE: 0x88, //          push True
  NEWFALSE: 0x89, //         push False
  BININT: 0x4a, //           'J' i32 little-endian
  BININT1: 0x4b, //          'K' u8
  BININT2: 0x4d, //          'M' u16 little-endian
  LONG1: 0x8a, //            u8 n, then n bytes: a two's-complement little-endian integer
  LONG4: 0x8b, //            i32 n, then n bytes: likewise
  BINFLOAT: 0x47, //         'G' f64 BIG-endian
  BINUNICODE: 0x58, //       'X' u32 n, n bytes of UTF-8
  SHORT_BINUNICODE: 0x8c, // u8 n, n bytes of UTF-8
  BINUNICODE8: 0x8d, //      u64 n, n bytes of UTF-8
  BINBYTES: 0x42, //         'B' u32 n, n bytes
  SHORT_BINBYTES: 0x43, //   'C' u8 n, n bytes
  BINBYTES8: 0x8e, //        u64 n, n bytes
  EMPTY_TUPLE: 0x29, //      ')' push ()
  TUPLE1: 0x85, //           pop 1 item, push a 1-tuple
  TUPLE2: 0x86, //           pop 2 items, push a 2-tuple
  TUPLE3: 0x87, //           pop 3 items, push a 3-tuple
  TUPLE: 0x74, //            't' pop items down to the mark, push them as a tuple
  EMPTY_LIST: 0x5d, //       ']' push []
  LIST: 0x6c, //             'l' pop items down to the mark, push them as a list
  APPEND: 0x61, //           'a' pop x, append it to the list below
  APPENDS: 0x65, //          'e' pop items down to the mark, extend the list below the mark
  EMPTY_DICT: 0x7d, //       '}' push {}
  DICT: 0x64, //             'd' pop key, value pairs down to the mark, push them as a dict
  SETITEM: 0x73, //          's' pop value, key; set them in the dict below
  SETITEMS: 0x75, //         'u' pop key, value pairs down to the mark; set them in the dict below
  BINPUT: 0x71, //           'q' u8 index: memo[index] = top of the stack
  LONG_BINPUT: 0x72, //      'r' u32 index: likewise
  MEMOIZE: 0x94, //          memo[len(memo)] = top of the stack (protocol 4+)
  BINGET: 0x68, //           'h' u8 index: push memo[index]
  LONG_BINGET: 0x6a, //      'j' u32 index: likewise
  GLOBAL: 0x63, //           'c' "module\nname\n": push the named global — allow-list only
  STACK_GLOBAL: 0x93, //     pop name, module (strings): likewise (protocol 4+)
  REDUCE: 0x52, //           'R' pop args tuple, callable; push callable(*args) — allow-list only
  BUILD: 0x62, //            'b' pop state; apply it to the object below (dict attributes only)
  BINPERSID: 0x51, //        'Q' pop a persistent id; push persistentLoad(id)
} as const;

const OPCODE_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));

/** Names of the opcodes we refuse on sight, for a clear message. */
const REFUSED_OPCODES = new Map<number, string>([
  [0x69, 'INST'],
  [0x6f, 'OBJ'],
  [0x81, 'NEWOBJ'],
  [0x92, 'NEWOBJ_EX'],
  [0x82, 'EXT1'],
  [0x83, 'EXT2'],
  [0x84, 'EXT4'],
  [0x50, 'PERSID'],
  [0x49, 'INT'],
  [0x4c, 'LONG'],
  [0x53, 'STRING'],
  [0x54, 'BINSTRING'],
  [0x55, 'SHORT_BINSTRING'],
  [0x56, 'UNICODE'],
  [0x46, 'FLOAT'],
  [0x67, 'GET'],
  [0x70, 'PUT'],
  [0x96, 'BYTEARRAY8'],
  [0x97, 'NEXT_BUFFER'],
  [0x98, 'READONLY_BUFFER'],
  [0x8f, 'EMPTY_SET'],
  [0x90, 'ADDITEMS'],
  [0x91, 'FROZENSET'],
]);

// ---------------------------------------------------------------------------------------------

/**
 * Unpickles `bytes` starting at `start`; returns the value and the offset just after STOP (the
 * legacy torch format is several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): { value: unknown; end: number } {
  // A plain view: on a Node Buffer, slice() would share memory instead of copying.
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new Unpickler(plain, options, start).run();
}

class Unpickler {
  private pos: number;
  private readonly view: DataView;
  private readonly stack: unknown[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly limits: ReadLimits;
  /** MARKs on the stack. */
  private marks = 0;
  /** Work left for operations that copy an existing container. */
  private budget: number;
  /** Offset and name of the opcode being executed, for error messages. */
  private opStart = 0;
  private opName = '';

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
    start: number,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.limits = options.limits ?? readLimits();
    this.budget = WORK_PER_BYTE * (bytes.length - start) + WORK_ALLOWANCE;
  }

  run(): { value: unknown; end: number } {
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= this.bytes.length) {
        this.opName = '';
        this.fail(`truncated: the data ends at byte ${this.pos} before the STOP opcode`);
      }
      const code = this.bytes[this.pos++]!;
      const name = OPCODE_NAMES.get(code);
      if (name === undefined) {
        const refused = REFUSED_OPCODES.get(code);
        this.opName = refused ?? `0x${code.toString(16).padStart(2, '0')}`;
        this.fail(refused !== undefined ? `opcode ${refused} is not supported by this restricted unpickler` : 'unknown opcode');
      }
      this.opName = name;
      if (code === OP.STOP) {
        const value = this.pop();
        if (this.stack.length !== 0) this.fail(`${this.stack.length} value(s) left on the stack at STOP`);
        return { value, end: this.pos };
      }
      this.execute(code);
    }
  }

  /** One opcode (other than STOP). */
  private execute(code: number): void {
    switch (code) {
      case OP.PROTO: {
        const version = this.readU8();
        if (version > 5) this.fail(`unsupported pickle protocol ${version}`);
        return;
      }
      case OP.FRAME:
        this.readU64(); // framing only helps streaming readers; we hold the whole buffer
        return;
      case OP.MARK:
        this.marks++;
        if (this.marks > this.limits.maxPickleNesting) this.limitFail('containers open at once (MARKs)', this.marks, 'maxPickleNesting');
        this.push(MARK);
        return;
      case OP.POP:
        this.pop();
        return;
      case OP.POP_MARK:
        this.popToMark();
        return;
      case OP.DUP:
        this.push(this.peek());
        return;

      // Scalars
      case OP.NONE:
        this.push(null);
        return;
      case OP.NEWTRUE:
        this.push(true);
        return;
      case OP.NEWFALSE:
        this.push(false);
        return;
      case OP.BININT:
        this.push(this.view.getInt32(this.take(4), true));
        return;
      case OP.BININT1:
        this.push(this.readU8());
        return;
      case OP.BININT2:
        this.push(this.view.getUint16(this.take(2), true));
        return;
      case OP.LONG1:
        this.push(this.readLong(this.readU8()));
        return;
      case OP.LONG4: {
        const n = this.view.getInt32(this.take(4), true);
        if (n < 0) this.fail(`negative length ${n}`);
        this.push(this.readLong(n));
        return;
      }
      case OP.BINFLOAT:
        this.push(this.view.getFloat64(this.take(8), false));
        return;

      // Strings and bytes
      case OP.BINUNICODE:
        this.push(this.readUtf8(this.readU32()));
        return;
      case OP.SHORT_BINUNICODE:
        this.push(this.readUtf8(this.readU8()));
        return;
      case OP.BINUNICODE8:
        this.push(this.readUtf8(this.readU64()));
        return;
      case OP.BINBYTES:
        this.push(this.readBytes(this.readU32()));
        return;
      case OP.SHORT_BINBYTES:
        this.push(this.readBytes(this.readU8()));
        return;
      case OP.BINBYTES8:
        this.push(this.readBytes(this.readU64()));
        return;

      // Tuples and lists
      case OP.EMPTY_TUPLE:
        this.push(tuple([]));
        return;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = code - OP.TUPLE1 + 1;
        const items: unknown[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.pop());
        this.push(tuple(items));
        return;
      }
      case OP.TUPLE:
        this.push(tuple(this.popToMark()));
        return;
      case OP.EMPTY_LIST:
        this.push([]);
        return;
      case OP.LIST:
        this.push(this.popToMark());
        return;
      case OP.APPEND: {
        const item = this.pop();
        this.listBelow().push(item);
        return;
      }
      case OP.APPENDS: {
        const items = this.popToMark();
        const list = this.listBelow();
        for (const item of items) list.push(item); // not push(...items): that puts them all on the JS stack
        return;
      }

      // Dicts
      case OP.EMPTY_DICT:
        this.push(new PickleDict());
        return;
      case OP.DICT: {
        const dict = new PickleDict();
        this.setPairs(dict, this.popToMark());
        this.push(dict);
        return;
      }
      case OP.SETITEM: {
        const value = this.pop();
        const key = this.pop();
        this.dictBelow().set(this.checkKey(key), value);
        return;
      }
      case OP.SETITEMS: {
        const items = this.popToMark();
        this.setPairs(this.dictBelow(), items);
        return;
      }

      // Memo
      case OP.BINPUT:
        this.memoSet(this.readU8());
        return;
      case OP.LONG_BINPUT:
        this.memoSet(this.readU32());
        return;
      case OP.MEMOIZE:
        this.memoSet(this.memo.size);
        return;
      case OP.BINGET:
        this.push(this.memoGet(this.readU8()));
        return;
      case OP.LONG_BINGET:
        this.push(this.memoGet(this.readU32()));
        return;

      // Globals, calls, persistent ids: the allow-listed part
      case OP.GLOBAL: {
        const module = this.readLine();
        const name = this.readLine();
        this.push(this.resolveGlobal(module, name));
        return;
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.fail('module and name are not strings');
        this.push(this.resolveGlobal(module as string, name as string));
        return;
      }
      case OP.REDUCE: {
        const args = this.pop();
        const callable = this.pop();
        this.push(this.reduce(callable, args));
        return;
      }
      case OP.BUILD: {
        const state = this.pop();
        this.build(this.peek(), state);
        return;
      }
      case OP.BINPERSID: {
        const pid = this.pop();
        if (this.options.persistentLoad === undefined) this.fail('persistent ids are not expected here');
        this.push(this.call(() => this.options.persistentLoad!(pid)));
        return;
      }
      default:
        this.fail('opcode without an implementation'); // unreachable: OP and this switch agree
    }
  }

  // --- the allow-listed operations -----------------------------------------------------------

  private resolveGlobal(module: string, name: string): PickleGlobal {
    const full = `${module}.${name}`;
    const global = this.options.globals.get(full);
    if (global === undefined) {
      // A pickle may name any Python function (os.system, builtins.eval, …): nothing else is trusted.
      this.fail(`refusing to load the global '${full}': it is not on the allow-list of tensor-rebuilding functions`);
    }
    return global!;
  }

  private reduce(callable: unknown, args: unknown): unknown {
    if (!this.isAllowed(callable) || callable.call === undefined) {
      this.fail(`REDUCE applies ${describe(callable)}, which is not an allowed callable`);
    }
    if (!Array.isArray(args)) this.fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
    // The stand-ins walk their arguments (OrderedDict its list of pairs, the tensor rebuild its tuples).
    this.charge((args as unknown[]).reduce<number>((n, a) => n + sizeOf(a), 1));
    const fn = (callable as PickleGlobal).call!;
    return this.call(() => fn(args as unknown[]));
  }

  /** True only for the very objects of the allow-list (a value built from the file never passes). */
  private isAllowed(v: unknown): v is PickleGlobal {
    for (const g of this.options.globals.values()) if (g === v) return true;
    return false;
  }

  /** BUILD on a dict (OrderedDict): the state is its instance dict, e.g. {'_metadata': …}. */
  private build(target: unknown, state: unknown): void {
    if (!(target instanceof PickleDict)) this.fail(`BUILD on ${describe(target)} is not supported`);
    // state is either a dict, or a (dict, slots dict) pair; both parts are plain attributes here
    const parts = Array.isArray(state) && state.length === 2 ? state : [state];
    this.charge(parts.reduce<number>((n, p) => n + sizeOf(p), 1));
    for (const part of parts) {
      if (part === null) continue;
      if (!(part instanceof PickleDict)) this.fail(`BUILD state is ${describe(part)}, not a dict`);
      for (const [k, v] of part as PickleDict) (target as PickleDict).attributes.set(k, v);
    }
  }

  /** Runs an allow-list function, prefixing its errors with our position. */
  private call(fn: () => unknown): unknown {
    try {
      return fn();
    } catch (e) {
      if (e instanceof PickleError || e instanceof LimitError) throw e;
      return this.fail((e as Error).message);
    }
  }

  /** Spends `n` units of the work budget. */
  private charge(n: number): void {
    this.budget -= n;
    if (this.budget < 0) this.fail('too much work for the size of the data (a large container rebuilt over and over)');
  }

  // --- stack helpers ---------------------------------------------------------------------------

  private push(v: unknown): void {
    if (this.stack.length >= this.limits.maxPickleValues) this.limitFail('values on the stack', this.stack.length + 1, 'maxPickleValues');
    this.stack.push(v);
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    const v = this.stack.pop();
    if (v === MARK) this.fail('found a MARK where a value was expected');
    return v;
  }

  private peek(): unknown {
    const v = this.stack[this.stack.length - 1];
    if (this.stack.length === 0 || v === MARK) this.fail('stack is empty (or ends with a MARK)');
    return v;
  }

  /** Pops everything above the topmost mark, and the mark; returns the items in push order. */
  private popToMark(): unknown[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) this.fail('no MARK on the stack');
    const items = this.stack.splice(at + 1);
    this.stack.pop(); // the mark
    this.marks--;
    return items;
  }

  private listBelow(): unknown[] {
    const list = this.peek();
    if (!Array.isArray(list) || Object.isFrozen(list)) this.fail(`appending to ${describe(list)}, not a list`);
    return list as unknown[];
  }

  private dictBelow(): PickleDict {
    const dict = this.peek();
    if (!(dict instanceof PickleDict)) this.fail(`setting items on ${describe(dict)}, not a dict`);
    return dict as PickleDict;
  }

  private setPairs(dict: PickleDict, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail(`odd number of items (${items.length}) for key/value pairs`);
    for (let i = 0; i < items.length; i += 2) dict.set(this.checkKey(items[i]), items[i + 1]);
  }

  /** Keys compare by value only for scalars; a state dict has string keys. */
  private checkKey(key: unknown): unknown {
    const t = typeof key;
    if (key === null || t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean') return key;
    if (Array.isArray(key) && Object.isFrozen(key)) return key; // a tuple key, compared by identity
    return this.fail(`unhashable dict key: ${describe(key)}`);
  }

  private memoSet(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxPickleValues) this.limitFail('memo entries', this.memo.size + 1, 'maxPickleValues');
    this.memo.set(index, this.peek());
  }

  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) this.fail(`memo index ${index} was never stored`);
    return this.memo.get(index);
  }

  // --- readers for opcode arguments ------------------------------------------------------------

  /** Reserves n bytes and returns their start offset. */
  private take(n: number): number {
    if (n > this.bytes.length - this.pos) {
      this.fail(`truncated: needs ${n} byte(s) at offset ${this.pos}, only ${this.bytes.length - this.pos} left`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private readU8(): number {
    return this.bytes[this.take(1)]!;
  }

  private readU32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private readU64(): number {
    const v = this.view.getBigUint64(this.take(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} is absurd`);
    return Number(v);
  }

  private readBytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  private readUtf8(n: number): string {
    const raw = this.readBytes(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return this.fail('string is not valid UTF-8');
    }
  }

  /** A newline-terminated ASCII line (GLOBAL's arguments). */
  private readLine(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('truncated: no newline after a GLOBAL argument');
    const line = new TextDecoder('latin1').decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return line;
  }

  /** Two's-complement little-endian integer of n bytes: a number when safe, else a bigint. */
  private readLong(n: number): number | bigint {
    if (n > this.limits.maxLongBytes) this.limitFail('the byte length of an integer', n, 'maxLongBytes');
    const at = this.take(n);
    if (n === 0) return 0;
    // One conversion from hex, linear in n (shifting a growing bigint byte by byte is quadratic).
    let hexDigits = '';
    for (let i = n - 1; i >= 0; i--) hexDigits += this.bytes[at + i]!.toString(16).padStart(2, '0');
    let v = BigInt(`0x${hexDigits}`);
    if (this.bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private limitFail(what: string, value: number, name: keyof ReadLimits): never {
    const where = `${this.options.source}: pickle ${this.opName} at offset ${this.opStart}`;
    checkLimit(where, what, value, this.limits, name);
    return this.fail(what); // unreachable: the limit was exceeded
  }

  private fail(problem: string): never {
    const where = this.opName === '' ? `offset ${this.opStart}` : `${this.opName} at offset ${this.opStart}`;
    throw new PickleError(`${this.options.source}: pickle ${where}: ${problem}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Items in a container (1 for anything else): what copying or walking it costs. */
function sizeOf(v: unknown): number {
  if (Array.isArray(v)) return v.length + 1;
  if (v instanceof Map) return v.size + 1;
  return 1;
}

function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

/** True for a frozen array: how tuples are represented. */
export function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

function isGlobal(v: unknown): v is PickleGlobal {
  return typeof v === 'object' && v !== null && typeof (v as PickleGlobal).name === 'string' && !(v instanceof Map) && !Array.isArray(v);
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PickleDict) return `a dict of ${v.size} item(s)`;
  if (isTuple(v)) return `a tuple of ${v.length}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (isGlobal(v)) return `'${v.name}'`;
  if (typeof v === 'string') return `the string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
