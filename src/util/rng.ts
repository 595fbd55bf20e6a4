// A small seeded PRNG for the data layer (shuffling, splits, augmentation, glyph rendering).
// Streams are derived from integer tuples, e.g. (seed, epoch, index), so a sample's
// augmentation depends only on its own tuple and never on the order in which async work ends.

/** Mixes integers into one 32-bit seed (MurmurHash3's finalizer after each part). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) throw new RangeError(`mixSeed: expected integers, got ${p}`);
    // Fold in both 32-bit halves so large seeds (up to 2^53) are not truncated.
    h = fmix32(h ^ (p >>> 0));
    h = fmix32(h ^ Math.floor(p / 0x100000000));
  }
  return h >>> 0;
}

/** 32-bit FNV-1a hash of a string: seeds that depend on a name (a font file) rather than a position. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded by a 32-bit integer. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = mixSeed(seed);
    // Warm up so nearby seeds give unrelated streams.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform integer in [0, 2^32). */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 53 random bits, like Python's random.random(). */
  float(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** A uniform integer in [lo, hi) (hi exclusive, like torch.randint), without modulo bias. */
  int(lo: number, hi: number): number {
    const n = hi - lo;
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(`Rng.int: empty or too large range [${lo}, ${hi})`);
    }
    const limit = 0x100000000 - (0x100000000 % n);
    let r = this.uint32();
    while (r >= limit) r = this.uint32();
    return lo + (r % n);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
