// A small seedable PRNG: xoshiro128** (Blackman & Vigna, 2018), 32-bit words so that every
// operation is exact in JavaScript. The whole state is four uint32 words: `getState()` gives them
// as plain numbers for a checkpoint, `setState()` puts them back, and the stream continues exactly.
//
// Streams are derived, not shared: `Rng.derive(seed, epoch, batch)` hashes its keys into a fresh
// state, so that batch b of epoch e draws the same numbers whichever thread makes it and whatever
// happened before it (a resumed run reproduces its batches).

export type RngState = [number, number, number, number];

const GOLDEN = 0x9e3779b9;

/** A 32-bit finalizer (murmur3's fmix32): every input bit affects every output bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s = new Uint32Array(4);

  /** A generator seeded from one number (any safe integer; the high bits count too). */
  constructor(seed = 0) {
    this.seedFrom([seed]);
  }

  /** An independent stream keyed by (seed, ...keys), e.g. (seed, epoch, batchIndex). */
  static derive(seed: number, ...keys: number[]): Rng {
    const r = new Rng();
    r.seedFrom([seed, ...keys]);
    return r;
  }

  private seedFrom(keys: number[]): void {
    let h = 0x6a09e667;
    for (const k of keys) {
      if (!Number.isSafeInteger(k)) throw new Error(`Rng: seed keys must be safe integers, got ${k}`);
      const lo = k >>> 0;
      const hi = Math.floor(k / 0x100000000) >>> 0;
      h = mix32(h ^ mix32(lo + GOLDEN));
      h = mix32(h ^ mix32(hi + 2 * GOLDEN));
    }
    // splitmix32-style expansion of the hash into four words.
    for (let i = 0; i < 4; i++) {
      h = (h + GOLDEN) >>> 0;
      this.s[i] = mix32(h);
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // all-zero is a fixed point
  }

  getState(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new Error(`Rng.setState: expected four uint32 words, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new Error('Rng.setState: the all-zero state is invalid');
    this.s.set(state);
  }

  /** The next uint32 in [0, 2^32). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short last interval). n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new Error(`Rng.int: bad range ${n}`);
    const limit = 0x100000000 - (0x100000000 % n); // largest multiple of n that fits
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Uniform integer in [lo, hi], both ends included. */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** A standard normal deviate (Box–Muller; the second deviate is dropped so the state stays 4 words). */
  normal(): number {
    const u1 = 1 - this.float(); // (0, 1]: log is finite
    const u2 = this.float();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1 as an Int32Array. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
