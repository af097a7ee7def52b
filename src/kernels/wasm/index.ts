// The WebAssembly kernel set: SIMD (and relaxed-SIMD fused multiply-add) kernels written in
// AssemblyScript (assembly/), run on a pool of threads that share one WebAssembly memory.
//
//   const kernels = await createWasmKernels({ threads: 2 });
//   const kernels = await createWasmKernels({ host: browserHost({ wasmBase: '/wasm/', workerUrl: '/kernel-worker.js' }) });
//
// Buffers live in the WebAssembly memory (memory.ts); heavy kernels split their work over the
// threads of the pool (pool.ts), light ones run on the calling thread. Float32 only.

import type { BatchNormShape, Conv2dShape, DType, KernelSet, Lifetime, Pool2dShape, ShortcutAShape } from '../contract.js';
import { SHAPE_A, SHAPE_B, WORK_NEXT, WasmMemory, type WasmBlock, type WasmBuffer, type WasmIndexBuffer } from './memory.js';
import { CONV_SHAPE_FIELDS, KERNEL_NAMES, type KernelExports, type PoolArgs, type PoolKernelName } from './abi.js';
import { compileKernelModule, instantiateKernels, type WasmVariant } from './module.js';
import { ThreadPool } from './pool.js';
import type { KernelHost } from './host.js';
import { defaultHost } from '#kernel-host';

export type { WasmBuffer, WasmIndexBuffer } from './memory.js';
export type { WasmVariant } from './module.js';
export type { KernelHost } from './host.js';

export interface WasmKernelOptions {
  /** Threads, the calling one included (default: the host's core count). */
  threads?: number;
  /** Force a build of the module (default: relaxed SIMD where it validates, else simd). */
  variant?: WasmVariant;
  /** The platform: where the module's bytes come from and how threads start (default: Node's in Node, the browser's in a browser bundle). */
  host?: KernelHost;
  /** How stride-1 3×3 convolutions are computed (default 'auto'; see ConvAlgorithm). */
  convAlgorithm?: ConvAlgorithm;
}

/**
 * How the set computes stride-1, padding-1 3×3 convolutions, their input gradients and their
 * filter gradients: by Winograd F(2×2, 3×3) or F(4×4, 3×3) (assembly/winograd.ts), by the direct
 * implicit GEMM (assembly/conv.ts), or 'auto': chosen per shape and pass by winogradAuto() and
 * winogradGradAuto() below. Other convolutions always take the direct path.
 */
export type ConvAlgorithm = 'auto' | 'direct' | 'winograd2' | 'winograd4';

/** The kernel set, with a few extras for benchmarks and tests. */
export interface WasmKernelSet extends KernelSet<WasmBuffer, WasmIndexBuffer> {
  /** Threads used by heavy kernels (1 = no pool). */
  readonly threads: number;
  /** The build of the module that runs. */
  readonly variant: WasmVariant;
  /** Bytes of WebAssembly memory now. */
  memoryBytes(): number;
  /** Bytes of step buffers alive now (allocated this step, not freed) and the most at once since resetPeak() or endStep(). */
  stepMemory(): { liveBytes: number; peakBytes: number };
  /** Starts a new peak of stepMemory() from what is alive now. */
  resetPeak(): void;
  /** Stops the worker threads (the set runs on one thread afterwards). */
  dispose(): void;
  /** How stride-1 3×3 convolutions are computed (may be changed between calls: benchmarks, tests). */
  convAlgorithm: ConvAlgorithm;
  /**
   * Whether forward convolutions on small maps with fewer images than threads take the transposed
   * product (pixels as rows; default true). May be changed between calls: benchmarks, tests.
   */
  pixelRows: boolean;
}

/** Multiply-adds below which a GEMM-like kernel stays on one thread (about 100³). */
const MIN_PARALLEL_MACS = 1e6;
/** Parts per thread of the images of a backward-weight convolution (dynamic balance vs. partial sums to add). */
const WEIGHT_CHUNKS_PER_THREAD = 4;
/** Elements below which an element-wise kernel stays on one thread. */
const MIN_PARALLEL_ELEMENTS = 1 << 16;
/**
 * Most bytes of prepared weights kept (beyond it the cache starts again empty): ResNet-50's
 * packed and transformed weights in inference take about 160 MB.
 */
const MAX_PREPARED_BYTES = 256 << 20;
/**
 * Output maps of at most this many pixels (ImageNet's 14×14 and 7×7) go through the transposed
 * forward convolution when the batch has fewer images than threads and the convolution is not a
 * plain 1×1 (convForwardPixels). docs/BENCHMARKS.md: 1.01-1.06× on the 3×3 and strided layers in
 * most runs (one 0.89× under heavy load), not resolved on a shared machine; the 1×1 ones stay off it.
 */
const PIXEL_ROWS_MAX_PIXELS = 256;
/**
 * Largest map (output pixels) on which a 1×1 stride-1 conv2d of one image packs x once for all
 * threads (convForwardPointwise) rather than once per thread (conv2dForward, which has a single
 * pixel block there and splits the output channels): ImageNet's 14×14 and 7×7 maps at batch 1.
 */
const POINTWISE_SHARED_MAX_PIXELS = 256;
/** Floats of a Winograd block's V and M matrices (winograd.ts) to stay in a core's L2 cache. */
const WINOGRAD_BLOCK_FLOATS = 32 << 10;

/** Tiles per block of the Winograd kernel for shape `s`: a multiple of 8 whose V and M fit in L2. */
function winogradBlockTiles(s: Conv2dShape, m: 2 | 4): number {
  const perTile = (m + 2) * (m + 2) * (s.cIn + s.cOut);
  return Math.max(8, Math.min(256, Math.floor(WINOGRAD_BLOCK_FLOATS / perTile / 8) * 8));
}

/**
 * The tile size that 'auto' takes for a stride-1 3×3 shape (0: direct), from the measurements of
 * tools/conv-algorithms.mjs (docs/BENCHMARKS.md). With few tiles the filter transform and the
 * streaming of the transformed filters outweigh the saved multiplies: direct below 16 tiles of 4×4
 * (ResNet-50's 512@7² at batch 1) when the filter is transformed every call (training), F(2×2) there
 * in `inference` calls when its blocks of tiles give every thread one (its transform cached: 512@7²
 * at batch 1, two blocks of 8 tiles, on 2 threads 7.0 → 4.2 ms a call alone, `tools/conv-algorithms.mjs
 * --only '512@7² b1' --passes 'fwd eval'`; 6.2 → 4.3 ms in ResNet-50's profile; with more threads
 * than blocks the direct path, which splits the channels over every thread, is kept), and for fewer
 * than 8 input channels (the stems: transforms
 * dominate there, and F(4×4)'s rounding on a CIFAR stem took the PyTorch parity test of ResNet-20's
 * training steps past its 1e-4). F(4×4) on maps of 14×14 and more (at batch 1 it is slower than F(2×2)
 * when the weights change every call, but 2-3× faster than direct in inference, where its transform
 * is cached), F(2×2) on smaller maps (CIFAR's 64@8², ImageNet's 512@7² at larger batches), except
 * that `inference` calls (conv2d with a fused epilogue: bias, residual or ReLU, which ops.conv2d allows only for eval mode's
 * folded batch norm) take F(4×4) from 8×8 (CIFAR's 64@8²: 1.6× F(2×2)). Training keeps F(2×2) there:
 * with F(4×4)'s rounding on those layers, forward or input gradient, the PyTorch parity test of
 * ResNet-20's two training steps failed (a ReLU input near zero changes sign: 7e-4 on conv1.weight).
 */
function winogradAuto(s: Conv2dShape, threads: number, inference = false): 0 | 2 | 4 {
  const tiles4 = s.n * Math.ceil(s.h / 4) * Math.ceil(s.w / 4);
  if (s.cIn < 8) return 0;
  if (tiles4 < 16) {
    const tiles2 = s.n * Math.ceil(s.h / 2) * Math.ceil(s.w / 2);
    return inference && tiles2 >= 16 && Math.floor(tiles2 / winogradBlockTiles(s, 2)) >= threads ? 2 : 0;
  }
  return (s.h >= 14 && s.w >= 14) || (inference && s.h >= 8 && s.w >= 8) ? 4 : 2;
}

/** Most floats of a Winograd filter-gradient block's V and dM matrices (winograd.ts): 2 MiB. */
const WINOGRAD_GRAD_BLOCK_FLOATS = 512 << 10;

/**
 * Tiles per block of the Winograd filter gradient for shape `s`: the length of its dot products,
 * a multiple of 4, at most 256 (measured: 256 tiles were faster than 64 on CIFAR's shapes, the
 * lanes being added up less often, although V and dM then outgrow the L2 cache).
 */
function winogradGradBlockTiles(s: Conv2dShape, m: 2 | 4): number {
  const perTile = (m + 2) * (m + 2) * (s.cIn + s.cOut);
  return Math.max(8, Math.floor(Math.min(WINOGRAD_GRAD_BLOCK_FLOATS / perTile, 256) / 4) * 4);
}

/**
 * The tile size that 'auto' takes for the filter gradient of a stride-1 3×3 shape (0: direct),
 * from the measurements of tools/conv-algorithms.mjs (docs/BENCHMARKS.md): direct for the stems
 * (fewer than 8 input channels: the transforms cost more than the multiplies saved) and below 16
 * tiles of 4×4 (ResNet-50's 512@7² at batch 1: the per-thread sums of the transformed gradient
 * take 16 MiB there for little gain); F(4×4) on maps of 16×16 and more (CIFAR's 16@32² and 32@16²:
 * 1.4× and 1.9× direct; ImageNet's 64@56² and 128@28²: 2-3.5×) and on smaller maps cut into whole
 * 4×4 tiles (CIFAR's 64@8²: 1.3× F(2×2), with the PyTorch parity test passing), F(2×2) on the
 * others (ImageNet's 256@14² and 512@7², whose partial tiles F(4×4) computes for nothing).
 */
function winogradGradAuto(s: Conv2dShape): 0 | 2 | 4 {
  const tiles4 = s.n * Math.ceil(s.h / 4) * Math.ceil(s.w / 4);
  if (tiles4 < 16 || s.cIn < 8) return 0;
  const whole4 = s.h % 4 === 0 && s.w % 4 === 0 && s.h >= 8 && s.w >= 8;
  return whole4 || (s.h >= 16 && s.w >= 16) ? 4 : 2;
}

/** Creates the WebAssembly kernel set (compiles the module, starts the worker threads). */
export async function createWasmKernels(opts: WasmKernelOptions = {}): Promise<WasmKernelSet> {
  const host = opts.host ?? defaultHost;
  let threads = Math.max(1, Math.floor(opts.threads ?? host.defaultThreads()));
  let shared = host.sharedMemory();
  if (!shared && threads > 1) {
    console.warn(`wasm kernels: no shared memory here (${host.name === 'browser' ? 'the page is not cross-origin isolated' : 'no SharedArrayBuffer'}), running on one thread`);
    threads = 1;
  }
  if (opts.variant === 'single') { // the unshared build: one thread
    shared = false;
    threads = 1;
  }
  const { module, variant } = await compileKernelModule(host, shared, shared ? opts.variant : undefined);
  const mem = new WasmMemory(shared);
  const exports = instantiateKernels(module, mem.memory);
  let pool: ThreadPool | undefined;
  if (threads > 1 && host.spawnWorker) pool = await ThreadPool.start(module, mem.memory, threads, host.spawnWorker);
  const set = new WasmKernels(mem, exports, pool, variant);
  set.convAlgorithm = opts.convAlgorithm ?? 'auto';
  return set;
}

class WasmKernels implements WasmKernelSet {
  readonly name = 'wasm';
  readonly dtypes: readonly DType[] = ['float32'];
  convAlgorithm: ConvAlgorithm = 'auto';
  pixelRows = true;
  /**
   * Weights prepared for a kernel, by weight buffer: packed in row panels for the direct
   * convolution, Winograd-transformed filters (shared by the forward pass and the input gradient
   * of a step). Kept across calls (inference packs and transforms each weight once); dropped as
   * soon as the buffer may change: when a kernel writes it (ptr(); the buffers kernels only read
   * go through readPtr()), write(), free(), or (step buffers) endStep().
   */
  private readonly prepared = new Map<WasmBlock, { key: string; ptr: number; bytes: number }[]>();
  private preparedBytes = 0;

  constructor(
    private readonly mem: WasmMemory,
    private readonly k: KernelExports,
    private pool: ThreadPool | undefined,
    readonly variant: WasmVariant,
  ) {}

  get threads(): number {
    return this.pool?.size ?? 1;
  }

  memoryBytes(): number {
    return this.mem.byteLength;
  }

  stepMemory(): { liveBytes: number; peakBytes: number } {
    return this.mem.stepStats();
  }

  resetPeak(): void {
    this.mem.resetPeak();
  }

  dispose(): void {
    this.pool?.close();
    this.pool = undefined;
  }

  // ---- running kernels ----

  /**
   * Runs kernel `name` on all threads when `work` reaches `minWork`, else on this one. The shared
   * work counter (WORK_NEXT, from which kernels take their items) starts at 0 for every kernel.
   */
  private run<K extends PoolKernelName>(name: K, args: PoolArgs<K>, work: number, minWork: number): void {
    const pool = this.pool;
    const fn = this.k[name] as unknown as (...a: [...PoolArgs<K>, number, number]) => void; // TypeScript cannot narrow the union of kernels by K
    this.mem.i32[WORK_NEXT / 4] = 0;
    if (!pool || work < minWork) {
      fn(...args, 0, 1);
      return;
    }
    pool.run(KERNEL_NAMES.indexOf(name), args, () => fn(...args, 0, pool.size));
  }

  /** Threads a kernel with this much work will run on. */
  private threadsFor(work: number, minWork: number): number {
    return this.pool && work >= minWork ? this.pool.size : 1;
  }

  /** Byte address of a buffer that the kernel may write, after checking that it is alive and long enough. */
  private ptr(b: WasmBlock, length: number, what: string): number {
    if (this.prepared.size > 0) this.dropPrepared(b);
    return this.readPtr(b, length, what);
  }

  /** ptr() for a buffer that the kernel only reads: keeps its prepared weights. */
  private readPtr(b: WasmBlock, length: number, what: string): number {
    this.mem.check(b);
    if (b.length < length) throw new RangeError(`wasm kernels: ${what} has ${b.length} elements, needs ${length}`);
    return b.ptr;
  }

  /** The address of an optional buffer, 0 (which no buffer has) when absent. */
  private optionalPtr(b: WasmBlock | undefined, length: number, what: string): number {
    return b ? this.ptr(b, length, what) : 0;
  }

  /** Per-thread scratch: the address of thread 0's part and the stride between parts (bytes). */
  private scratch(floatsPerThread: number, threads: number): [number, number] {
    const stride = Math.ceil((floatsPerThread * 4 + 64) / 64) * 64;
    return [this.mem.scratchArea('threads', stride * threads), stride];
  }

  private writeConvShape(at: number, s: Conv2dShape): void {
    const i32 = this.mem.i32;
    for (let i = 0; i < CONV_SHAPE_FIELDS.length; i++) i32[at / 4 + i] = s[CONV_SHAPE_FIELDS[i]!];
  }

  // ---- memory ----

  alloc(length: number, dtype: DType, lifetime: Lifetime): WasmBuffer {
    return this.mem.alloc(length, dtype, lifetime);
  }

  write(dst: WasmBuffer, src: ArrayLike<number>): void {
    this.copyIn(this.mem.f32, dst, src, 'write');
  }

  read(src: WasmBuffer): Float32Array {
    this.mem.check(src);
    return this.mem.f32.slice(src.ptr / 4, src.ptr / 4 + src.length);
  }

  endStep(): void {
    for (const b of this.prepared.keys()) if (b.lifetime === 'step') this.dropPrepared(b);
    this.mem.endStep();
  }

  free(buf: WasmBuffer): void {
    this.dropPrepared(buf);
    this.mem.free(buf);
  }

  allocIndices(length: number, lifetime: Lifetime): WasmIndexBuffer {
    return this.mem.allocIndices(length, lifetime);
  }

  writeIndices(dst: WasmIndexBuffer, src: ArrayLike<number>): void {
    this.copyIn(this.mem.i32, dst, src, 'writeIndices');
  }

  readIndices(src: WasmIndexBuffer): Int32Array {
    this.mem.check(src);
    return this.mem.i32.slice(src.ptr / 4, src.ptr / 4 + src.length);
  }

  private copyIn(view: Float32Array | Int32Array, dst: WasmBlock, src: ArrayLike<number>, what: string): void {
    this.mem.check(dst);
    this.dropPrepared(dst);
    if (src.length !== dst.length) throw new RangeError(`${what}: ${src.length} values into a buffer of ${dst.length}`);
    view.set(src, dst.ptr / 4);
  }

  // ---- element-wise ----

  fill({ y, value }: { y: WasmBuffer; value: number }): void {
    this.run('fill', [this.ptr(y, 0, 'y'), y.length, value], y.length, MIN_PARALLEL_ELEMENTS);
  }

  copy({ x, y }: { x: WasmBuffer; y: WasmBuffer }): void {
    this.run('copy', [this.ptr(x, y.length, 'x'), this.ptr(y, 0, 'y'), y.length], y.length, MIN_PARALLEL_ELEMENTS);
  }

  add({ a, b, y }: { a: WasmBuffer; b: WasmBuffer; y: WasmBuffer }): void {
    const n = y.length;
    this.run('add', [this.ptr(a, n, 'a'), this.ptr(b, n, 'b'), this.ptr(y, n, 'y'), n], n, MIN_PARALLEL_ELEMENTS);
  }

  axpy({ x, y, alpha }: { x: WasmBuffer; y: WasmBuffer; alpha: number }): void {
    const n = y.length;
    this.run('axpy', [this.ptr(x, n, 'x'), this.ptr(y, n, 'y'), n, alpha], n, MIN_PARALLEL_ELEMENTS);
  }

  scale({ x, y, alpha }: { x: WasmBuffer; y: WasmBuffer; alpha: number }): void {
    const n = y.length;
    this.run('scale', [this.ptr(x, n, 'x'), this.ptr(y, n, 'y'), n, alpha], n, MIN_PARALLEL_ELEMENTS);
  }

  mul({ a, b, y }: { a: WasmBuffer; b: WasmBuffer; y: WasmBuffer }): void {
    const n = y.length;
    this.run('mul', [this.ptr(a, n, 'a'), this.ptr(b, n, 'b'), this.ptr(y, n, 'y'), n], n, MIN_PARALLEL_ELEMENTS);
  }

  relu({ x, y }: { x: WasmBuffer; y: WasmBuffer }): void {
    const n = y.length;
    this.run('relu', [this.ptr(x, n, 'x'), this.ptr(y, n, 'y'), n], n, MIN_PARALLEL_ELEMENTS);
  }

  reluBackward({ y, dy, dx }: { y: WasmBuffer; dy: WasmBuffer; dx: WasmBuffer }): void {
    const n = dx.length;
    this.run('reluBackward', [this.ptr(y, n, 'y'), this.ptr(dy, n, 'dy'), this.ptr(dx, n, 'dx'), n], n, MIN_PARALLEL_ELEMENTS);
  }

  sum({ x, out }: { x: WasmBuffer; out: WasmBuffer }): void {
    this.k.sum(this.ptr(x, 0, 'x'), x.length, this.ptr(out, 1, 'out'));
  }

  // ---- matrix multiply ----

  matmul(p: { a: WasmBuffer; b: WasmBuffer; c: WasmBuffer; m: number; n: number; k: number; transA: boolean; transB: boolean; beta: 0 | 1 }): void {
    const { m, n, k, transA, transB, beta } = p;
    const a = this.readPtr(p.a, m * k, 'a'), b = this.readPtr(p.b, k * n, 'b'), c = this.ptr(p.c, m * n, 'c');
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (beta === 0) this.mem.f32.fill(0, c / 4, c / 4 + m * n);
      return;
    }
    const macs = m * n * k;
    if (transB && !transA && m < 4) { // fewer rows than a packed panel's 4: dot products with b's rows in place
      this.run('matmulFewRowsTransB', [a, b, c, m, n, k, beta], macs, MIN_PARALLEL_MACS);
      return;
    }
    const ap = this.mem.scratchArea('packedA', (m + 5) * k * 4);
    this.run('packA', [a, transA ? m : k, transA, m, k, ap], m * k * 16, MIN_PARALLEL_MACS);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    const [scratch, stride] = this.scratch(this.k.matmulScratch(), nt);
    this.run('matmulPacked', [ap, b, c, m, n, k, transB, beta, scratch, stride], macs, MIN_PARALLEL_MACS);
  }

  addBiasRows({ y, bias, rows, cols }: { y: WasmBuffer; bias: WasmBuffer; rows: number; cols: number }): void {
    this.run('addBiasRows', [this.ptr(y, rows * cols, 'y'), this.ptr(bias, cols, 'bias'), rows, cols], rows * cols, MIN_PARALLEL_ELEMENTS);
  }

  sumRows({ dy, db, rows, cols }: { dy: WasmBuffer; db: WasmBuffer; rows: number; cols: number }): void {
    this.run('sumRows', [this.ptr(dy, rows * cols, 'dy'), this.ptr(db, cols, 'db'), rows, cols], rows * cols, MIN_PARALLEL_ELEMENTS);
  }

  // ---- convolution ----

  conv2d(p: Conv2dShape & { x: WasmBuffer; weight: WasmBuffer; y: WasmBuffer; bias?: WasmBuffer; residual?: WasmBuffer; relu?: boolean }): void {
    const K = p.cIn * p.kh * p.kw, pixels = p.hOut * p.wOut, len = p.n * p.cOut * pixels;
    const x = this.readPtr(p.x, p.n * p.cIn * p.h * p.w, 'x');
    const w = this.readPtr(p.weight, p.cOut * K, 'weight');
    const y = this.ptr(p.y, len, 'y');
    const bias = p.bias ? this.readPtr(p.bias, p.cOut, 'bias') : 0;
    const res = p.residual ? this.readPtr(p.residual, len, 'residual') : 0;
    if (res !== 0 && res === y) throw new Error('wasm kernels: conv2d\'s residual must not be its output y');
    const relu = p.relu ?? false;
    if (K === 0 || pixels === 0) { // no taps: y is the epilogue of zeros (or of the residual)
      if (res) this.mem.f32.copyWithin(y / 4, res / 4, res / 4 + len);
      else this.mem.f32.fill(0, y / 4, y / 4 + len);
      if (bias || relu) this.run('channelBiasRelu', [y, bias, p.n * p.cOut, p.cOut, pixels, relu], len, MIN_PARALLEL_ELEMENTS);
      return;
    }
    const m = this.winogradTile(p, (s) => winogradAuto(s, this.threads, bias !== 0 || res !== 0 || relu));
    if (m !== 0) {
      this.winograd(p, m, x, p.weight, false, y, bias, res, relu);
      return;
    }
    const macs = p.n * p.cOut * pixels * K;
    const pointwise = p.kh === 1 && p.kw === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0;
    if (this.pixelRows && !pointwise && pixels <= PIXEL_ROWS_MAX_PIXELS && p.n < this.threadsFor(macs, MIN_PARALLEL_MACS)) {
      this.convForwardPixels(p, x, w, y, bias, res, relu);
      return;
    }
    const ap = this.preparedWeights(p.weight, `packed ${p.cOut} ${K}`, this.k.packedASize(p.cOut, K) * 4, (dst) => {
      this.run('packA', [w, K, false, p.cOut, K, dst], p.cOut * K * 16, MIN_PARALLEL_MACS);
    });
    if (pointwise && p.n === 1 && pixels <= POINTWISE_SHARED_MAX_PIXELS && this.threadsFor(macs, MIN_PARALLEL_MACS) > 1) {
      this.convForwardPointwise(p, x, ap, y, bias, res, relu);
      return;
    }
    this.convForward(p, x, ap, y, bias, res, relu);
  }

  /**
   * A 1×1 stride-1 conv2d of one image on a map of at most POINTWISE_SHARED_MAX_PIXELS pixels
   * (assembly/conv.ts, "B packed once"): the threads pack x once, then take parts of the output
   * channels from the work counter.
   */
  private convForwardPointwise(p: Conv2dShape, x: number, ap: number, y: number, bias: number, res: number, relu: boolean): void {
    const macs = p.cOut * p.hOut * p.wOut * p.cIn;
    this.writeConvShape(SHAPE_A, p);
    const bp = this.mem.scratchArea('pointwiseB', this.k.pointwisePackedSize(SHAPE_A) * 4);
    this.run('conv2dPackPointwise', [SHAPE_A, x, bp], macs, MIN_PARALLEL_MACS);
    this.run('conv2dForwardPointwise', [SHAPE_A, bp, ap, bias, res, relu, y], macs, MIN_PARALLEL_MACS);
  }

  /**
   * conv2d on small maps with fewer images than threads, as Yᵀ = colᵀ · Wᵀ (assembly/conv.ts,
   * "small maps"): the threads pack colᵀ once, then split the output channels. Wᵀ is prepared
   * once per weight buffer.
   */
  private convForwardPixels(p: Conv2dShape & { weight: WasmBuffer }, x: number, w: number, y: number, bias: number, res: number, relu: boolean): void {
    const K = p.cIn * p.kh * p.kw, macs = p.n * p.cOut * p.hOut * p.wOut * K;
    const wt = this.preparedWeights(p.weight, `transposed ${p.cOut} ${K}`, Math.ceil(p.cOut / 8) * 8 * K * 4, (dst) => {
      this.run('packWeightsTransposed', [w, p.cOut, K, dst], p.cOut * K * 16, MIN_PARALLEL_MACS);
    });
    this.writeConvShape(SHAPE_A, p);
    const ap = this.mem.scratchArea('pixelPanels', this.k.pixelPanelsSize(SHAPE_A) * 4);
    this.run('conv2dPackPixels', [SHAPE_A, x, ap], macs, MIN_PARALLEL_MACS);
    this.run('conv2dForwardPixels', [SHAPE_A, ap, wt, bias, res, relu, y], macs, MIN_PARALLEL_MACS);
  }

  /** y = conv(x, packed weights) (+ bias, + residual, ReLU) for shape `s` (also the stride-1 backward input). */
  private convForward(s: Conv2dShape, x: number, ap: number, y: number, bias: number, res: number, relu: boolean): void {
    const macs = s.n * s.cOut * s.hOut * s.wOut * s.cIn * s.kh * s.kw;
    if (macs === 0) return;
    this.writeConvShape(SHAPE_A, s);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    const [scratch, stride] = this.scratch(this.k.conv2dForwardScratch(SHAPE_A), nt);
    this.run('conv2dForward', [SHAPE_A, x, ap, bias, res, relu, y, scratch, stride], macs, MIN_PARALLEL_MACS);
  }

  conv2dBackwardInput(p: Conv2dShape & { dy: WasmBuffer; weight: WasmBuffer; dx: WasmBuffer }): void {
    const K = p.cIn * p.kh * p.kw, pixels = p.hOut * p.wOut;
    const dy = this.readPtr(p.dy, p.n * p.cOut * pixels, 'dy');
    const w = this.readPtr(p.weight, p.cOut * K, 'weight');
    const dx = this.ptr(p.dx, p.n * p.cIn * p.h * p.w, 'dx');
    const macs = p.n * p.cOut * pixels * K;
    if (macs === 0) { this.mem.f32.fill(0, dx / 4, dx / 4 + p.n * p.cIn * p.h * p.w); return; }
    if (p.strideH === 1 && p.strideW === 1) {
      // A stride-1 convolution's input gradient is a convolution of dy with the flipped,
      // transposed kernel, padded by dilation·(k-1) - pad.
      const t: Conv2dShape = {
        n: p.n, cIn: p.cOut, h: p.hOut, w: p.wOut, cOut: p.cIn, kh: p.kh, kw: p.kw,
        strideH: 1, strideW: 1, padH: p.dilationH * (p.kh - 1) - p.padH, padW: p.dilationW * (p.kw - 1) - p.padW,
        dilationH: p.dilationH, dilationW: p.dilationW, hOut: p.h, wOut: p.w,
      };
      const m = this.winogradTile(t);
      if (m !== 0) { this.winograd(t, m, dy, p.weight, true, dx, 0, 0, false); return; }
      const ap = this.mem.scratchArea('packedA', (p.cIn + 5) * p.cOut * p.kh * p.kw * 4);
      this.run('packFlippedWeights', [w, p.cOut, p.cIn, p.kh, p.kw, ap], p.cOut * K * 16, MIN_PARALLEL_MACS);
      this.convForward(t, dy, ap, dx, 0, 0, false);
      return;
    }
    this.writeConvShape(SHAPE_A, p);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    if (p.dilationH === 1 && p.dilationW === 1) {
      // each phase of dx (rows and columns mod the strides) is a stride-1 correlation of dy with
      // part of the kernel (assembly/conv.ts, "by phases of dx")
      const [scratch, stride] = this.scratch(this.k.conv2dBackwardInputPhasesScratch(SHAPE_A, nt), nt);
      this.run('conv2dBackwardInputPhases', [SHAPE_A, w, dy, dx, scratch, stride], macs, MIN_PARALLEL_MACS);
      return;
    }
    const [scratch, stride] = this.scratch(this.k.conv2dBackwardInputScratch(SHAPE_A, nt), nt);
    this.run('conv2dBackwardInputCol2im', [SHAPE_A, w, dy, dx, scratch, stride], macs, MIN_PARALLEL_MACS);
  }

  /** Winograd's output tile size for convolution `s` (0: the direct path); `auto`: the rule of 'auto'. */
  private winogradTile(s: Conv2dShape, auto: (s: Conv2dShape) => 0 | 2 | 4 = (s) => winogradAuto(s, this.threads)): 0 | 2 | 4 {
    if (s.kh !== 3 || s.kw !== 3 || s.strideH !== 1 || s.strideW !== 1 || s.padH !== 1 || s.padW !== 1
      || s.dilationH !== 1 || s.dilationW !== 1 || s.hOut !== s.h || s.wOut !== s.w) return 0;
    switch (this.convAlgorithm) {
      case 'direct': return 0;
      case 'winograd2': return 2;
      case 'winograd4': return 4;
      default: return auto(s);
    }
  }

  /**
   * y = conv(x, g) by Winograd F(m×m, 3×3) (assembly/winograd.ts), for a stride-1, padding-1
   * 3×3 shape `s`; g is `weight` itself, or its flipped transpose (`flipped`: the input gradient,
   * where `s` is the transposed shape); then + bias[c] and + the residual map (addresses, or 0) and
   * ReLU (see the contract).
   */
  private winograd(s: Conv2dShape, m: 2 | 4, x: number, weight: WasmBuffer, flipped: boolean, y: number, bias: number,
    res: number, relu: boolean): void {
    const macs = s.n * s.cOut * s.hOut * s.wOut * s.cIn * 9;
    const u = this.transformedWeights(weight, flipped ? s.cIn : s.cOut, flipped ? s.cOut : s.cIn, m, flipped);
    this.writeConvShape(SHAPE_A, s);
    const tb = winogradBlockTiles(s, m);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    const [scratch, stride] = this.scratch(this.k.winogradScratch(SHAPE_A, m, tb), nt);
    this.run('winogradForward', [SHAPE_A, x, u, y, bias, res, relu, m, tb, scratch, stride], macs, MIN_PARALLEL_MACS);
  }

  /** The transformed filters of `weight` ([cOut, cIn, 3, 3]) for F(m×m), from the cache or made now. */
  private transformedWeights(weight: WasmBuffer, cOut: number, cIn: number, m: 2 | 4, flipped: boolean): number {
    const rows = flipped ? cIn : cOut, cols = flipped ? cOut : cIn;
    const bytes = this.k.winogradWeightsSize(rows, cols, m) * 4;
    return this.preparedWeights(weight, `winograd ${m} ${flipped} ${cOut} ${cIn}`, bytes, (dst) => {
      this.run('winogradWeights', [weight.ptr, cOut, cIn, m, flipped, dst], rows * cols * (m + 2) * (m + 2) * 16, MIN_PARALLEL_MACS);
    });
  }

  /** The address of `weight` prepared as `key` (`bytes` long), from the cache, or made now by `make(address)`. */
  private preparedWeights(weight: WasmBuffer, key: string, bytes: number, make: (dst: number) => void): number {
    const list = this.prepared.get(weight);
    const hit = list?.find((e) => e.key === key);
    if (hit) return hit.ptr;
    if (this.preparedBytes + bytes > MAX_PREPARED_BYTES) {
      // The cache is full (a network whose prepared weights outgrow it, e.g. ResNet-152): this
      // call's are made in scratch and not kept, and the cache keeps what it holds (flushing it
      // would make every later call a miss).
      const scratch = this.mem.scratchArea('preparedWeights', bytes);
      make(scratch);
      return scratch;
    }
    const ptr = this.mem.allocBytes(bytes);
    make(ptr);
    this.prepared.set(weight, [...(this.prepared.get(weight) ?? []), { key, ptr, bytes }]);
    this.preparedBytes += bytes;
    return ptr;
  }

  /** Forgets the prepared weights of `b` (it may change, or is gone). */
  private dropPrepared(b: WasmBlock): void {
    const list = this.prepared.get(b);
    if (!list) return;
    for (const e of list) {
      this.mem.freeBytes(e.ptr, e.bytes);
      this.preparedBytes -= e.bytes;
    }
    this.prepared.delete(b);
  }

  conv2dBackwardWeight(p: Conv2dShape & { dy: WasmBuffer; x: WasmBuffer; dw: WasmBuffer }): void {
    const K = p.cIn * p.kh * p.kw, pixels = p.hOut * p.wOut;
    const dy = this.ptr(p.dy, p.n * p.cOut * pixels, 'dy');
    const x = this.ptr(p.x, p.n * p.cIn * p.h * p.w, 'x');
    const dw = this.ptr(p.dw, p.cOut * K, 'dw');
    const macs = p.n * p.cOut * pixels * K;
    if (macs === 0) { this.mem.f32.fill(0, dw / 4, dw / 4 + p.cOut * K); return; }
    const m = this.winogradTile(p, winogradGradAuto);
    if (m !== 0) { this.winogradWeightGrad(p, m, x, dy, dw); return; }
    this.writeConvShape(SHAPE_B, p);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    const [scratch, stride] = this.scratch(this.k.conv2dBackwardWeightScratch(SHAPE_B, nt), nt);
    // The images are cut into `chunks` fixed parts that the threads take as they go; each part's
    // sum goes to its own partial dWᵀ, added up in order afterwards (the result does not depend
    // on which thread took which part).
    const chunks = nt > 1 ? Math.min(p.n, WEIGHT_CHUNKS_PER_THREAD * nt) : 1;
    const partials = this.mem.scratchArea('partials', chunks * this.k.conv2dBackwardWeightPartial(SHAPE_B) * 4);
    this.run('conv2dBackwardWeight', [SHAPE_B, x, dy, dw, scratch, stride, partials, chunks], macs, MIN_PARALLEL_MACS);
    if (chunks > 1) this.run('conv2dBackwardWeightReduce', [SHAPE_B, dw, partials, chunks], macs, MIN_PARALLEL_MACS);
  }

  /**
   * dw of a stride-1, padding-1 3×3 shape `s` by Winograd F(m×m, 3×3) (assembly/winograd.ts):
   * the images are cut into fixed chunks as in conv2dBackwardWeight, each summed into its own
   * partial dw, the partials added in order afterwards.
   */
  private winogradWeightGrad(s: Conv2dShape, m: 2 | 4, x: number, dy: number, dw: number): void {
    const macs = s.n * s.cOut * s.hOut * s.wOut * s.cIn * 9;
    this.writeConvShape(SHAPE_B, s);
    const tb = winogradGradBlockTiles(s, m);
    const nt = this.threadsFor(macs, MIN_PARALLEL_MACS);
    const chunks = nt > 1 ? Math.min(this.k.winogradBlocks(SHAPE_B, m, tb), WEIGHT_CHUNKS_PER_THREAD * nt) : 1;
    const [scratch, stride] = this.scratch(this.k.winogradGradScratch(SHAPE_B, m, tb), nt);
    const len = s.cOut * s.cIn * 9;
    const partials = chunks > 1 ? this.mem.scratchArea('partials', chunks * len * 4) : 0;
    this.run('winogradWeightGrad', [SHAPE_B, x, dy, dw, m, tb, scratch, stride, partials, chunks], macs, MIN_PARALLEL_MACS);
    if (chunks > 1) this.run('winogradGradReduce', [dw, partials, len, chunks], len * chunks, MIN_PARALLEL_ELEMENTS);
  }

  // ---- batch norm ----

  batchNormTrain(p: BatchNormShape & {
    x: WasmBuffer; gamma: WasmBuffer; beta: WasmBuffer; y: WasmBuffer; mean: WasmBuffer; invStd: WasmBuffer;
    runningMean: WasmBuffer; runningVar: WasmBuffer; momentum: number; residual?: WasmBuffer; relu?: boolean;
  }): void {
    const len = p.n * p.c * p.hw, planes = p.n * p.c;
    const x = this.ptr(p.x, len, 'x'), gamma = this.ptr(p.gamma, p.c, 'gamma'), beta = this.ptr(p.beta, p.c, 'beta');
    const y = this.ptr(p.y, len, 'y'), mean = this.ptr(p.mean, p.c, 'mean'), invStd = this.ptr(p.invStd, p.c, 'invStd');
    const rm = this.ptr(p.runningMean, p.c, 'runningMean'), rv = this.ptr(p.runningVar, p.c, 'runningVar');
    const residual = this.optionalPtr(p.residual, len, 'residual'), relu = p.relu ?? false;
    // Sums per plane, means per channel, squares per plane, variances per channel, then y per
    // plane (the per-channel steps on this thread, in a fixed order).
    const stats = this.mem.scratchArea('bnStats', planes * 16);
    const coef = this.mem.scratchArea('bnCoef', p.c * 16);
    this.run('batchNormPlaneSums', [x, stats, planes, p.hw], len, MIN_PARALLEL_ELEMENTS);
    this.k.batchNormMeans(stats, mean, coef, p.n, p.c, p.hw);
    this.run('batchNormPlaneSquares', [x, mean, stats, planes, p.c, p.hw], len, MIN_PARALLEL_ELEMENTS);
    this.k.batchNormVariances(stats, gamma, beta, invStd, rm, rv, coef, p.n, p.c, p.hw, p.eps, p.momentum);
    this.run('batchNormApply', [x, residual, y, coef, planes, p.c, p.hw, relu], len, MIN_PARALLEL_ELEMENTS);
  }

  batchNormEval(p: BatchNormShape & {
    x: WasmBuffer; gamma: WasmBuffer; beta: WasmBuffer; y: WasmBuffer; runningMean: WasmBuffer; runningVar: WasmBuffer;
    relu: boolean; residual?: WasmBuffer;
  }): void {
    const len = p.n * p.c * p.hw;
    this.run('batchNormEval', [
      this.ptr(p.x, len, 'x'), this.ptr(p.gamma, p.c, 'gamma'), this.ptr(p.beta, p.c, 'beta'), this.ptr(p.y, len, 'y'),
      this.ptr(p.runningMean, p.c, 'runningMean'), this.ptr(p.runningVar, p.c, 'runningVar'),
      p.n, p.c, p.hw, p.eps, p.relu, this.optionalPtr(p.residual, len, 'residual'),
    ], len, MIN_PARALLEL_ELEMENTS);
  }

  batchNormBackward(p: BatchNormShape & {
    x: WasmBuffer; dy: WasmBuffer; gamma: WasmBuffer; mean: WasmBuffer; invStd: WasmBuffer;
    dx: WasmBuffer; dgamma: WasmBuffer; dbeta: WasmBuffer; y?: WasmBuffer; dresidual?: WasmBuffer; dy2?: WasmBuffer;
  }): void {
    const len = p.n * p.c * p.hw, planes = p.n * p.c;
    const x = this.ptr(p.x, len, 'x'), dy = this.ptr(p.dy, len, 'dy'), gamma = this.ptr(p.gamma, p.c, 'gamma');
    const mean = this.ptr(p.mean, p.c, 'mean'), invStd = this.ptr(p.invStd, p.c, 'invStd'), dx = this.ptr(p.dx, len, 'dx');
    const dgamma = this.ptr(p.dgamma, p.c, 'dgamma'), dbeta = this.ptr(p.dbeta, p.c, 'dbeta');
    const y = this.optionalPtr(p.y, len, 'y'), dresidual = this.optionalPtr(p.dresidual, len, 'dresidual');
    const dy2 = this.optionalPtr(p.dy2, len, 'dy2');
    // The first pass writes g (dy + dy2, where y > 0 through a ReLU) to dresidual, else, where it
    // is not dy itself, to dx (which the last pass then overwrites in place): the last pass reads g.
    const gOut = dresidual || (y || dy2 ? dx : 0);
    const stats = this.mem.scratchArea('bnStats', planes * 16);
    const coef = this.mem.scratchArea('bnCoef', p.c * 16);
    this.run('batchNormBackwardPlanes', [x, dy, dy2, y, gOut, mean, stats, planes, p.c, p.hw], len, MIN_PARALLEL_ELEMENTS);
    this.k.batchNormBackwardStats(stats, gamma, invStd, dgamma, dbeta, coef, p.n, p.c, p.hw);
    this.run('batchNormBackwardApply', [x, y || dy2 ? gOut : dy, mean, dx, coef, planes, p.c, p.hw], len, MIN_PARALLEL_ELEMENTS);
  }

  // ---- pooling ----

  maxPool2d(p: Pool2dShape & { x: WasmBuffer; y: WasmBuffer; argmax: WasmIndexBuffer }): void {
    const planes = p.n * p.c, outLen = planes * p.hOut * p.wOut;
    const x = this.readPtr(p.x, planes * p.h * p.w, 'x'), y = this.ptr(p.y, outLen, 'y'), idx = this.ptr(p.argmax, outLen, 'argmax');
    this.run('maxPool2d', [x, y, idx, planes, p.h, p.w, p.k, p.stride, p.pad, p.hOut, p.wOut], outLen * p.k * p.k, MIN_PARALLEL_ELEMENTS);
  }

  maxPool2dBackward(p: Pool2dShape & { dy: WasmBuffer; argmax: WasmIndexBuffer; dx: WasmBuffer }): void {
    const planes = p.n * p.c, outLen = planes * p.hOut * p.wOut;
    const dy = this.readPtr(p.dy, outLen, 'dy'), dx = this.ptr(p.dx, planes * p.h * p.w, 'dx'), idx = this.readPtr(p.argmax, outLen, 'argmax');
    this.run('maxPool2dBackward', [dy, idx, dx, planes, p.h * p.w, p.hOut * p.wOut], planes * p.h * p.w, MIN_PARALLEL_ELEMENTS);
  }

  globalAvgPool({ x, y, n, c, hw }: { x: WasmBuffer; y: WasmBuffer; n: number; c: number; hw: number }): void {
    this.run('globalAvgPool', [this.readPtr(x, n * c * hw, 'x'), this.ptr(y, n * c, 'y'), n * c, hw], n * c * hw, MIN_PARALLEL_ELEMENTS);
  }

  globalAvgPoolBackward({ dy, dx, n, c, hw }: { dy: WasmBuffer; dx: WasmBuffer; n: number; c: number; hw: number }): void {
    this.run('globalAvgPoolBackward', [this.readPtr(dy, n * c, 'dy'), this.ptr(dx, n * c * hw, 'dx'), n * c, hw], n * c * hw, MIN_PARALLEL_ELEMENTS);
  }

  // ---- option-A shortcut ----

  shortcutA(p: ShortcutAShape & { x: WasmBuffer; y: WasmBuffer }): void {
    const outLen = p.n * p.cOut * p.hOut * p.wOut;
    this.run('shortcutA', [
      this.readPtr(p.x, p.n * p.cIn * p.h * p.w, 'x'), this.ptr(p.y, outLen, 'y'),
      p.n, p.cIn, p.h, p.w, p.cOut, p.stride, p.hOut, p.wOut,
    ], outLen, MIN_PARALLEL_ELEMENTS);
  }

  shortcutABackward(p: ShortcutAShape & { dy: WasmBuffer; dx: WasmBuffer }): void {
    const inLen = p.n * p.cIn * p.h * p.w;
    this.run('shortcutABackward', [
      this.ptr(p.dy, p.n * p.cOut * p.hOut * p.wOut, 'dy'), this.ptr(p.dx, inLen, 'dx'),
      p.n, p.cIn, p.h, p.w, p.cOut, p.stride, p.hOut, p.wOut,
    ], inLen, MIN_PARALLEL_ELEMENTS);
  }

  // ---- loss (small: computed here, in f64, on views of the memory) ----

  softmaxCrossEntropy(p: { logits: WasmBuffer; labels: WasmIndexBuffer; probs: WasmBuffer; loss: WasmBuffer; n: number; classes: number }): void {
    const { n, classes } = p;
    const logits = this.ptr(p.logits, n * classes, 'logits') / 4, probs = this.ptr(p.probs, n * classes, 'probs') / 4;
    const loss = this.ptr(p.loss, 1, 'loss') / 4, labels = this.ptr(p.labels, n, 'labels') / 4;
    const f = this.mem.f32, i32 = this.mem.i32;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const label = checkLabel(i32[labels + i]!, classes);
      const row = logits + i * classes, out = probs + i * classes;
      let max = -Infinity;
      for (let j = 0; j < classes; j++) max = Math.max(max, f[row + j]!);
      let sum = 0;
      for (let j = 0; j < classes; j++) sum += Math.exp(f[row + j]! - max);
      const logSum = max + Math.log(sum);
      for (let j = 0; j < classes; j++) f[out + j] = Math.exp(f[row + j]! - logSum);
      total += logSum - f[row + label]!;
    }
    f[loss] = total / n;
  }

  softmaxCrossEntropyBackward(p: { probs: WasmBuffer; labels: WasmIndexBuffer; dloss: number; dlogits: WasmBuffer; n: number; classes: number }): void {
    const { n, classes } = p;
    const probs = this.ptr(p.probs, n * classes, 'probs') / 4, dlogits = this.ptr(p.dlogits, n * classes, 'dlogits') / 4;
    const labels = this.ptr(p.labels, n, 'labels') / 4;
    const f = this.mem.f32, i32 = this.mem.i32;
    const k = p.dloss / n;
    for (let i = 0; i < n; i++) {
      const label = checkLabel(i32[labels + i]!, classes);
      for (let j = 0; j < classes; j++) {
        const at = i * classes + j;
        f[dlogits + at] = k * (f[probs + at]! - (j === label ? 1 : 0));
      }
    }
  }

  // ---- optimizer ----

  sgdStep(p: {
    param: WasmBuffer; grad: WasmBuffer; momentumBuf: WasmBuffer; lr: number; momentum: number;
    dampening: number; weightDecay: number; nesterov: boolean; firstStep: boolean;
  }): void {
    const n = p.param.length;
    this.run('sgdStep', [
      this.ptr(p.param, n, 'param'), this.ptr(p.grad, n, 'grad'), this.ptr(p.momentumBuf, p.momentum !== 0 ? n : 0, 'momentumBuf'), n,
      p.lr, p.momentum, p.dampening, p.weightDecay, p.nesterov, p.firstStep,
    ], n, MIN_PARALLEL_ELEMENTS);
  }
}

function checkLabel(label: number, classes: number): number {
  if (!(label >= 0 && label < classes)) throw new RangeError(`label ${label} is outside [0, ${classes})`);
  return label;
}
