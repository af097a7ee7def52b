// memory.ts: the WebAssembly memory and how it is handed out.
//
//   [0, 64 KiB)      reserved: two shape blocks that the host writes before a convolution, and
//                    the work counter of the dynamically balanced kernels
//   [64 KiB, ...)    the heap: a first-fit free-list allocator with coalescing, 64-byte aligned
//
// Persistent buffers (parameters, optimizer state) come from the heap and go back with free().
// Step buffers come from a bump arena made of heap chunks; endStep() rewinds it to the first
// chunk and bumps the generation, so a training step that repeats the same allocations reuses
// the same addresses and the memory stops growing after the first step. A step buffer from an
// earlier generation is refused by check(). A step buffer freed before the step ends (inference
// drops each activation once read, the backward pass each gradient once used) goes to the step's
// own first-fit free list, which later step allocations take from before bumping the arena; the
// list is dropped at endStep() (the StepArena class; the live and peak bytes of step buffers are
// counted: stepStats()). Scratch areas (packing, im2col) are heap blocks kept for reuse and
// enlarged on demand. The memory grows (in pages) when the heap runs out; typed
// array views are re-created after growth.

import type { Buffer, DType, IndexBuffer, Lifetime } from '../contract.js';

export const PAGE = 65536;
/** Address of the first shape block (ConvShape in assembly/conv.ts: 15 i32s). */
export const SHAPE_A = 1024;
/** Address of the second shape block. */
export const SHAPE_B = 1152;
/** Address of the shared work counter (WORK_NEXT in assembly/util.ts), a cache line of its own. */
export const WORK_NEXT = 2048;
const HEAP_BASE = PAGE;
/** The most pages a WebAssembly memory may have (32-bit addresses: 4 GiB). */
export const MAX_PAGES = 65536;
const ALIGN = 64;
/** Size of a step-arena chunk (bigger requests get a chunk of their own, with 25% to spare). */
const CHUNK = 16 << 20;

/** A block of 4-byte elements in the WebAssembly memory. */
export interface WasmBlock {
  /** Byte address in the memory. */
  readonly ptr: number;
  readonly length: number;
  readonly lifetime: Lifetime;
  /** The step it belongs to ('step' buffers); -1 for persistent ones. */
  readonly generation: number;
  /** Set by free(). */
  freed: boolean;
}

/** A float32 buffer in the WebAssembly memory. */
export interface WasmBuffer extends WasmBlock, Buffer {
  readonly dtype: 'float32';
}

/** An int32 index buffer in the WebAssembly memory. */
export interface WasmIndexBuffer extends WasmBlock, IndexBuffer {}

interface Block { start: number; size: number }
interface Chunk { ptr: number; size: number }

const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * The step arena: buffers bumped through chunks (of CHUNK bytes; a larger buffer gets a chunk of
 * its own size + 25%, room for a slightly larger next step), taken from `newChunk` when the ones
 * it has are full. A buffer freed before reset() goes to a first-fit free list (merged with its
 * neighbours) that later allocations take from before bumping. reset() rewinds to the first chunk
 * and keeps the chunks. The wasm memory takes its chunks from its heap; the memory plan
 * (src/models/memory.ts) replays a step's allocations on one with counted chunks.
 */
export class StepArena {
  private readonly chunks: Chunk[] = [];
  private chunkIndex = 0;
  private chunkOffset = 0;
  private readonly freed: Block[] = []; // sorted by start, never adjacent
  private live = 0;
  private peak = 0;

  constructor(private readonly newChunk: (bytes: number) => number) {}

  /** The address of `bytes` (rounded up to 64) for this step. */
  alloc(bytes: number): number {
    const size = alignUp(bytes);
    this.live += size;
    this.peak = Math.max(this.peak, this.live);
    if (size > 0) {
      const reused = takeFirstFit(this.freed, size);
      if (reused >= 0) return reused;
    }
    while (this.chunkIndex < this.chunks.length) {
      const c = this.chunks[this.chunkIndex]!;
      if (this.chunkOffset + size <= c.size) {
        const ptr = c.ptr + this.chunkOffset;
        this.chunkOffset += size;
        return ptr;
      }
      this.chunkIndex++;
      this.chunkOffset = 0;
    }
    const chunkSize = Math.max(CHUNK, alignUp(size * 1.25));
    this.chunks.push({ ptr: this.newChunk(chunkSize), size: chunkSize });
    this.chunkOffset = size;
    return this.chunks[this.chunkIndex]!.ptr;
  }

  /** Gives back a buffer of `bytes` at `ptr` allocated since the last reset(). */
  free(ptr: number, bytes: number): void {
    const size = alignUp(bytes);
    if (size === 0) return;
    giveBack(this.freed, ptr, size);
    this.live -= size;
  }

  /** Every buffer allocated so far is dropped; the chunks are kept for the next step. */
  reset(): void {
    this.chunkIndex = 0;
    this.chunkOffset = 0;
    this.freed.length = 0;
    this.live = 0;
    this.peak = 0;
  }

  /** Bytes alive now and the most alive at once since reset() or resetPeak(). */
  stats(): { liveBytes: number; peakBytes: number } {
    return { liveBytes: this.live, peakBytes: this.peak };
  }

  resetPeak(): void {
    this.peak = this.live;
  }

  /** Bytes of all chunks taken so far. */
  get chunkBytes(): number {
    return this.chunks.reduce((n, c) => n + c.size, 0);
  }
}

export class WasmMemory {
  readonly memory: WebAssembly.Memory;
  private f32view: Float32Array;
  private i32view: Int32Array;
  private readonly freeList: Block[] = []; // sorted by start, never adjacent
  private readonly arena = new StepArena((bytes) => this.allocBytes(bytes));
  private gen = 0;
  private readonly scratch = new Map<string, Block>();

  /** `maxPages`: the most the memory may grow to (tests use a small one). */
  constructor(shared: boolean, initialBytes = 64 << 20, private readonly maxPages = MAX_PAGES) {
    const initial = Math.ceil(initialBytes / PAGE);
    this.memory = new WebAssembly.Memory(shared ? { initial, maximum: maxPages, shared: true } : { initial, maximum: maxPages });
    this.f32view = new Float32Array(this.memory.buffer);
    this.i32view = new Int32Array(this.memory.buffer);
    this.freeList.push({ start: HEAP_BASE, size: this.memory.buffer.byteLength - HEAP_BASE });
  }

  /** A float view of the whole memory (re-created after growth). */
  get f32(): Float32Array {
    if (this.f32view.length * 4 !== this.memory.buffer.byteLength) this.refreshViews();
    return this.f32view;
  }

  /** An int32 view of the whole memory (re-created after growth). */
  get i32(): Int32Array {
    if (this.i32view.length * 4 !== this.memory.buffer.byteLength) this.refreshViews();
    return this.i32view;
  }

  /** Bytes of memory now. */
  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** The current step's generation. */
  get generation(): number {
    return this.gen;
  }

  private refreshViews(): void {
    this.f32view = new Float32Array(this.memory.buffer);
    this.i32view = new Int32Array(this.memory.buffer);
  }

  // ---- the heap ----

  /** Takes `bytes` (rounded up to 64) from the heap, growing the memory when nothing fits. */
  allocBytes(bytes: number): number {
    const size = Math.max(ALIGN, alignUp(bytes));
    const ptr = takeFirstFit(this.freeList, size);
    if (ptr >= 0) return ptr;
    this.grow(size);
    return this.allocBytes(bytes);
  }

  /** Returns a block taken with allocBytes(bytes) to the heap. */
  freeBytes(ptr: number, bytes: number): void {
    giveBack(this.freeList, ptr, Math.max(ALIGN, alignUp(bytes)));
  }

  /** Grows the memory so that the heap's last free block holds at least `size` bytes. */
  private grow(size: number): void {
    const end = this.memory.buffer.byteLength;
    const last = this.freeList[this.freeList.length - 1];
    const tail = last && last.start + last.size === end ? last.size : 0;
    const needed = Math.ceil((size - tail) / PAGE);
    const room = this.maxPages - end / PAGE;
    if (needed > room) {
      throw new Error(`wasm kernels: out of memory (${this.maxPages * PAGE / 2 ** 20} MiB in all) allocating ${size} bytes; use a smaller batch, or split it into micro-batches`);
    }
    const pages = Math.min(room, Math.max(needed, Math.ceil(end / PAGE / 8))); // 1/8 more, as far as the maximum allows
    this.memory.grow(pages);
    this.refreshViews();
    this.freeBytes(end, pages * PAGE);
  }

  // ---- buffers ----

  alloc(length: number, dtype: DType, lifetime: Lifetime): WasmBuffer {
    if (dtype !== 'float32') throw new Error(`wasm kernels: dtype ${dtype} is not supported (float32 only)`);
    return { ...this.block(length, lifetime), dtype };
  }

  allocIndices(length: number, lifetime: Lifetime): WasmIndexBuffer {
    return { ...this.block(length, lifetime), dtype: 'int32' };
  }

  private block(length: number, lifetime: Lifetime): WasmBlock {
    if (!Number.isInteger(length) || length < 0) throw new Error(`wasm kernels: bad buffer length ${length}`);
    const bytes = length * 4;
    const ptr = lifetime === 'step' ? this.arena.alloc(bytes) : this.allocBytes(bytes);
    return { ptr, length, lifetime, generation: lifetime === 'step' ? this.gen : -1, freed: false };
  }

  free(buf: WasmBlock): void {
    if (buf.lifetime === 'step' && buf.generation !== this.gen) return; // its step is over: its memory is the arena's again
    if (buf.freed) throw new Error('wasm kernels: buffer freed twice');
    buf.freed = true;
    if (buf.lifetime === 'persistent') {
      this.freeBytes(buf.ptr, buf.length * 4);
      return;
    }
    this.arena.free(buf.ptr, buf.length * 4);
  }

  /** Bytes of step buffers alive now, and the most alive at once since the last resetPeak(). */
  stepStats(): { liveBytes: number; peakBytes: number } {
    return this.arena.stats();
  }

  /** Starts a new peak of step bytes from what is alive now. */
  resetPeak(): void {
    this.arena.resetPeak();
  }

  /** Throws unless `buf` may be used now. */
  check(buf: WasmBlock): void {
    if (buf.lifetime === 'step' && buf.generation !== this.gen) {
      throw new Error('wasm kernels: tensor freed at the end of a training step (a step buffer was used after endStep()); create it again in the new step, or with { lifetime: \'persistent\' } to keep it');
    }
    if (buf.freed) throw new Error('wasm kernels: buffer used after free()');
  }

  /** Rewinds the step arena; every step buffer allocated so far becomes stale. */
  endStep(): void {
    this.gen++;
    this.arena.reset();
  }

  /** A named scratch area of at least `bytes`, reused between calls (contents are not kept). */
  scratchArea(name: string, bytes: number): number {
    const have = this.scratch.get(name);
    if (have && have.size >= bytes) return have.start;
    if (have) this.freeBytes(have.start, have.size);
    const size = alignUp(Math.max(bytes, (have?.size ?? 0) * 1.25));
    const block = { start: this.allocBytes(size), size };
    this.scratch.set(name, block);
    return block.start;
  }
}

/** Takes `size` bytes from the first block of `list` that holds them; -1 when none does. */
function takeFirstFit(list: Block[], size: number): number {
  for (let i = 0; i < list.length; i++) {
    const b = list[i]!;
    if (b.size < size) continue;
    const ptr = b.start;
    b.start += size;
    b.size -= size;
    if (b.size === 0) list.splice(i, 1);
    return ptr;
  }
  return -1;
}

/** Puts [ptr, ptr + size) back into `list` (sorted by start, never adjacent), merged with its neighbours. */
function giveBack(list: Block[], ptr: number, size: number): void {
  let i = 0;
  while (i < list.length && list[i]!.start < ptr) i++;
  const prev = list[i - 1], next = list[i];
  if (prev && prev.start + prev.size === ptr) {
    prev.size += size;
    if (next && prev.start + prev.size === next.start) {
      prev.size += next.size;
      list.splice(i, 1);
    }
  } else if (next && ptr + size === next.start) {
    next.start = ptr;
    next.size += size;
  } else {
    list.splice(i, 0, { start: ptr, size });
  }
}
